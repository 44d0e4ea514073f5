"""Polling: the safety net under webhooks and notifications. Orders updated since the channel's
watermark (with an overlap, since the channel's clock and index lag; the lane says what each
poll reads) are stored as inbound events exactly like webhooks, deduplicated by order id +
last-update time, and applied by the same worker."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from inventory_sync.lib import wakeups

from . import inbound
from .lanes.base import POLL_OVERLAP, PolledOrder, PollSkipped
from .lanes.registry import lane_for
from .models import Channel

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PollOutcome:
    seen: int
    stored: int
    watermark: datetime | None


def poll_orders(channel: Channel, *, client=None, now: datetime | None = None) -> PollOutcome:
    """Read orders updated since the watermark and queue the new snapshots for ingestion."""
    now = now or timezone.now()
    if channel.orders_polled_until is None:
        # The first poll only starts the watermark: orders from before the channel was
        # connected are history the opening balances already carry (importing them would
        # commit stock for orders shipped long ago).
        Channel.objects.filter(pk=channel.pk, orders_polled_until__isnull=True).update(
            orders_polled_until=now, orders_polling_started_at=now
        )
        return PollOutcome(0, 0, now)
    lane = lane_for(channel) if client is None else lane_for(channel, client=client)
    since, until = lane.poll_window(channel, now)
    seen = stored = 0
    newest = channel.orders_polled_until
    started = channel.orders_polling_started_at
    try:
        for order in lane.poll_orders(channel, since, until):
            seen += 1
            stored += _store(channel, order, started)
            if order.updated is not None and (newest is None or order.updated > newest):
                newest = order.updated
    except PollSkipped as stopped:
        # What was read is stored; the watermark stays, so the next poll reads this window
        # again (its stored orders are repeats and cost nothing).
        logger.info("channel %s: order poll stopped: %s", channel.code, stopped)
        if seen:
            lane.poll_finished(channel, finished=False)
        if stored:
            wakeups.notify_on_commit(inbound.INBOUND_CHANGED)
        return PollOutcome(seen, stored, channel.orders_polled_until)
    if until is not None:
        newest = until  # the whole slice was read, to its end
    elif newest is None or newest < now - POLL_OVERLAP:
        # Read to now and quiet: the watermark follows time (less the overlap, for orders the
        # channel's index shows late), so the next poll reads two overlaps back from its now
        # rather than slicing forward through hours with nothing in them.
        newest = now - POLL_OVERLAP
    lane.poll_finished(channel, finished=True)
    with transaction.atomic():
        # Never move the watermark past now: an order stamped later is read again next time.
        watermark = min(newest, now)
        Channel.objects.filter(pk=channel.pk).update(orders_polled_until=watermark)
    if stored:
        wakeups.notify_on_commit(inbound.INBOUND_CHANGED)
    logger.info("channel %s: polled %d order(s), %d new snapshot(s)", channel.code, seen, stored)
    return PollOutcome(seen, stored, watermark)


def _store(channel: Channel, order: PolledOrder, started: datetime | None) -> int:
    # The channel stamps whole seconds: an order of the first poll's own second is kept.
    if (
        started is not None
        and order.placed is not None
        and order.placed < started.replace(microsecond=0)
    ):
        return 0  # placed before polling began: history, seen in the overlap
    body = json.dumps(order.body, sort_keys=True).encode()
    # Two changes of one order within a second share an update time, so the content tells
    # them apart (the same content is a repeat).
    digest = hashlib.sha256(body).hexdigest()[:16]
    result = inbound.store(
        channel=channel,
        source="poll",
        topic=order.topic,
        dedupe_key=f"poll:order:{order.id}:{order.updated_stamp}:{digest}",
        body=body,
        occurred_at=order.updated,
    )
    return int(result.created)
