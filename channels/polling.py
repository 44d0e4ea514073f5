"""Polling: the safety net under webhooks and notifications. Orders updated since the channel's watermark (with
an overlap, since the channel's clock and index lag) are stored as inbound events exactly like
webhooks, deduplicated by order id + last-update time, and applied by the same worker."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import inbound
from .models import Channel

logger = logging.getLogger(__name__)

OVERLAP = timedelta(minutes=5)
AMAZON_SLICE = timedelta(hours=1)
AMAZON_SMALLEST_SLICE = timedelta(seconds=10)
AMAZON_NEWEST_END = timedelta(minutes=2, seconds=30)


class PollSkipped(Exception):
    """The channel's rate limit has no room for a poll now (the watermark stays)."""


@dataclass(frozen=True, slots=True)
class PolledOrder:
    id: str
    updated_stamp: str  # as the channel wrote it (the dedupe key keeps its precision)
    updated: datetime | None
    placed: datetime | None
    body: dict
    topic: str  # what the ingest worker applies it as


def _orders_updated_since(channel: Channel, since: datetime, until: datetime | None, client):
    if channel.kind == Channel.Kind.AMAZON:
        from .adapters import amazon_lane

        client = client or amazon_lane.client_for(channel)
        if client.budget("searchOrders") < 1:
            # searchOrders sustains about one call in three minutes (its burst of 20 covers a
            # faster pace for a while): skip this poll rather than hold a worker waiting.
            raise PollSkipped("searchOrders has no budget left; the next poll reads from here")
        orders = iter(client.search_orders(last_updated_after=since, last_updated_before=until))
        while True:
            try:
                order = next(orders)
            except StopIteration:
                return
            except amazon_lane.amazon.AmazonThrottled as error:
                raise PollSkipped(f"searchOrders ran out of budget mid-window: {error}") from error
            yield PolledOrder(
                id=str(order["orderId"]),
                updated_stamp=str(order.get("lastUpdatedTime")),
                updated=parse_datetime(str(order.get("lastUpdatedTime") or "")),
                placed=parse_datetime(str(order.get("createdTime") or "")),
                body=order,
                topic="order",
            )
    from .adapters.shopify_lane import client_for

    for order in (client or client_for(channel)).iter_orders_updated_since(since):
        yield PolledOrder(
            id=str(order["id"]),
            updated_stamp=str(order.get("updated_at")),
            updated=parse_datetime(str(order.get("updated_at") or "")),
            placed=parse_datetime(str(order.get("created_at") or "")),
            body=order,
            topic="orders/updated",
        )


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
    since, until = _window(channel, now)
    seen = stored = 0
    newest = channel.orders_polled_until
    started = channel.orders_polling_started_at
    try:
        for order in _orders_updated_since(channel, since, until, client):
            seen += 1
            stored += _store(channel, order, started)
            if order.updated is not None and (newest is None or order.updated > newest):
                newest = order.updated
    except PollSkipped as stopped:
        # What was read is stored; the watermark stays, so the next poll reads this window
        # again (its stored orders are repeats and cost nothing).
        logger.info("channel %s: order poll stopped: %s", channel.code, stopped)
        if seen:
            _resize_slice(channel, finished=False)
        if stored:
            from .tasks import wake_ingest

            transaction.on_commit(wake_ingest)
        return PollOutcome(seen, stored, channel.orders_polled_until)
    if until is not None:
        newest = until  # the whole slice was read, to its end
    elif newest is None or newest < now - OVERLAP:
        # Read to now and quiet: the watermark follows time (less the overlap, for orders the
        # channel's index shows late), so the next poll reads two overlaps back from its now
        # rather than slicing forward through hours with nothing in them.
        newest = now - OVERLAP
    _resize_slice(channel, finished=True)
    with transaction.atomic():
        # Never move the watermark past now: an order stamped later is read again next time.
        watermark = min(newest, now)
        Channel.objects.filter(pk=channel.pk).update(orders_polled_until=watermark)
    if stored:
        from .tasks import wake_ingest

        transaction.on_commit(wake_ingest)
    logger.info("channel %s: polled %d order(s), %d new snapshot(s)", channel.code, seen, stored)
    return PollOutcome(seen, stored, watermark)


def _slice_key(channel: Channel) -> str:
    return f"inventory-sync:orders-poll-slice:{channel.pk}"


def _window(channel: Channel, now: datetime) -> tuple[datetime, datetime | None]:
    """What this poll reads: from the watermark (less an overlap, since the channel's clock and
    index lag) to now. Amazon: a poll reads at most one slice of time, so that it needs few
    pages and finishes within searchOrders' budget (about one page in three minutes once its
    burst is spent); the watermark then moves to the slice's end and the next poll reads on.
    A poll stopped mid-slice halves the slice (a flash sale), a finished one doubles it back
    towards an hour. A slice that ended over two minutes ago is complete in Amazon's index
    (it refuses a later end): it needs no overlap, which in a busy hour would cost pages."""
    watermark = channel.orders_polled_until
    if channel.kind == Channel.Kind.AMAZON:
        seconds = cache.get(_slice_key(channel), AMAZON_SLICE.total_seconds())
        end = watermark + timedelta(seconds=seconds)
        if end < now - AMAZON_NEWEST_END:
            return watermark, end
    return watermark - OVERLAP, None


def _resize_slice(channel: Channel, *, finished: bool) -> None:
    if channel.kind != Channel.Kind.AMAZON:
        return
    seconds = cache.get(_slice_key(channel), AMAZON_SLICE.total_seconds())
    if finished:
        seconds = min(seconds * 2, AMAZON_SLICE.total_seconds())
    else:
        seconds = max(seconds / 2, AMAZON_SMALLEST_SLICE.total_seconds())
    cache.set(_slice_key(channel), seconds, timeout=None)


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
