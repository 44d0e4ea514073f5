"""What is done about a drift: resync, halt, adopt the channel's number, dismiss; and halts
opened and released by people.

Every path that sends something again first takes what the channel shows as the base of the
next compare-and-set (rebase), so the set compares against the channel's real number instead
of failing stale on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import partial

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from allocation import services as allocation_services
from allocation.models import SalesHalt
from channels.models import Channel, Listing
from channels.tasks import wake_pusher
from inventory_sync.lib.locks import lock_ids, lock_rows
from ledger import services as ledger_services
from ledger.models import Balance, Location, Sku
from ledger.rules import ON_HAND, EventLine

from .models import Drift

SYSTEM_ACTOR = "reconciliation"


class ResolutionError(Exception):
    """The drift cannot take this resolution (already resolved, nowhere to count…)."""


def rebase(
    observed: dict[int, int | None],
    *,
    now: datetime,
    expected_at_read: dict[int, int] | None = None,
    unseen: Iterable[int] = (),
    halting: bool = False,
) -> int:
    """Take what the channel showed at the run's read as the base of the next
    compare-and-set, and make each listing due so the pusher sends its desired quantity.

    A listing whose state moved since the read (an order ingested, a push) is only made due:
    its compare-and-set then meets the channel's real number and the pusher's own rules (I6)
    settle it. `unseen`: listings whose gap is probably an order we have not ingested: its
    units are remembered so the order, when it comes, is not counted against the channel
    twice. `halting`: the planner's new 0 drives the push (the old desired quantity must not
    go first), unless the desired quantity is 0 already. Listings with a push in flight are
    left to it. Returns how many were made due.
    """
    unseen = set(unseen)
    due = 0
    channels: set[int] = set()
    with transaction.atomic():
        for listing in lock_rows(Listing.objects.filter(pk__in=list(observed))):
            if listing.in_flight_attempt_id is not None or listing.pushed_quantity is None:
                continue
            if expected_at_read is None or expected_at_read.get(listing.pk) == (
                listing.expected_quantity
            ):
                _take_base(listing, observed[listing.pk], now, unseen=listing.pk in unseen)
            if listing.desired_version and (not halting or listing.desired_quantity == 0):
                listing.pushed_version = min(listing.pushed_version, listing.desired_version - 1)
                due += 1
            listing.save()
            channels.add(listing.channel_id)
        for channel_id in sorted(channels):
            transaction.on_commit(partial(wake_pusher, channel_id))
    return due


def mark_dirty_in_order(sku_ids: Iterable[int]) -> None:
    """Mark many SKUs for the planner, their rows locked in id order first as every ledger
    write locks them (one UPDATE of many rows takes them in whatever order it scans)."""
    with transaction.atomic():
        ids = lock_ids(Sku.objects.filter(pk__in=list(sku_ids)))
        allocation_services.skus_mark_dirty(sku_ids=ids)


def make_due(listing_ids: Iterable[int]) -> int:
    """Send the desired quantity again, compare-and-set from what we expect (a person's
    action on a drift read minutes ago: the pusher re-reads and applies I6 on a stale
    answer, never an old reading of ours)."""
    return rebase(dict.fromkeys(listing_ids), now=timezone.now(), expected_at_read={})


def _take_base(listing: Listing, observed: int | None, now: datetime, *, unseen: bool) -> None:
    shown = max(observed or 0, 0)
    expected = listing.expected_quantity or 0
    if unseen and shown < expected:
        listing.unseen_sold_items += expected - shown
    listing.pushed_quantity = shown
    listing.channel_delta = 0
    listing.observed_quantity = observed
    listing.observed_at = now
    listing.push_held_until = None
    listing.unseen_since = None


def probably_unseen(drift: Drift) -> bool:
    """A gap below expected that an order we have not ingested may explain."""
    return drift.delta < 0 and drift.cause in (Drift.Cause.UNSEEN_ORDER, Drift.Cause.UNKNOWN)


def halt_listing(drift: Drift, *, actor: str, reason: str) -> SalesHalt:
    """Halt the drift's SKU on its channel (0 published) until a person releases it."""
    _require(reason, "A halt needs a reason.")
    _still_open(drift)
    with transaction.atomic():
        existing = SalesHalt.objects.filter(sku_id=drift.sku_id, released_at__isnull=True).filter(
            Q(channel_id=drift.channel_id) | Q(channel__isnull=True)
        )
        halt = existing.order_by("id").first() or allocation_services.halt_create(
            sku=Sku(pk=drift.sku_id), channel_id=drift.channel_id, reason=reason, actor=actor
        )
        rebase({drift.listing_id: None}, now=timezone.now(), expected_at_read={}, halting=True)
        _close(drift, Drift.Resolution.HALTED, actor=actor, reason=reason, halt=halt)
    return halt


def halt_drifts(drifts: list[Drift], *, actor: str, now: datetime) -> None:
    """Halt each drift's SKU on its channel in one go (a run's large drift): one insert of
    the halts not already there, one mark of the SKUs, one rebase, one update of the rows."""
    with transaction.atomic():
        active: dict[tuple[int, int | None], int] = {
            (sku_id, channel_id): pk
            for pk, sku_id, channel_id in SalesHalt.objects.filter(
                sku_id__in={d.sku_id for d in drifts}, released_at__isnull=True
            ).values_list("id", "sku_id", "channel_id")
        }
        new: dict[tuple[int, int], SalesHalt] = {}
        for drift in drifts:
            key = (drift.sku_id, drift.channel_id)
            if key not in active and (drift.sku_id, None) not in active and key not in new:
                new[key] = SalesHalt(
                    sku_id=drift.sku_id, channel_id=drift.channel_id,
                    reason=drift.resolution_reason[:500], created_by=actor,
                )  # fmt: skip
        for halt in SalesHalt.objects.bulk_create(list(new.values())):
            active[(halt.sku_id, halt.channel_id)] = halt.pk
        mark_dirty_in_order({d.sku_id for d in drifts})
        rebase(
            {d.listing_id: d.observed for d in drifts},
            now=now,
            expected_at_read={d.listing_id: d.expected for d in drifts},
            unseen=[d.listing_id for d in drifts if probably_unseen(d)],
            halting=True,
        )
        for drift in drifts:
            drift.halt_id = active.get((drift.sku_id, drift.channel_id)) or active.get(
                (drift.sku_id, None)
            )
            drift.resolution = Drift.Resolution.HALTED
            drift.resolved_at = now
            drift.resolved_by = actor
        Drift.objects.bulk_update(
            drifts, ["halt", "resolution", "resolved_at", "resolved_by", "resolution_reason"]
        )


def resync(drift: Drift, *, actor: str = SYSTEM_ACTOR, reason: str = "") -> Drift:
    _still_open(drift)
    with transaction.atomic():
        make_due([drift.listing_id])
        _close(drift, Drift.Resolution.RESYNCED, actor=actor, reason=reason or "resynced")
    return drift


def adopt(drift: Drift, *, actor: str, reason: str) -> Drift:
    """The channel's number is right (the merchant counted it): a cycle count at the
    listing's stock location moves on-hand by the drift, and every channel follows."""
    _require(reason, "Say why the channel's number is right.")
    _still_open(drift)
    listing = Listing.objects.select_related("channel").get(pk=drift.listing_id)
    location = _count_location(listing)
    with transaction.atomic():
        lock_rows(Sku.objects.filter(pk=drift.sku_id)).first()
        on_hand = (
            Balance.objects.filter(sku_id=drift.sku_id, location=location, bucket=ON_HAND)
            .values_list("quantity", flat=True)
            .first()
            or 0
        )
        counted = on_hand + drift.delta * listing.pack_size
        if counted < 0:
            raise ResolutionError(
                f"{location.code} holds {on_hand}: adopting {drift.delta} would go below 0."
            )
        recorded = ledger_services.record_event(
            kind="cycle_count",
            lines=[EventLine(sku=listing.sku.code, location=location.code, quantity=counted)],
            idempotency_key=f"drift-adopt:{drift.pk}",
            source="reconciliation",
            actor=actor,
            reason=reason,
            reference=f"drift {drift.pk} on {listing.channel.code}",
        )
        _release_drift_halt(drift, actor=actor, reason=f"adopted: {reason}")
        make_due([drift.listing_id])
        drift.event = recorded.event
        _close(drift, Drift.Resolution.ADOPTED, actor=actor, reason=reason)
    return drift


def dismiss(drift: Drift, *, actor: str, reason: str) -> Drift:
    _require(reason, "Say why this drift needs nothing.")
    _still_open(drift)
    with transaction.atomic():
        _release_drift_halt(drift, actor=actor, reason=f"dismissed: {reason}")
        _close(drift, Drift.Resolution.DISMISSED, actor=actor, reason=reason)
    return drift


def open_halt(*, sku: Sku, channel: Channel | None, actor: str, reason: str) -> SalesHalt:
    _require(reason, "A halt needs a reason.")
    return allocation_services.halt_create(
        sku=sku, channel_id=channel.pk if channel else None, reason=reason, actor=actor
    )


def release_halt(halt: SalesHalt, *, actor: str, reason: str) -> SalesHalt:
    """A person ends a halt: the planner restores the allocated quantity on the next round.
    Drift that the halt held for review is resolved with it."""
    _require(reason, "Say why the halt can end.")
    with transaction.atomic():
        halt = allocation_services.halt_release(halt=halt, actor=actor, reason=reason)
        Drift.objects.filter(halt=halt, resolution=Drift.Resolution.HALTED).update(
            resolution=Drift.Resolution.RESOLVED,
            resolved_at=timezone.now(),
            resolved_by=actor,
            resolution_reason=f"halt released: {reason}"[:500],
        )
    return halt


def _require(reason: str, message: str) -> None:
    if not (reason or "").strip():
        raise ResolutionError(message)


def _still_open(drift: Drift) -> None:
    """Refuse early (before any count or push) a drift someone has resolved meanwhile."""
    drift.refresh_from_db(fields=["resolution"])
    if drift.resolution not in (Drift.Resolution.OPEN, Drift.Resolution.HALTED):
        raise ResolutionError(f"Drift {drift.pk} is already {drift.get_resolution_display()}.")


def settle_released_halts() -> int:
    """Drift held by a halt someone released elsewhere (the admin's action) is resolved."""
    return Drift.objects.filter(
        resolution=Drift.Resolution.HALTED, halt__released_at__isnull=False
    ).update(
        resolution=Drift.Resolution.RESOLVED,
        resolved_at=timezone.now(),
        resolution_reason="halt released",
    )


def _release_drift_halt(drift: Drift, *, actor: str, reason: str) -> None:
    """Release the halt this drift alone is held by: one reconciliation opened for this
    channel. A person's halt (a recall, SKU-wide) or one other drift still needs stays."""
    if not drift.halt_id or drift.resolution != Drift.Resolution.HALTED:
        return
    halt = drift.halt
    if halt.created_by != SYSTEM_ACTOR or halt.channel_id != drift.channel_id:
        return
    others = Drift.objects.filter(halt=halt, resolution=Drift.Resolution.HALTED).exclude(
        pk=drift.pk
    )
    if not others.exists():
        allocation_services.halt_release(halt=halt, actor=actor, reason=reason)


def _close(drift: Drift, resolution: str, *, actor: str, reason: str, halt=None) -> None:
    updated = Drift.objects.filter(
        pk=drift.pk, resolution__in=[Drift.Resolution.OPEN, Drift.Resolution.HALTED]
    ).update(
        resolution=resolution,
        resolved_at=timezone.now(),
        resolved_by=actor,
        resolution_reason=reason[:500],
        halt=halt or drift.halt,
        event=drift.event,
    )
    if not updated:
        raise ResolutionError(f"Drift {drift.pk} is already {drift.get_resolution_display()}.")
    drift.refresh_from_db()


def _count_location(listing: Listing) -> Location:
    sources = list(listing.source_locations.all()[:2])
    if len(sources) == 1:
        return sources[0]
    if listing.channel.default_location_id:
        return listing.channel.default_location
    ships = Location.objects.filter(can_ship=True, is_active=True).exclude(kind=Location.Kind.FBA)
    only = list(ships[:2])
    if len(only) == 1:
        return only[0]
    raise ResolutionError(
        "The listing draws on several locations and its channel names no default location: "
        "record the count on the SKU page instead."
    )
