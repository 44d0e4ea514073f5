"""The dashboard's charts: what the last hours and days looked like, drawn server-side.

Each chart is a list of (label, value) points, oldest first, every bucket present (a day
without drift is a 0, not a gap). Sync latency reads the last day's pushes by hour; drift,
oversells and sales read the last two weeks by day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from allocation.models import OversellIncident
from channels.health import grouped_latency
from channels.models import Channel, ChannelOrder, PushAttempt
from reconciliation.models import Drift

DAYS = 14
HOURS = 24


@dataclass(frozen=True, slots=True)
class Chart:
    key: str
    title: str
    unit: str
    points: list[tuple[str, float]]


def dashboard_charts(now: datetime | None = None) -> list[Chart]:
    now = timezone.localtime(now or timezone.now())
    channels = list(Channel.objects.order_by("priority", "code"))
    start = (now - timedelta(days=DAYS - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    charts = _latency(channels, now)
    drift = _by_day(Drift.objects, "detected_at", start)
    charts.append(_daily("drift", "Drift found a day", drift, None, start))
    oversells = _by_day(OversellIncident.objects, "opened_at", start)
    charts.append(_daily("oversells", "Oversells opened a day", oversells, None, start))
    # Every channel's orders in one query, whatever the number of channels.
    orders = _by_day(ChannelOrder.objects, "placed_at", start, group="channel_id")
    for channel in channels:
        title = f"Orders a day, {channel.name}"
        charts.append(_daily(f"sales:{channel.code}", title, orders, channel.pk, start))
    return charts


def _latency(channels: list[Channel], now: datetime) -> list[Chart]:
    """p95 push latency by hour of each channel that pushed in the last day: the figures a
    person compares with the channel's target."""
    start = (now - timedelta(hours=HOURS - 1)).replace(minute=0, second=0, microsecond=0)
    found = hourly_p95(start)
    charts = []
    for channel in channels:
        if not any(key[0] == channel.pk for key in found):
            continue
        points = []
        for n in range(HOURS):
            hour = start + timedelta(hours=n)
            p95 = found.get((channel.pk, hour))
            points.append((hour.strftime("%H:00"), (p95 or 0) / 1000))
        charts.append(
            Chart(
                f"latency:{channel.code}", f"Sync latency p95 by hour, {channel.name}", "s", points
            )
        )
    return charts


def hourly_p95(start: datetime) -> dict[tuple[int, datetime], int]:
    """(channel id, hour in the active time zone) -> p95 push latency in ms since `start`."""
    timed = PushAttempt.objects.filter(started_at__gte=start, latency_ms__isnull=False)
    found = grouped_latency(
        timed.annotate(hour=TruncHour("started_at")), ["channel_id", "hour"], (0.95,)
    )
    return {key: p95 for key, (p95,) in found.items()}


def _by_day(rows, field: str, start: datetime, *, group: str | None = None) -> dict:
    """(group value or None, local date) -> rows counted since `start`."""
    keys = [group, "day"] if group else ["day"]
    counted = (
        rows.filter(**{f"{field}__gte": start})
        .annotate(day=TruncDay(field))
        .values(*keys)
        .annotate(n=Count("id"))
        .order_by()
    )
    return {(row[group] if group else None, row["day"].date()): row["n"] for row in counted}


def _daily(key: str, title: str, counted: dict, group, start: datetime) -> Chart:
    """Every day of the window, a day without rows a 0."""
    points = []
    for n in range(DAYS):
        day = (start + timedelta(days=n)).date()
        points.append((day.strftime("%b %d"), counted.get((group, day), 0)))
    return Chart(key, title, "", points)
