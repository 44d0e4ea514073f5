"""Reconciliation runs: read every listing back in bulk, wait out the grace window for the
mismatches, read those again, record what still differs as drift and resolve it.

Two phases, because a mismatch at one instant is not yet drift: an order placed on the channel
a moment ago lowers what it shows before its webhook reaches us.
1. `read_phase`: each channel's listings in one bulk read (channels read side by side: each has
   its own rate limits), compared with what each should show; mismatches become suspects.
2. `confirm_phase`, from `confirm_after` on: the suspects only, read again and compared with
   their state then (the orders that arrived meanwhile moved it). What still differs is drift.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections
from django.db.models import F, Q
from django.utils import timezone

from channels.inbox import CLOCK_GRAIN
from channels.lanes.base import Lane, LevelRead
from channels.lanes.registry import lane_for
from channels.models import Channel, Listing

from . import compare
from .models import ReconciliationRun

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]
# Which lane reads a channel: the registry's, or one with a test's or bench's client options.
LaneFactory = Callable[[Channel], Lane]

# The listing columns a run needs (the lanes read their ids; the comparison its sync state).
LISTING_FIELDS = (
    "id",
    "channel_id",
    "sku_id",
    "external_id",
    "shopify_inventory_item_id",
    "shopify_location_id",
    "asin",
    "fulfilment",
    "pack_size",
    "pushed_quantity",
    "pushed_version",
    "pushed_at",
    "channel_delta",
    "in_flight_quantity",
    "in_flight_attempt_id",
    "desired_quantity",
    "desired_version",
)


def grace() -> timedelta:
    return timedelta(seconds=getattr(settings, "RECONCILE_GRACE_SECONDS", 90))


def start_run(
    *,
    trigger: str = ReconciliationRun.Trigger.MANUAL,
    channel: Channel | None = None,
    sku_codes: Sequence[str] = (),
    velocity_tier: str = "",
    requested_by: str = "",
) -> ReconciliationRun:
    return ReconciliationRun.objects.create(
        trigger=trigger,
        channel=channel,
        sku_codes=list(sku_codes),
        velocity_tier=velocity_tier,
        requested_by=requested_by,
    )


def unexpected_sku_codes(*, now: datetime, window: timedelta = timedelta(minutes=15)) -> list[str]:
    """SKUs of live merchant listings whose channel recently reported more than any state of
    ours explains (a webhook or notification's level, recorded on the listing)."""
    rows = (
        Listing.objects.filter(
            channel__mode=Channel.Mode.LIVE,
            is_active=True,
            observed_at__gte=now - window,
            observed_quantity__isnull=False,
            pushed_quantity__isnull=False,
        )
        .exclude(fulfilment=Listing.Fulfilment.FBA)
        # More than we set, and seen since: the oversell direction (a sale only lowers).
        .filter(observed_quantity__gt=F("pushed_quantity") + F("channel_delta"))
        .filter(Q(pushed_at__isnull=True) | Q(observed_at__gte=F("pushed_at") - CLOCK_GRAIN))
        .exclude(in_flight_quantity=F("observed_quantity"))
        .order_by("sku__code")
        .values_list("sku__code", flat=True)
        .distinct()
    )
    return list(rows[:500])


def listings_of(run: ReconciliationRun) -> dict[Channel, list[Listing]]:
    """The listings a run compares: live channels, merchant-fulfilled, pushed at least once
    (FBA listings show Amazon's own count, which the FBA sync follows)."""
    channels = Channel.objects.filter(mode=Channel.Mode.LIVE).order_by("id")
    if run.channel_id:
        channels = channels.filter(pk=run.channel_id)
    listings = Listing.objects.filter(
        channel__in=channels, is_active=True, pushed_quantity__isnull=False
    ).exclude(fulfilment=Listing.Fulfilment.FBA)
    if run.sku_codes:
        listings = listings.filter(sku__code__in=run.sku_codes)
    if run.velocity_tier:
        listings = listings.filter(sku__velocity_tier=run.velocity_tier)
    by_id = {channel.pk: channel for channel in channels}
    grouped: dict[Channel, list[Listing]] = {channel: [] for channel in by_id.values()}
    for listing in listings.only(*LISTING_FIELDS).order_by("id").iterator(chunk_size=5000):
        grouped[by_id[listing.channel_id]].append(listing)
    return {channel: rows for channel, rows in grouped.items() if rows}


@dataclass
class ChannelRead:
    channel: Channel
    read: LevelRead | None = None
    error: str = ""
    seconds: float = 0.0
    listings: list[Listing] = field(default_factory=list)


def read_channels(
    groups: dict[Channel, list[Listing]],
    progress: Progress | None = None,
    lanes: LaneFactory = lane_for,
):
    """Every channel's levels, channels side by side (I/O bound: each waits on its own API)."""

    def one(channel: Channel) -> ChannelRead:
        started = time.monotonic()
        outcome = ChannelRead(channel=channel, listings=groups[channel])
        try:
            outcome.read = lanes(channel).read_all_levels(channel, groups[channel])
        except NotImplementedError as error:
            outcome.error = str(error)
        except Exception as error:  # noqa: BLE001 — one channel's outage must not stop the run
            logger.warning("reconciliation: reading %s failed: %s", channel.code, error)
            outcome.error = f"read failed: {error}"[:500]
        finally:
            close_old_connections()
        outcome.seconds = time.monotonic() - started
        if progress:
            progress(f"{channel.code}: read {len(groups[channel])} listing(s) in "
                     f"{outcome.seconds:.1f} s{' — ' + outcome.error if outcome.error else ''}")  # fmt: skip
        return outcome

    if len(groups) <= 1:
        return [one(channel) for channel in groups]
    with ThreadPoolExecutor(max_workers=min(len(groups), 8)) as pool:
        return list(pool.map(one, list(groups)))


def shows_otherwise(listing: Listing, observed: int | None) -> bool:
    """Whether the channel's `observed` quantity is none of the listing's known states."""
    in_flight = listing.in_flight_quantity if listing.in_flight_attempt_id else None
    return compare.differs(listing.expected_quantity, in_flight, observed)


def read_phase(
    run: ReconciliationRun, *, progress: Progress | None = None, lanes: LaneFactory = lane_for
) -> ReconciliationRun:
    """Read every listing of the run once; mismatches become suspects to confirm later."""
    started = time.monotonic()
    groups = listings_of(run)
    run.listings_total = sum(len(rows) for rows in groups.values())
    run.save(update_fields=["listings_total"])
    if progress:
        progress(f"run {run.pk}: {run.listings_total} listing(s) on {len(groups)} channel(s)")
    suspects: dict[str, list] = {}
    summary: dict[str, dict] = {}
    for outcome in read_channels(groups, progress, lanes):
        levels = outcome.read.levels if outcome.read else {}
        committed = outcome.read.committed if outcome.read else {}
        checked = 0
        for listing in outcome.listings:
            if listing.pk not in levels:
                continue
            checked += 1
            observed = levels[listing.pk]
            if shows_otherwise(listing, observed):
                suspects[str(listing.pk)] = [observed, committed.get(listing.pk)]
        run.listings_checked += checked
        run.api_calls += outcome.read.calls if outcome.read else 0
        run.throttled += outcome.read.throttled if outcome.read else 0
        summary[outcome.channel.code] = {
            "listings": len(outcome.listings),
            "checked": checked,
            "suspects": sum(1 for item in outcome.listings if str(item.pk) in suspects),
            "calls": outcome.read.calls if outcome.read else 0,
            "method": outcome.read.method if outcome.read else "",
            "seconds": round(outcome.seconds, 2),
            "error": outcome.error,
        }
    run.suspects = suspects
    run.channels = summary
    run.status = ReconciliationRun.Status.WAITING
    run.confirm_after = timezone.now() + grace()
    run.duration_ms = int((time.monotonic() - started) * 1000)
    run.save()
    if progress:
        progress(f"run {run.pk}: {run.listings_checked} checked, {len(suspects)} to look at again "
                 f"after {grace().total_seconds():g} s")  # fmt: skip
    return run
