"""Channel health for the console: is the lane alive, how fast, how throttled, what failed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Aggregate, Count, F, IntegerField, Max, OuterRef, Q, Subquery
from django.utils import timezone

from .models import (
    ATTENTION,
    Channel,
    InboundEvent,
    Listing,
    OrderShipment,
    PushAttempt,
    WorkerHeartbeat,
)

WINDOW = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class ChannelHealth:
    channel: Channel
    last_webhook_at: datetime | None
    last_push_at: datetime | None
    pushes: int
    latency_p50_ms: int | None
    latency_p95_ms: int | None
    throttled_calls: int
    failed_pushes: int
    inbound_waiting: int
    inbound_quarantined: int
    listings: int
    listings_due: int
    listings_held: int
    # Shipments we made that the channel has not confirmed yet; failing: tried at least once
    # (each failure waits for its retry); refused: the channel said no, a person must look.
    shipments_waiting: int = 0
    shipments_failing: int = 0
    shipments_refused: int = 0

    @property
    def latency_target_ms(self) -> int:
        targets = settings.SYNC_LATENCY_TARGET_SECONDS
        return int(targets.get(self.channel.kind, targets["default"]) * 1000)

    @property
    def latency_state(self) -> str:
        """ok within the channel kind's target (SYNC_LATENCY_TARGET_SECONDS), warn within
        twice it, bad beyond; idle without a push in the hour."""
        if self.latency_p95_ms is None:
            return "idle"
        if self.latency_p95_ms <= self.latency_target_ms:
            return "ok"
        return "warn" if self.latency_p95_ms <= 2 * self.latency_target_ms else "bad"


def percentile(values: list[int], fraction: float) -> int | None:
    """Nearest-rank percentile (no interpolation: every figure is a real push)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]


class _PercentileDisc(Aggregate):
    """PostgreSQL's nearest-rank percentile: the same figure as `percentile`."""

    function = "PERCENTILE_DISC"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = IntegerField()

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=fraction, **extra)


def latency_percentiles(since: datetime) -> dict[int, tuple[int, int]]:
    """Channel id -> (p50, p95) push latency in ms of the pushes started since `since`."""
    timed = PushAttempt.objects.filter(started_at__gte=since, latency_ms__isnull=False)
    found = grouped_latency(timed, ["channel_id"], (0.5, 0.95))
    return {channel_id: figures for (channel_id,), figures in found.items()}


def grouped_latency(timed, keys: list[str], fractions: tuple[float, ...]) -> dict[tuple, tuple]:
    """(the values of `keys`) -> the nearest-rank percentiles of `latency_ms` at `fractions`,
    for push attempts grouped by those keys (a column, or an annotation such as an hour)."""
    if connection.vendor == "postgresql":
        named = {f"p{n}": _PercentileDisc("latency_ms", f) for n, f in enumerate(fractions)}
        rows = timed.values(*keys).annotate(**named).order_by()
        return {tuple(row[k] for k in keys): tuple(row[name] for name in named) for row in rows}
    # SQLite (the demo) has no ordered-set aggregates; its push history is small.
    values: dict[tuple, list[int]] = {}
    for *key, latency in timed.values_list(*keys, "latency_ms"):
        values.setdefault(tuple(key), []).append(latency)
    return {
        key: tuple(percentile(found, fraction) for fraction in fractions)
        for key, found in values.items()
    }


def channel_health(channel: Channel, *, now: datetime | None = None) -> ChannelHealth:
    return channels_health([channel], now=now)[0]


def channels_health(channels: list[Channel], *, now: datetime | None = None) -> list[ChannelHealth]:
    """Each channel's health in a fixed number of queries, whatever the number of channels;
    each reads the last hour's pushes or what waits, never a channel's whole history."""
    since = (now or timezone.now()) - WINDOW
    ids = [channel.pk for channel in channels]
    pushes = push_counts(ids, since)
    latency = latency_percentiles(since)
    inbound = _grouped(
        InboundEvent.objects.filter(
            channel__in=ids, status__in=["received", "failed", "quarantined"]
        ),
        "channel_id",
        waiting=Count("id", filter=Q(status__in=["received", "failed"])),
        quarantined=Count("id", filter=Q(status="quarantined")),
    )
    listings = listing_attention(ids)
    for channel_id, total in listing_totals(ids).items():
        listings.setdefault(channel_id, {})["total"] = total
    shipments = _grouped(
        OrderShipment.objects.filter(order__channel__in=ids).exclude(
            status=OrderShipment.Status.CONFIRMED
        ),
        "order__channel_id",
        waiting=Count("id", filter=Q(status=OrderShipment.Status.PENDING)),
        failing=Count("id", filter=Q(status=OrderShipment.Status.PENDING, attempts__gt=0)),
        refused=Count("id", filter=Q(status=OrderShipment.Status.REFUSED)),
    )
    latest = _latest(ids)
    return [
        _health(
            channel,
            pushes.get(channel.pk, {}),
            latency.get(channel.pk, (None, None)),
            inbound.get(channel.pk, {}),
            listings.get(channel.pk, {}),
            shipments.get(channel.pk, {}),
            latest.get(channel.pk, (None, None)),
        )
        for channel in channels
    ]


def push_counts(channel_ids: list[int], since: datetime) -> dict[int, dict]:
    """Channel id -> the pushes started since `since`: how many, how many throttled, how many
    failed (refused, failing, or answered with an error), and the last acknowledgement."""
    return _grouped(
        PushAttempt.objects.filter(channel__in=channel_ids, started_at__gte=since),
        "channel_id",
        pushes=Count("id"),
        throttled=Count("id", filter=Q(throttled__gt=0)),
        failed=Count("id", filter=Q(status__in=["failed", "refused"]) | ~Q(error="")),
        last=Max("finished_at", filter=Q(status="acknowledged")),
    )


def listing_attention(channel_ids: list[int]) -> dict[int, dict]:
    """Channel id -> listings due for a push and listings held back (a hold or an error),
    read through the index of listings needing attention (a few among many)."""
    return _grouped(
        Listing.objects.filter(ATTENTION, channel__in=channel_ids, is_active=True),
        "channel_id",
        # An FBA listing shows Amazon's own count: we never push it, so it is never due.
        due=Count(
            "id",
            filter=Q(desired_version__gt=F("pushed_version"))
            & ~Q(fulfilment=Listing.Fulfilment.FBA),
        ),
        held=Count("id", filter=Q(push_held_until__isnull=False) | ~Q(push_error="")),
    )


# Counting every listing of every channel reads the whole table (10 ms at 50,000); the total
# changes only with a mapping import, so the channel pages reuse it for this long.
LISTING_TOTALS_FOR = 60


def listing_totals(channel_ids: list[int]) -> dict[int, int]:
    """Channel id -> active listings, at most LISTING_TOTALS_FOR seconds old."""
    key = "channels:listing-totals"
    totals = cache.get(key)
    if totals is None:
        rows = Listing.objects.filter(is_active=True).values("channel_id").annotate(n=Count("id"))
        totals = {row["channel_id"]: row["n"] for row in rows.order_by()}
        cache.set(key, totals, LISTING_TOTALS_FOR)
    return {channel_id: totals.get(channel_id, 0) for channel_id in channel_ids}


def _grouped(rows, key: str, **aggregates) -> dict[int, dict]:
    return {row[key]: row for row in rows.values(key).annotate(**aggregates).order_by()}


def _latest(ids: list[int]) -> dict[int, tuple[datetime | None, datetime | None]]:
    """Each channel's latest event pushed to us (a Shopify webhook or an SP-API notification,
    not our own polls) and latest acknowledged push, newest rows first: an active channel
    reads a handful of rows for each."""
    webhook = (
        InboundEvent.objects.filter(channel=OuterRef("pk"), source__in=("webhook", "notification"))
        .order_by("-id")
        .values("received_at")[:1]
    )
    pushed = (
        PushAttempt.objects.filter(channel=OuterRef("pk"), status="acknowledged")
        .order_by("-id")
        .values("finished_at")[:1]
    )
    rows = (
        Channel.objects.filter(pk__in=ids)
        .annotate(webhook=Subquery(webhook), pushed=Subquery(pushed))
        .values_list("pk", "webhook", "pushed")
    )
    return {pk: (webhook_at, pushed_at) for pk, webhook_at, pushed_at in rows}


def _health(channel, pushes, latency, inbound, listings, shipments, latest) -> ChannelHealth:
    last_webhook, last_acknowledged = latest
    return ChannelHealth(
        channel=channel,
        last_webhook_at=last_webhook,
        last_push_at=pushes.get("last") or last_acknowledged,
        pushes=pushes.get("pushes", 0),
        latency_p50_ms=latency[0],
        latency_p95_ms=latency[1],
        throttled_calls=pushes.get("throttled", 0),
        failed_pushes=pushes.get("failed", 0),
        inbound_waiting=inbound.get("waiting", 0),
        inbound_quarantined=inbound.get("quarantined", 0),
        listings=listings.get("total", 0),
        listings_due=listings.get("due", 0),
        listings_held=listings.get("held", 0),
        shipments_waiting=shipments.get("waiting", 0),
        shipments_failing=shipments.get("failing", 0),
        shipments_refused=shipments.get("refused", 0),
    )


# A worker writes its heartbeat at most this often (one row per kind, not one write per round).
HEARTBEAT_EVERY = timedelta(seconds=15)
_last_beats: dict[str, datetime] = {}


def beat(kind: str, *, now: datetime | None = None) -> None:
    """Record that a worker of `kind` (planner, ingest, push:<channel id>) finished a round:
    the dead-man switch reads these to tell a stalled pipeline from a quiet channel."""
    now = now or timezone.now()
    last = _last_beats.get(kind)
    if last is not None and now - last < HEARTBEAT_EVERY:
        return
    WorkerHeartbeat.objects.update_or_create(kind=kind, defaults={"beat_at": now})
    _last_beats[kind] = now


# Beat sends a heartbeat task through each worker queue this often (settings.WORKER_QUEUES);
# one older than STALE_AFTER means no worker took that queue's last few.
QUEUE_BEAT_EVERY = timedelta(seconds=30)
STALE_AFTER = QUEUE_BEAT_EVERY * 3 + HEARTBEAT_EVERY
QUEUE_PREFIX = "queue:"


def queue_kind(queue: str) -> str:
    return f"{QUEUE_PREFIX}{queue}"


@dataclass(frozen=True, slots=True)
class WorkerBeat:
    kind: str
    label: str
    beat_at: datetime | None
    age: timedelta | None
    # Only a queue's heartbeat comes on a schedule; a loop beats only while it has work.
    stale: bool


def worker_heartbeats(*, now: datetime | None = None) -> list[WorkerBeat]:
    """The last heartbeat of each worker queue (never seen ones included) and of each loop."""
    now = now or timezone.now()
    beats = dict(WorkerHeartbeat.objects.values_list("kind", "beat_at"))
    names = dict(Channel.objects.values_list("id", "name"))
    rows = []
    for queue in settings.WORKER_QUEUES:
        at = beats.pop(queue_kind(queue), None)
        age = now - at if at else None
        rows.append(
            WorkerBeat(
                queue_kind(queue), f"{queue} queue", at, age, age is None or age > STALE_AFTER
            )
        )
    for kind, at in sorted(beats.items()):
        label = f"{kind} loop"
        if kind.startswith("push:") and kind[5:].isdigit():
            label = f"pusher of {names.get(int(kind[5:]), kind)}"
        rows.append(WorkerBeat(kind, label, at, now - at, False))
    return rows
