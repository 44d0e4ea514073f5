"""What an operator acts on, for the dashboard: each signal with its count and its page, and
each channel's sync latency against its target.

The same sources as /metrics (channels, allocation, reconciliation), read for a person: a
signal exists only while something needs a look, and says where to look.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, F, Min
from django.urls import reverse
from django.utils import timezone

from allocation.models import OversellIncident, SalesHalt
from channels.health import latency_percentiles, push_counts, worker_heartbeats
from channels.models import Channel, ChannelOrder, InboundEvent, Listing
from insight import cover
from reconciliation.models import DeadManEpisode, Drift

# A change waiting this long for its push is late whatever the channel's window.
LATE_AFTER = timedelta(minutes=1)
RATE_WINDOW = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Signal:
    key: str  # stable, for tests and styling
    severity: str  # bad (act now) or warn (look today)
    text: str
    url: str | None


@dataclass(frozen=True, slots=True)
class ChannelLatency:
    channel: Channel
    target_seconds: float
    hour: tuple[float | None, float | None]  # p50, p95 in seconds; None: no push
    day: tuple[float | None, float | None]

    @property
    def state(self) -> str:
        """ok within the target, warn within twice it, bad beyond; p95 of the hour decides,
        the day's when the hour had no push."""
        p95 = self.hour[1] if self.hour[1] is not None else self.day[1]
        if p95 is None:
            return "idle"
        if p95 <= self.target_seconds:
            return "ok"
        return "warn" if p95 <= 2 * self.target_seconds else "bad"


@dataclass(frozen=True, slots=True)
class OversellRate:
    incidents: int
    orders: int

    @property
    def per_thousand(self) -> float | None:
        return 1000 * self.incidents / self.orders if self.orders else None


def operator_signals(now: datetime | None = None) -> list[Signal]:
    """Worst first: what stops or falsifies sales, then what waits for a person."""
    now = now or timezone.now()
    channels = list(Channel.objects.all())
    found = [*_state_signals(), *_recent_drift_signals(now), *_worker_signals(now)]
    found += _low_stock_signals()
    found += _push_signals(channels, now)
    return sorted(found, key=lambda signal: signal.severity != "bad")


def _count_signal(key, severity, count, one, many, url_name) -> list[Signal]:
    if not count:
        return []
    return [Signal(key, severity, (one if count == 1 else many).format(n=count), reverse(url_name))]


def _state_signals() -> list[Signal]:
    tripped = DeadManEpisode.objects.filter(cleared_at__isnull=True).count()
    incidents = OversellIncident.objects.filter(status=OversellIncident.Status.OPEN).count()
    drift = Drift.objects.filter(resolution=Drift.Resolution.OPEN).count()
    halts = SalesHalt.objects.filter(released_at__isnull=True).count()
    quarantined = InboundEvent.objects.filter(status=InboundEvent.Status.QUARANTINED).count()
    return [
        *_count_signal(
            "dead-man", "bad", tripped, "{n} channel's dead-man switch tripped",
            "{n} channels' dead-man switches tripped", "reconciliation:dead-man",
        ),
        *_count_signal(
            "incidents", "bad", incidents, "{n} SKU oversold", "{n} SKUs oversold",
            "channels:incident-list",
        ),
        *_count_signal(
            "drift", "warn", drift, "{n} drifted listing to review",
            "{n} drifted listings to review", "reconciliation:drift",
        ),
        *_count_signal(
            "halts", "warn", halts, "{n} sales halt active", "{n} sales halts active",
            "reconciliation:halts",
        ),
        *_count_signal(
            "quarantine", "warn", quarantined, "{n} channel event waits for a mapping",
            "{n} channel events wait for a mapping", "channels:quarantine",
        ),
    ]  # fmt: skip


# Drift resolved by itself (resynced) is still worth a look the same day: a listing that
# drifts is an integration or a person editing the channel by hand.
RECENT_DRIFT = timedelta(hours=24)
DRIFT_NAMED = 3  # listings named one by one; more are counted


def _recent_drift_signals(now: datetime) -> list[Signal]:
    recent = list(
        Drift.objects.filter(detected_at__gte=now - RECENT_DRIFT)
        .exclude(resolution=Drift.Resolution.OPEN)
        .select_related("channel", "sku")
        .order_by("-id")[: DRIFT_NAMED + 1]
    )
    if len(recent) > DRIFT_NAMED:
        count = Drift.objects.filter(detected_at__gte=now - RECENT_DRIFT).exclude(
            resolution=Drift.Resolution.OPEN
        )
        text = f"{count.count()} drift(s) found in the last 24 h"
        return [Signal("recent-drift", "warn", text, reverse("reconciliation:drift"))]
    return [
        Signal(
            f"recent-drift:{drift.listing_id}",
            "warn",
            f"{drift.sku.code} on {drift.channel.name} drifted: showed {drift.observed}, "
            f"expected {drift.expected} ({drift.get_resolution_display().lower()})",
            reverse("ledger:sku-detail", args=[drift.sku.code]),
        )
        for drift in {drift.listing_id: drift for drift in reversed(recent)}.values()
    ]


def _low_stock_signals() -> list[Signal]:
    # Insight's list, at most a minute old: not read again at every 10 s refresh of the panel.
    low = len(cover.cached_low_stock())
    return _count_signal(
        "low-stock", "warn", low, "{n} SKU runs out before a new order could arrive",
        "{n} SKU/locations run out before a new order could arrive", "insight:insight",
    )  # fmt: skip


def _worker_signals(now: datetime) -> list[Signal]:
    stale = [beat.label for beat in worker_heartbeats(now=now) if beat.stale]
    if not stale:
        return []
    return [Signal("workers", "bad", "No worker takes the " + ", ".join(stale), None)]


def _push_signals(channels: list[Channel], now: datetime) -> list[Signal]:
    """Per channel: pushes failing or throttled in the last hour, as the channel page counts
    them (channels.health), and changes waiting too long for their push."""
    found = []
    pushes = push_counts([channel.pk for channel in channels], now - timedelta(hours=1))
    for channel in channels:
        row = pushes.get(channel.pk, {})
        url = reverse("channels:channel-detail", args=[channel.code])
        if row.get("failed"):
            text = f"{channel.name}: {row['failed']} push(es) failed in the last hour"
            found.append(Signal(f"push-failed:{channel.code}", "bad", text, url))
        if row.get("throttled"):
            text = f"{channel.name}: {row['throttled']} push(es) throttled in the last hour"
            found.append(Signal(f"throttled:{channel.code}", "warn", text, url))
    by_id = {channel.pk: channel for channel in channels}
    late = (
        Listing.objects.filter(
            is_active=True,
            desired_version__gt=F("pushed_version"),
            desired_cause_at__lt=now - LATE_AFTER,
        )
        .exclude(fulfilment=Listing.Fulfilment.FBA)
        .values("channel_id")
        .annotate(n=Count("id"), oldest=Min("desired_cause_at"))
        .order_by()
    )
    for row in late:
        channel = by_id[row["channel_id"]]
        waited = now - row["oldest"]
        text = (
            f"{channel.name}: {row['n']} listing(s) not pushed, the oldest change waiting "
            f"{_duration(waited)}"
        )
        url = reverse("channels:channel-detail", args=[channel.code])
        found.append(Signal(f"late:{channel.code}", "bad", text, url))
    return found


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def sync_latency(now: datetime | None = None) -> list[ChannelLatency]:
    """p50 and p95 of ledger change to acknowledgement, last hour and last day, per channel."""
    now = now or timezone.now()
    hour = latency_percentiles(now - timedelta(hours=1))
    day = latency_percentiles(now - timedelta(days=1))
    targets = settings.SYNC_LATENCY_TARGET_SECONDS
    return [
        ChannelLatency(
            channel,
            targets.get(channel.kind, targets["default"]),
            _seconds(hour.get(channel.pk)),
            _seconds(day.get(channel.pk)),
        )
        for channel in Channel.objects.order_by("priority", "code")
    ]


def _seconds(found: tuple[int, int] | None) -> tuple[float | None, float | None]:
    return (found[0] / 1000, found[1] / 1000) if found else (None, None)


def oversell_rate(now: datetime | None = None) -> OversellRate:
    since = (now or timezone.now()) - RATE_WINDOW
    return OversellRate(
        incidents=OversellIncident.objects.filter(opened_at__gte=since).count(),
        orders=ChannelOrder.objects.filter(placed_at__gte=since).count(),
    )
