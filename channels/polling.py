"""Polling: the safety net under webhooks. Orders updated since the channel's watermark (with
an overlap, since the channel's clock and index lag) are stored as inbound events exactly like
webhooks, deduplicated by order id + last-update time, and applied by the same worker."""

from __future__ import annotations

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


@dataclass(frozen=True, slots=True)
class PollOutcome:
    seen: int
    stored: int
    watermark: datetime | None


def poll_orders(channel: Channel, *, client=None, now: datetime | None = None) -> PollOutcome:
    """Read orders updated since the watermark and queue the new snapshots for ingestion."""
    from .adapters.shopify_lane import client_for

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
    client = client or client_for(channel)
    seen = stored = 0
    newest = channel.orders_polled_until
    started = channel.orders_polling_started_at
    for order in client.iter_orders_updated_since(since):
        seen += 1
        updated = parse_datetime(str(order.get("updated_at") or ""))
        placed = parse_datetime(str(order.get("created_at") or ""))
        # Shopify stamps whole seconds: an order of the first poll's own second is kept.
        if started is not None and placed is not None and placed < started.replace(microsecond=0):
            continue  # placed before polling began: history, seen in the overlap
        result = inbound.store(
            channel=channel,
            source="poll",
            topic="orders/updated",
            dedupe_key=f"poll:order:{order['id']}:{order.get('updated_at')}",
            body=json.dumps(order, sort_keys=True).encode(),
            occurred_at=updated,
        )
        stored += result.created
        if updated is not None and (newest is None or updated > newest):
            newest = updated
    with transaction.atomic():
        # Never move the watermark past now: an order stamped later is read again next time.
        watermark = min(newest, now) if newest is not None else now - OVERLAP
        Channel.objects.filter(pk=channel.pk).update(orders_polled_until=watermark)
    if stored:
        from .tasks import wake_ingest

        transaction.on_commit(wake_ingest)
    logger.info("channel %s: polled %d order(s), %d new snapshot(s)", channel.code, seen, stored)
    return PollOutcome(seen, stored, watermark)
