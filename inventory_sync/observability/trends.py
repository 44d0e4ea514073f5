"""The dashboard's charts: what the last hours and days looked like, drawn server-side.

Each chart is a list of (label, value) points, oldest first, every bucket present (a day
without drift is a 0, not a gap). Sync latency reads the last day's pushes by hour; drift,
oversells and sales read the last two weeks by day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Count
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from allocation.models import OversellIncident
from channels.health import PercentileDisc, percentile
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
    charts = _latency(channels, now)
    charts.append(_daily("drift", "Drift found a day", Drift.objects, "detected_at", now))
    charts.append(
        _daily("oversells", "Oversells opened a day", OversellIncident.objects, "opened_at", now)
    )
    for channel in channels:
        orders = ChannelOrder.objects.filter(channel=channel)
        charts.append(
            _daily(
                f"sales:{channel.code}", f"Orders a day, {channel.name}", orders, "placed_at", now
            )
        )
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
    if connection.vendor == "postgresql":
        rows = (
            timed.annotate(hour=TruncHour("started_at"))
            .values("channel_id", "hour")
            .annotate(p95=PercentileDisc("latency_ms", 0.95))
            .order_by()
        )
        return {(row["channel_id"], row["hour"]): row["p95"] for row in rows}
    # SQLite (the demo) has no ordered-set aggregates; its push history is small.
    values: dict[tuple[int, datetime], list[int]] = {}
    for channel_id, started, latency in timed.values_list("channel_id", "started_at", "latency_ms"):
        hour = timezone.localtime(started).replace(minute=0, second=0, microsecond=0)
        values.setdefault((channel_id, hour), []).append(latency)
    return {key: percentile(found, 0.95) for key, found in values.items()}


def _daily(key: str, title: str, rows, field: str, now: datetime) -> Chart:
    start = (now - timedelta(days=DAYS - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    counted = dict(
        rows.filter(**{f"{field}__gte": start})
        .annotate(day=TruncDay(field))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
        .order_by()
    )
    by_date = {day.date(): n for day, n in counted.items()}
    points = []
    for n in range(DAYS):
        day = (start + timedelta(days=n)).date()
        points.append((day.strftime("%b %d"), by_date.get(day, 0)))
    return Chart(key, title, "", points)
