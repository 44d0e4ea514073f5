"""The figures /metrics exposes, read from the database and the broker at scrape time.

Every series is labelled by channel code (or worker, or queue). Figures about pushes cover
the last hour (`_last_hour` in the name, the push latency histogram a gauge histogram of that
hour): a cumulative counter would have to count every push ever recorded at each scrape, and
the attempts table is never pruned. The rest are the state now: what waits, what is open,
what is halted, how old the oldest thing is.

Each query is bounded by an index or by the size of something an operator watches (channels,
listings, the waiting backlog), never by the ledger's or the attempts' history.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from django.db.models import Count, F, Min, Q, Sum
from django.utils import timezone
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from allocation.models import OversellIncident, SalesHalt
from channels.backlog import inbound_backlog
from channels.health import worker_heartbeats
from channels.models import ATTENTION, Channel, InboundEvent, Listing, PushAttempt
from reconciliation.models import DeadManEpisode, Drift

from .queues import queue_depths

PREFIX = "inventory_sync"
WINDOW = timedelta(hours=1)
# Push latency buckets, seconds: the target is under one second, Amazon's feeds take minutes.
LATENCY_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
OPEN_DRIFT = (Drift.Resolution.OPEN, Drift.Resolution.HALTED)


class InventorySyncCollector(Collector):
    """A prometheus_client collector: each scrape reads the figures afresh."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        channels = list(Channel.objects.order_by("code"))
        codes = {channel.pk: channel.code for channel in channels}
        yield from push_metrics(codes, now)
        yield from listing_metrics(codes, now)
        yield from inbound_metrics(channels, now)
        yield from reconciliation_metrics(codes, now)
        yield from worker_metrics(now)
        yield from queue_metrics()


def _gauge(name: str, documentation: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", documentation, labels=labels)


def push_metrics(codes: dict[int, str], now: datetime) -> Iterator[Metric]:
    recent = PushAttempt.objects.filter(started_at__gte=now - WINDOW)
    outcomes = _gauge(
        "pushes_last_hour",
        "Calls that set quantities on a channel, by outcome.",
        ["channel", "outcome"],
    )
    for row in recent.values("channel_id", "status").annotate(n=Count("id")).order_by():
        outcomes.add_metric([codes[row["channel_id"]], row["status"]], row["n"])
    throttled = _gauge(
        "throttled_calls_last_hour",
        "Push calls the channel throttled, retries included.",
        ["channel"],
    )
    for row in recent.values("channel_id").annotate(n=Sum("throttled")).order_by():
        throttled.add_metric([codes[row["channel_id"]]], row["n"] or 0)
    yield outcomes
    yield throttled
    yield push_latency_histogram(recent, codes)


def push_latency_histogram(recent, codes: dict[int, str]) -> GaugeHistogramMetricFamily:
    """Oldest ledger change behind a push to its acknowledgement, the last hour's pushes."""
    bounds = {
        f"le_{n}": Count("id", filter=Q(latency_ms__lte=b * 1000))
        for n, b in enumerate(LATENCY_BUCKETS)
    }
    rows = (
        recent.filter(latency_ms__isnull=False)
        .values("channel_id")
        .annotate(total=Count("id"), sum_ms=Sum("latency_ms"), **bounds)
        .order_by()
    )
    family = GaugeHistogramMetricFamily(
        f"{PREFIX}_push_latency_seconds",
        "Ledger change to the channel's acknowledgement, acknowledged pushes of the last hour.",
        labels=["channel"],
    )
    for row in rows:
        buckets = [(floatToGoString(b), row[f"le_{n}"]) for n, b in enumerate(LATENCY_BUCKETS)]
        buckets.append(("+Inf", row["total"]))
        family.add_metric([codes[row["channel_id"]]], buckets, (row["sum_ms"] or 0) / 1000)
    return family


def listing_metrics(codes: dict[int, str], now: datetime) -> Iterator[Metric]:
    """Listings whose quantity waits to be pushed, and how long the oldest change has waited:
    a late or stuck push shows here before it shows on the channel."""
    rows = (
        Listing.objects.filter(ATTENTION, is_active=True)
        .exclude(fulfilment=Listing.Fulfilment.FBA)  # Amazon counts those; we never push them
        .values("channel_id")
        .annotate(
            due=Count("id", filter=Q(desired_version__gt=F("pushed_version"))),
            held=Count("id", filter=Q(push_held_until__isnull=False) | ~Q(push_error="")),
            oldest=Min("desired_cause_at", filter=Q(desired_version__gt=F("pushed_version"))),
        )
        .order_by()
    )
    due = _gauge("listings_due", "Listings whose quantity is not pushed yet.", ["channel"])
    held = _gauge("listings_held", "Listings held back from pushing by an error.", ["channel"])
    age = _gauge(
        "oldest_due_change_age_seconds",
        "How long the oldest ledger change not yet pushed has waited (0: nothing due).",
        ["channel"],
    )
    for row in rows:
        code = codes[row["channel_id"]]
        due.add_metric([code], row["due"])
        held.add_metric([code], row["held"])
        waited = (now - row["oldest"]).total_seconds() if row["oldest"] else 0.0
        age.add_metric([code], max(waited, 0.0))
    yield from (due, held, age)


def inbound_metrics(channels: list[Channel], now: datetime) -> Iterator[Metric]:
    waiting = _gauge(
        "inbound_backlog_events", "Webhooks and notifications waiting to be applied.", ["channel"]
    )
    retrying = _gauge(
        "inbound_backlog_retrying_events", "Of the waiting, those backing off.", ["channel"]
    )
    oldest = _gauge(
        "inbound_backlog_oldest_age_seconds",
        "Age of the oldest waiting event (0: none).",
        ["channel"],
    )
    urgent = _gauge(
        "inbound_backlog_urgent",
        "1 when the oldest waiting event is older than the channel's push window.",
        ["channel"],
    )
    for backlog in inbound_backlog(now=now, channels=channels):
        code = [backlog.channel.code]
        waiting.add_metric(code, backlog.waiting)
        retrying.add_metric(code, backlog.retrying)
        oldest.add_metric(code, backlog.oldest_age_seconds or 0.0)
        urgent.add_metric(code, int(backlog.urgent))
    quarantined = _gauge(
        "inbound_quarantined_events", "Events set aside until a person maps them.", ["channel"]
    )
    ids = {channel.pk: channel.code for channel in channels}
    rows = (
        InboundEvent.objects.filter(status=InboundEvent.Status.QUARANTINED)
        .values("channel_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        quarantined.add_metric([ids[row["channel_id"]]], row["n"])
    yield from (waiting, retrying, oldest, urgent, quarantined)


def reconciliation_metrics(codes: dict[int, str], now: datetime) -> Iterator[Metric]:
    open_drift = _gauge(
        "drift_open", "Drift found and not resolved yet (open or halted).", ["channel"]
    )
    for row in _per_channel(Drift.objects.filter(resolution__in=OPEN_DRIFT)):
        open_drift.add_metric([codes[row["channel_id"]]], row["n"])
    found = _gauge("drift_found_last_hour", "Drift found in the last hour.", ["channel"])
    for row in _per_channel(Drift.objects.filter(detected_at__gte=now - WINDOW)):
        found.add_metric([codes[row["channel_id"]]], row["n"])
    halts = _gauge(
        "halts_active",
        "SKUs halted by a person or by reconciliation (channel all: everywhere).",
        ["channel"],
    )
    for row in _per_channel(SalesHalt.objects.filter(released_at__isnull=True)):
        halts.add_metric([codes.get(row["channel_id"], "all")], row["n"])
    incidents = _gauge("oversell_incidents_open", "SKUs with more committed than on hand.", [])
    incidents.add_metric(
        [], OversellIncident.objects.filter(status=OversellIncident.Status.OPEN).count()
    )
    tripped = _gauge(
        "dead_man_tripped",
        "1 while the channel's dead-man switch is tripped.",
        ["channel", "reason"],
    )
    open_episodes = dict(
        DeadManEpisode.objects.filter(cleared_at__isnull=True).values_list("channel_id", "reason")
    )
    for channel_id, code in codes.items():
        reason = open_episodes.get(channel_id)
        tripped.add_metric([code, reason or ""], 1 if reason else 0)
    yield from (open_drift, found, halts, incidents, tripped)


def _per_channel(rows):
    return rows.values("channel_id").annotate(n=Count("id")).order_by()


def worker_metrics(now: datetime) -> Iterator[Metric]:
    age = _gauge(
        "worker_heartbeat_age_seconds",
        "Since each worker queue or loop last reported (absent: never seen).",
        ["worker"],
    )
    stale = _gauge(
        "worker_stale", "1 when a worker queue's scheduled heartbeat is overdue.", ["worker"]
    )
    for beat in worker_heartbeats(now=now):
        if beat.age is not None:
            age.add_metric([beat.kind], beat.age.total_seconds())
        stale.add_metric([beat.kind], int(beat.stale))
    yield from (age, stale)


def queue_metrics() -> Iterator[Metric]:
    found = queue_depths()
    up = _gauge("broker_up", "1 when the broker answered this scrape.", [])
    up.add_metric([], int(found.reachable))
    depth = _gauge("queue_depth", "Tasks waiting in each worker queue.", ["queue"])
    for queue, count in found.depths.items():
        depth.add_metric([queue], count)
    yield from (up, depth)
