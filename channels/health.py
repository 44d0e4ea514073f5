"""Channel health for the console: is the lane alive, how fast, how throttled, what failed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, F, Max, Q
from django.utils import timezone

from .models import Channel, InboundEvent, Listing, OrderShipment, PushAttempt, WorkerHeartbeat

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


def percentile(values: list[int], fraction: float) -> int | None:
    """Nearest-rank percentile (no interpolation: every figure is a real push)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]


def channel_health(channel: Channel, *, now: datetime | None = None) -> ChannelHealth:
    since = (now or timezone.now()) - WINDOW
    attempts = PushAttempt.objects.filter(channel=channel, started_at__gte=since)
    latencies = list(
        attempts.filter(latency_ms__isnull=False).values_list("latency_ms", flat=True)[:10_000]
    )
    counts = attempts.aggregate(
        pushes=Count("id"),
        throttled=Count("id", filter=Q(throttled__gt=0)),
        failed=Count("id", filter=Q(status__in=["failed", "refused"]) | ~Q(error="")),
        last=Max("finished_at", filter=Q(status="acknowledged")),
    )
    inbound = InboundEvent.objects.filter(channel=channel).aggregate(
        # Pushed to us: a Shopify webhook or an SP-API notification (not our own polls).
        last=Max("received_at", filter=Q(source__in=("webhook", "notification"))),
        waiting=Count("id", filter=Q(status__in=["received", "failed"])),
        quarantined=Count("id", filter=Q(status="quarantined")),
    )
    listings = Listing.objects.filter(channel=channel, is_active=True).aggregate(
        total=Count("id"),
        # An FBA listing shows Amazon's own count: we never push it, so it is never due.
        due=Count(
            "id",
            filter=Q(desired_version__gt=F("pushed_version"))
            & ~Q(fulfilment=Listing.Fulfilment.FBA),
        ),
        held=Count("id", filter=Q(push_held_until__isnull=False) | ~Q(push_error="")),
    )
    shipments = OrderShipment.objects.filter(order__channel=channel).aggregate(
        waiting=Count("id", filter=Q(status=OrderShipment.Status.PENDING)),
        failing=Count("id", filter=Q(status=OrderShipment.Status.PENDING, attempts__gt=0)),
        refused=Count("id", filter=Q(status=OrderShipment.Status.REFUSED)),
    )
    return ChannelHealth(
        channel=channel,
        last_webhook_at=inbound["last"],
        last_push_at=counts["last"]
        or PushAttempt.objects.filter(channel=channel, status="acknowledged")
        .order_by("-id")
        .values_list("finished_at", flat=True)
        .first(),
        pushes=counts["pushes"],
        latency_p50_ms=percentile(latencies, 0.50),
        latency_p95_ms=percentile(latencies, 0.95),
        throttled_calls=counts["throttled"],
        failed_pushes=counts["failed"],
        inbound_waiting=inbound["waiting"],
        inbound_quarantined=inbound["quarantined"],
        listings=listings["total"],
        listings_due=listings["due"],
        listings_held=listings["held"],
        shipments_waiting=shipments["waiting"],
        shipments_failing=shipments["failing"],
        shipments_refused=shipments["refused"],
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
