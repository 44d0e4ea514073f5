"""Polling Amazon's orders by last-update time, a slice of time at a time.

searchOrders sustains about one call in three minutes once its burst of 20 is spent, so a poll
reads at most one slice (few pages, within budget); the watermark then moves to the slice's
end and the next poll reads on. A poll stopped mid-slice halves the slice (a flash sale), a
finished one doubles it back towards an hour. A slice that ended over two minutes ago is
complete in Amazon's index (it refuses a later end): it needs no overlap, which in a busy hour
would cost pages.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from django.core.cache import cache
from django.utils.dateparse import parse_datetime

from channels.lanes.base import POLL_OVERLAP, PolledOrder, PollSkipped
from channels.models import Channel

from . import client as amazon
from .api import client_for

SLICE = timedelta(hours=1)
SMALLEST_SLICE = timedelta(seconds=10)
NEWEST_END = timedelta(minutes=2, seconds=30)


def _slice_key(channel: Channel) -> str:
    return f"inventory-sync:orders-poll-slice:{channel.pk}"


def window(channel: Channel, now: datetime) -> tuple[datetime, datetime | None]:
    watermark = channel.orders_polled_until
    seconds = cache.get(_slice_key(channel), SLICE.total_seconds())
    end = watermark + timedelta(seconds=seconds)
    if end < now - NEWEST_END:
        return watermark, end
    return watermark - POLL_OVERLAP, None


def resize_slice(channel: Channel, *, finished: bool) -> None:
    seconds = cache.get(_slice_key(channel), SLICE.total_seconds())
    if finished:
        seconds = min(seconds * 2, SLICE.total_seconds())
    else:
        seconds = max(seconds / 2, SMALLEST_SLICE.total_seconds())
    cache.set(_slice_key(channel), seconds, timeout=None)


def orders_updated(
    channel: Channel, since: datetime, until: datetime | None, client=None
) -> Iterator[PolledOrder]:
    """Orders updated in [since, until) (never by creation time: cancellations and shipments
    of older orders would be missed)."""
    client = client or client_for(channel)
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
        except amazon.AmazonThrottled as error:
            raise PollSkipped(f"searchOrders ran out of budget mid-window: {error}") from error
        yield PolledOrder(
            id=str(order["orderId"]),
            updated_stamp=str(order.get("lastUpdatedTime")),
            updated=parse_datetime(str(order.get("lastUpdatedTime") or "")),
            placed=parse_datetime(str(order.get("createdTime") or "")),
            body=order,
            topic="order",
        )
