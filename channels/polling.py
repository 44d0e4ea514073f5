"""Polling: the safety net under webhooks and notifications. Orders updated since the channel's watermark (with
an overlap, since the channel's clock and index lag) are stored as inbound events exactly like
webhooks, deduplicated by order id + last-update time, and applied by the same worker."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import inbound
from .models import Channel

logger = logging.getLogger(__name__)

OVERLAP = timedelta(minutes=5)


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


def _orders_updated_since(channel: Channel, since: datetime, client):
    if channel.kind == Channel.Kind.AMAZON:
        from .adapters import amazon_lane

        client = client or amazon_lane.client_for(channel)
        if client.budget("searchOrders") < 1:
            # searchOrders sustains about one call in three minutes (its burst of 20 covers a
            # faster pace for a while): skip this poll rather than hold a worker waiting.
            raise PollSkipped("searchOrders has no budget left; the next poll reads from here")
        orders = client.search_orders(last_updated_after=since)
        for order in orders:
            yield PolledOrder(
                id=str(order["orderId"]),
                updated_stamp=str(order.get("lastUpdatedTime")),
                updated=parse_datetime(str(order.get("lastUpdatedTime") or "")),
                placed=parse_datetime(str(order.get("createdTime") or "")),
                body=order,
                topic="order",
            )
        return
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
    since = channel.orders_polled_until - OVERLAP
    seen = stored = 0
    newest = channel.orders_polled_until
    started = channel.orders_polling_started_at
    try:
        polled = list(_orders_updated_since(channel, since, client))
    except PollSkipped as skipped:
        logger.info("channel %s: order poll skipped: %s", channel.code, skipped)
        return PollOutcome(0, 0, channel.orders_polled_until)
    for order in polled:
        seen += 1
        # The channel stamps whole seconds: an order of the first poll's own second is kept.
        if (
            started is not None
            and order.placed is not None
            and order.placed < started.replace(microsecond=0)
        ):
            continue  # placed before polling began: history, seen in the overlap
        body = json.dumps(order.body, sort_keys=True).encode()
        # The channel stamps whole seconds: two changes of one order within a second share
        # an update time, so the content tells them apart (the same content is a repeat).
        digest = hashlib.sha256(body).hexdigest()[:16]
        result = inbound.store(
            channel=channel,
            source="poll",
            topic=order.topic,
            dedupe_key=f"poll:order:{order.id}:{order.updated_stamp}:{digest}",
            body=body,
            occurred_at=order.updated,
        )
        stored += result.created
        if order.updated is not None and (newest is None or order.updated > newest):
            newest = order.updated
    with transaction.atomic():
        # Never move the watermark past now: an order stamped later is read again next time.
        watermark = min(newest, now) if newest is not None else now - OVERLAP
        Channel.objects.filter(pk=channel.pk).update(orders_polled_until=watermark)
    if stored:
        from .tasks import wake_ingest

        transaction.on_commit(wake_ingest)
    logger.info("channel %s: polled %d order(s), %d new snapshot(s)", channel.code, seen, stored)
    return PollOutcome(seen, stored, watermark)
