"""Read-after-write: every acknowledged push to a channel whose read is cheap is read back
within seconds, so a write that answers success and is not kept is caught at once, not at the
next run.

Only a lost write is settled here: the channel still shows what it showed before our set
(moved by the orders we ingested since). Any other difference may be an order on its way and
is left to the scheduled run, which waits out the grace window first.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from channels.lanes.registry import lane_for, lane_for_kind
from channels.models import Channel, Listing, PushAttempt

from .confirm import drift_of, record_and_resolve
from .models import Drift, Watermark
from .runs import LISTING_FIELDS, LaneFactory

logger = logging.getLogger(__name__)

MAX_LISTINGS_PER_READ = 2000


def _mark(channel: Channel) -> str:
    return f"read-after-write:{channel.pk}"


def read_back_channel(
    channel: Channel, *, now: datetime | None = None, lanes: LaneFactory = lane_for
) -> list[Drift]:
    """Read back the listings of the pushes acknowledged since the last read-back."""
    now = now or timezone.now()
    # One read-back per channel at a time (the wake-up and the periodic sweep may overlap).
    lock = f"inventory-sync:read-back:{channel.pk}"
    if not cache.add(lock, 1, timeout=120):
        return []
    try:
        return _read_back(channel, now, lanes)
    finally:
        cache.delete(lock)


def _read_back(channel: Channel, now: datetime, lanes: LaneFactory) -> list[Drift]:
    mark, _ = Watermark.objects.get_or_create(name=_mark(channel))
    attempts = list(
        PushAttempt.objects.filter(
            channel=channel,
            pk__gt=mark.position,
            status__in=[PushAttempt.Status.ACKNOWLEDGED, PushAttempt.Status.STALE],
            finished_at__isnull=False,
        )
        .order_by("id")
        .values_list("id", "items")[:50]
    )
    if not attempts:
        return []
    pushed = {item["listing"] for _, items in attempts for item in items if "listing" in item}
    listings = list(
        Listing.objects.filter(pk__in=sorted(pushed)[:MAX_LISTINGS_PER_READ], is_active=True)
        .only(*LISTING_FIELDS)
        .order_by("id")
    )
    read = lanes(channel).read_all_levels(channel, listings) if listings else None
    # Only lost writes are settled here; any other difference is left to the next run, which
    # waits for orders on their way first.
    lost = [
        drift
        for drift in (drift_of(None, channel, listings, read) if read is not None else [])
        if drift.cause == Drift.Cause.LOST_WRITE
    ]
    for drift in lost:
        drift.evidence = f"read after write: {drift.evidence}"[:500]
    with transaction.atomic():
        record_and_resolve(lost, now=now)
        Watermark.objects.filter(pk=mark.pk).update(position=attempts[-1][0])
    if lost:
        logger.warning("channel %s: %d lost write(s) found by read-back", channel.code, len(lost))
    return lost


def read_back_all(*, now: datetime | None = None) -> int:
    """Every live channel whose lane reads back after writing. Returns lost writes found."""
    found = 0
    for channel in Channel.objects.filter(mode=Channel.Mode.LIVE).order_by("id"):
        try:
            if not lane_for_kind(channel.kind).read_after_write:
                continue
            found += len(read_back_channel(channel, now=now))
        except Exception:  # one channel's outage must not stop the others' read-back
            logger.exception("channel %s: read-after-write failed", channel.code)
    return found
