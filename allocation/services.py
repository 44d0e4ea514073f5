"""Writes to allocation settings. Each one marks the SKUs it affects dirty, so the planner
recomputes their listings in the next round (design I5)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from inventory_sync.lib import memo, wakeups
from inventory_sync.lib.errors import DomainError
from inventory_sync.lib.locks import lock_one
from ledger import services as ledger_services
from ledger.models import LedgerEntry, Location, Sku
from ledger.rules import EventLine, InsufficientStock
from ledger.services import LEDGER_CHANGED

from .models import BundleComponent, OversellIncident, Reservation, SalesHalt

logger = logging.getLogger(__name__)


class ReservedBucketShort(DomainError):
    """The reserved bucket no longer covers a reservation: units left it some other way."""

    code = "reserved_bucket_short"
    http_status = 409


def skus_mark_dirty(*, sku_ids: Iterable[int] | None = None) -> int:
    """Mark SKUs for recomputation (all SKUs when `sku_ids` is None); wakes the planner.

    Idempotent. Takes no explicit lock: the UPDATE locks each row briefly, and a SKU already
    dirty keeps its older timestamp (it has waited longest).
    """
    skus = Sku.objects.filter(allocation_dirty_since__isnull=True)
    if sku_ids is not None:
        skus = skus.filter(pk__in=list(sku_ids))
    marked = skus.update(allocation_dirty_since=timezone.now())
    wakeups.notify_on_commit(LEDGER_CHANGED)
    return marked


@transaction.atomic
def halt_create(*, sku: Sku, channel_id: int | None, reason: str, actor: str) -> SalesHalt:
    """Force a SKU to 0 everywhere (channel_id None) or on one channel, until released."""
    halt = SalesHalt.objects.create(sku=sku, channel_id=channel_id, reason=reason, created_by=actor)
    skus_mark_dirty(sku_ids=[sku.pk])
    return halt


@transaction.atomic
def halt_release(*, halt: SalesHalt, actor: str, reason: str = "") -> SalesHalt:
    """Release a halt (a person's decision); idempotent: releasing twice keeps the first."""
    updated = SalesHalt.objects.filter(pk=halt.pk, released_at__isnull=True).update(
        released_at=timezone.now(), released_by=actor, release_reason=reason[:500]
    )
    if updated:
        skus_mark_dirty(sku_ids=[halt.sku_id])
    halt.refresh_from_db()
    return halt


@transaction.atomic
def reservation_create(
    *,
    sku: Sku,
    location: Location,
    quantity: int,
    partner: str,
    idempotency_key: str,
    expires_at: datetime | None = None,
    actor: str = "",
) -> Reservation:
    """Hold stock for a partner: refused with InsufficientStock (carrying `available`) if short.

    Invariant I7: the units move to `reserved` under the SKU lock, through ledger.reserve().
    Idempotency: `idempotency_key`; a retry returns the same reservation.
    Locks: the SKU row (in reserve()).
    """
    if location.kind == Location.Kind.FBA:
        # Every FBA snapshot sets the pool's reserved units to Amazon's own count.
        raise DomainError(
            f"{location.code} is an FBA pool: Amazon's snapshots set its reserved units, so a "
            "hold there would not last. Hold the stock at a warehouse, store or 3PL.",
            field_errors={"location": "An FBA pool cannot hold a reservation."},
        )
    recorded = ledger_services.reserve(
        sku=sku.code,
        location=location.code,
        quantity=quantity,
        idempotency_key=f"reservation:{idempotency_key}",
        source="reservation",
        reference=partner[:255],
        actor=actor,
    )
    if not recorded.created:
        return Reservation.objects.get(reserve_event_id=recorded.event.pk)
    reservation = Reservation.objects.create(
        sku=sku,
        location=location,
        quantity=quantity,
        partner=partner,
        expires_at=expires_at,
        reserve_event_id=recorded.event.pk,
        created_by=actor,
    )
    return reservation


@transaction.atomic
def reservation_end(
    *, reservation: Reservation, actor: str = "", status: str = Reservation.Status.RELEASED
) -> Reservation:
    """Give a reservation's units back (released by a person, or expired). Idempotent.

    Locks: the reservation row, then the SKU row (in release()). The reservation's lock is
    FOR UPDATE, not NO KEY: setting release_event changes a unique column.
    """
    reservation = lock_one(Reservation.objects, key=True, pk=reservation.pk)
    if reservation.status != Reservation.Status.ACTIVE:
        return reservation
    try:
        recorded = ledger_services.release(
            sku=reservation.sku.code,
            location=reservation.location.code,
            quantity=reservation.quantity,
            idempotency_key=f"reservation:{reservation.pk}:end",
            source="reservation",
            reference=reservation.partner[:255],
            actor=actor,
        )
    except InsufficientStock as short:
        raise _bucket_short(reservation, in_bucket=short.extra.get("quantity")) from short
    reservation.status = status
    reservation.release_event_id = recorded.event.pk
    reservation.ended_at = timezone.now()
    # An earlier expiry failure is over once the reservation has ended, however it ended.
    reservation.expiry_failed_at, reservation.expiry_error = None, ""
    reservation.save(
        update_fields=["status", "release_event", "ended_at", "expiry_failed_at", "expiry_error"]
    )
    return reservation


def _bucket_short(reservation: Reservation, *, in_bucket: int | None) -> ReservedBucketShort:
    """Why a reservation cannot give its units back: the bucket holds less than it promised.

    Only a release recorded outside the reservations service (before the events API refused
    them) leaves the bucket short; FBA pools, whose snapshots set it, take no reservations.
    Ending the reservation anyway would free units that other holds at the same place still
    count on, so it stays active and the answer gives the numbers (verify_ledger lists them).
    """
    held = (
        Reservation.objects.filter(
            sku_id=reservation.sku_id,
            location_id=reservation.location_id,
            status=Reservation.Status.ACTIVE,
        ).aggregate(units=Sum("quantity"))["units"]
        or 0
    )
    where = f"{reservation.sku.code} at {reservation.location.code}"
    return ReservedBucketShort(
        f"Reservation #{reservation.pk} holds {reservation.quantity} of {where}, but the "
        f"reserved bucket there holds {in_bucket if in_bucket is not None else 'none'} while "
        f"its active reservations add up to {held}: units were released without ending a "
        "reservation. Nothing was changed; verify_ledger lists the difference.",
        reservation=reservation.pk,
        reserved=in_bucket or 0,
        reservations=held,
    )


@dataclass
class ExpiryOutcome:
    expired: int = 0
    failed: list[int] = field(default_factory=list)  # reservation ids, left active


def reservations_expire(*, now: datetime | None = None) -> ExpiryOutcome:
    """End every active reservation past its expiry date, each in its own transaction.

    One that cannot end is logged with its id, marked (expiry_failed_at, expiry_error) and
    skipped, so it never keeps the others active; the next run tries it again. Idempotent.
    """
    now = now or timezone.now()
    outcome = ExpiryOutcome()
    due = Reservation.objects.filter(status=Reservation.Status.ACTIVE, expires_at__lte=now)
    for reservation in due.order_by("id").only("pk"):
        try:
            ended = reservation_end(
                reservation=reservation, actor="expiry", status=Reservation.Status.EXPIRED
            )
        except Exception as error:  # any failure is this reservation's alone
            _expiry_failed(reservation.pk, error)
            outcome.failed.append(reservation.pk)
            continue
        if ended.status == Reservation.Status.EXPIRED:  # a person may have ended it meanwhile
            outcome.expired += 1
    return outcome


def _expiry_failed(reservation_id: int, error: Exception) -> None:
    broken_rule = isinstance(error, DomainError)
    detail = error.detail if broken_rule else f"{type(error).__name__}: {error}"
    # A broken rule explains itself; anything else needs its traceback.
    logger.error(
        "reservation %d could not expire: %s", reservation_id, detail, exc_info=not broken_rule
    )
    Reservation.objects.filter(pk=reservation_id, status=Reservation.Status.ACTIVE).update(
        expiry_failed_at=timezone.now(), expiry_error=detail[:500]
    )


@transaction.atomic
def incident_close(*, incident: OversellIncident, actor: str) -> OversellIncident:
    """A person closes an oversell incident (orders handled); the SKU is recomputed."""
    updated = OversellIncident.objects.filter(
        pk=incident.pk, status=OversellIncident.Status.OPEN
    ).update(status=OversellIncident.Status.CLOSED, ended_at=timezone.now(), closed_by=actor)
    if updated:
        skus_mark_dirty(sku_ids=[incident.sku_id])
    incident.refresh_from_db()
    return incident


def incident_sync(*, sku: Sku, units_short: int) -> OversellIncident | None:
    """Open, update or resolve the SKU's oversell incident to match `units_short` (I8).

    Called by the planner while it holds the SKU's lock, so the balances it computed
    `units_short` from cannot change underneath. An incident a person closed stays closed;
    a new shortage after that opens a new one.
    """
    incident = OversellIncident.objects.filter(sku=sku, status=OversellIncident.Status.OPEN).first()
    if units_short <= 0:
        if incident is not None:
            incident.status = OversellIncident.Status.RESOLVED
            incident.ended_at = timezone.now()
            incident.save(update_fields=["status", "ended_at"])
        return None
    events = _uncovered_sales(sku=sku, units_short=units_short)
    if incident is None:
        return OversellIncident.objects.create(
            sku=sku, units_short=units_short, sale_event_ids=events
        )
    if incident.units_short != units_short or incident.sale_event_ids != events:
        incident.units_short = units_short
        incident.sale_event_ids = events
        incident.save(update_fields=["units_short", "sale_event_ids"])
    return incident


def _uncovered_sales(*, sku: Sku, units_short: int) -> list[int]:
    """The latest sales that together exceed the stock, oldest first (earliest placed wins)."""
    picked: list[int] = []
    covered = 0
    for event_id, delta in (
        LedgerEntry.objects.filter(sku=sku, bucket="committed", delta__gt=0, event__kind="sale")
        .order_by("-event__occurred_at", "-event_id")
        .values_list("event_id", "delta")
    ):
        picked.append(event_id)
        covered += delta
        if covered >= units_short:
            break
    return list(reversed(picked))


def sale_lines(*, sku: Sku, location: str, quantity: int) -> list[EventLine]:
    """The ledger lines of selling `quantity` of `sku`: a bundle commits its components.

    Order ingestion records a bundle's sale as one event with a line per component, so the
    components' balances (the only real stock) carry it and the bundle is recomputed from them.
    """
    parts = bundle_parts(sku.pk)
    if not parts:
        return [EventLine(sku=sku.code, location=location, quantity=quantity)]
    return [
        EventLine(sku=code, location=location, quantity=quantity * per_bundle)
        for _, code, per_bundle in parts
    ]


def bundle_parts(sku_id: int) -> list[tuple[int, str, int]]:
    """A bundle's components as (component id, code, quantity per bundle), in the bundle's
    order; empty for a SKU that is not a bundle. Remembered for an ingest claim."""
    return memo.remembered(("bundle-parts", sku_id), lambda: _read_parts([sku_id])[sku_id])


def remember_bundle_parts(sku_ids) -> None:
    """Read the parts of many SKUs in one query, for the rest of the claim."""
    for sku_id, parts in _read_parts(sku_ids).items():
        memo.remember(("bundle-parts", sku_id), parts)


def _read_parts(sku_ids) -> dict[int, list[tuple[int, str, int]]]:
    parts: dict[int, list[tuple[int, str, int]]] = {sku_id: [] for sku_id in sku_ids}
    for bundle_id, component_id, code, quantity in (
        BundleComponent.objects.filter(bundle_id__in=list(sku_ids))
        .order_by("id")
        .values_list("bundle_id", "component_id", "component__code", "quantity")
    ):
        parts[bundle_id].append((component_id, code, quantity))
    return parts
