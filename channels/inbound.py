"""Inbound events: store every webhook / notification / poll result raw and at most once
(I3, I4), then apply it in a worker.

The webhook view only verifies, stores and answers; everything that can fail or wait (an
unknown SKU, an order not yet seen, a database hiccup) happens here, where a failure leaves
the row to be retried and a mapping problem leaves it quarantined, never dropped.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from inventory_sync.lib.errors import DomainError
from inventory_sync.lib.locks import lock_rows

from . import claims, orders
from .inbox import INBOUND_CHANGED, Deferred, Stored, retry_quarantined, store
from .lanes.base import PayloadError
from .lanes.registry import lane_for_kind, superseding_topics
from .models import InboundEvent

__all__ = [
    "INBOUND_CHANGED",
    "Deferred",
    "Stored",
    "process_one",
    "process_pending",
    "retry_quarantined",
    "store",
]

logger = logging.getLogger(__name__)

# Retry backoff for failed events: 2 s, 4 s, … capped at 10 minutes.
RETRY_BASE_SECONDS = 2
RETRY_CAP_SECONDS = 600


# Events applied in one transaction (channels.claims): enough to spread a commit and the
# lookups over many, few enough that the SKU locks are held for tens of milliseconds.
CLAIM_SIZE = 32


def process_pending(*, limit: int = 200, now: datetime | None = None) -> int:
    """Apply up to `limit` waiting events, oldest first; returns how many were handled.

    Taken with SKIP LOCKED so several workers (processes, machines) share the queue. Events a
    lane can apply in a shared claim go CLAIM_SIZE to a transaction (channels.claims); the
    others one to a transaction. Either way in id order within a worker, and two events of
    one order in two workers serialise on the order's row (its snapshot's time then decides:
    an older one never overwrites a newer).
    """
    now = now or timezone.now()
    waiting = _waiting(limit, now)
    superseded = _supersede_levels([pk for pk, _, _ in waiting], now)
    handled = len(superseded)
    claim: list[int] = []
    for event_id, kind, topic in waiting:
        if event_id in superseded:
            continue
        if claims.claimable(kind, topic):
            claim.append(event_id)
            if len(claim) < CLAIM_SIZE:
                continue
        handled += process_claim(claim)
        claim = []
        if not claims.claimable(kind, topic):
            handled += process_one(event_id)
    return handled + process_claim(claim)


def _waiting(limit: int, now: datetime) -> list[tuple[int, str, str]]:
    """Up to `limit` waiting events due now, oldest first: (id, channel kind, topic)."""
    fields = ("id", "channel__kind", "topic")
    rows = list(
        InboundEvent.objects.filter(status__in=_PENDING, next_attempt_at__isnull=True)
        .order_by("id")
        .values_list(*fields)[:limit]
    )
    if len(rows) < limit:
        rows += list(
            InboundEvent.objects.filter(status__in=_PENDING, next_attempt_at__lte=now)
            .order_by("id")
            .values_list(*fields)[: limit - len(rows)]
        )
    return rows


class _Redo(Exception):
    """An event of a claim applied without savepoints raised: the claim is rolled back and
    applied again, each event in a savepoint of its own."""


def process_claim(ids: list[int]) -> int:
    """Apply the events `ids` (those still waiting and not held by another worker) in one
    transaction; returns how many were handled.

    First without a savepoint per event (two round trips each saved, and in a flash sale
    nearly every event simply applies); should any event raise, the whole claim is rolled
    back and applied again with a savepoint per event, so each ends applied, quarantined or
    failed by itself. Should the claim's transaction itself fail (the connection lost), each
    event is tried again alone.
    """
    if not ids:
        return 0
    try:
        try:
            return _apply_claim(ids, isolated=False)
        except _Redo:
            return _apply_claim(ids, isolated=True)
    except Exception:  # noqa: BLE001 — each event kept and tried again on its own
        logger.exception("ingest claim of %d events failed; applying them one by one", len(ids))
        return sum(process_one(event_id) for event_id in ids)


def _apply_claim(ids: list[int], *, isolated: bool) -> int:
    with claims.in_claim():
        claimed = claims.lock_claim(ids)
        apply = _apply_claimed if isolated else _apply_claimed_unguarded
        finished = [apply(item) for item in claimed]
        claims.date_causes(
            claimed, {item.event.pk for item, status in finished if status == _APPLIED}
        )
        _record_outcomes([item.event for item in claimed])
    return len(claimed)


def _apply_claimed_unguarded(item: claims.Claimed) -> tuple[claims.Claimed, str]:
    event = item.event
    event.attempts += 1
    try:
        status, detail = _apply(event, item.payload)
    except Exception as error:
        raise _Redo from error
    _settle(event, status, detail)
    return item, status


def _record_outcomes(events: list[InboundEvent]) -> None:
    """Every event's outcome in one statement (the ORM's bulk_update builds a CASE per
    column and row, which costs more than the update)."""
    if connection.vendor != "postgresql":
        InboundEvent.objects.bulk_update(
            events, ["status", "outcome", "processed_at", "attempts", "next_attempt_at"]
        )
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {InboundEvent._meta.db_table} AS event SET status = outcome.status,"
            " outcome = outcome.detail, processed_at = outcome.processed_at,"
            " attempts = outcome.attempts, next_attempt_at = outcome.next_attempt_at"
            " FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::timestamptz[],"
            " %s::int[], %s::timestamptz[])"
            " AS outcome(id, status, detail, processed_at, attempts, next_attempt_at)"
            " WHERE event.id = outcome.id",
            [
                [event.pk for event in events],
                [event.status for event in events],
                [event.outcome for event in events],
                [event.processed_at for event in events],
                [event.attempts for event in events],
                [event.next_attempt_at for event in events],
            ],
        )


def _apply_claimed(item: claims.Claimed) -> tuple[claims.Claimed, str]:
    event = item.event
    event.attempts += 1
    retry_after = None
    try:
        with transaction.atomic():
            status, detail = _apply(event, item.payload)
    except orders.Quarantine as error:
        status, detail = InboundEvent.Status.QUARANTINED, error.detail
    except Deferred as error:
        status, detail = InboundEvent.Status.RECEIVED, error.detail
        retry_after = error.retry_after
    except DomainError as error:
        if error.retryable:
            status, detail = InboundEvent.Status.FAILED, error.detail
        else:
            status, detail = InboundEvent.Status.FAILED, f"{type(error).__name__}: {error}"
    except Exception as error:  # noqa: BLE001 — a poison event: its savepoint is rolled back
        logger.exception("inbound event %s failed", event.pk)
        status, detail = InboundEvent.Status.FAILED, f"{type(error).__name__}: {error}"
    _settle(event, status, detail, retry_after=retry_after)
    return item, status


_APPLIED = InboundEvent.Status.APPLIED


def _supersede_levels(ids: list[int], now: datetime) -> set[int]:
    """Where only the newest event of a key matters (a lane's supersede_keys: an item's level),
    older waiting ones are settled in one statement instead of one transaction each (our own
    pushes echo back by the hundred)."""
    newest: dict[tuple, tuple] = {}
    seen: list[tuple[tuple, tuple]] = []
    # Only events of a superseding topic are read (with their bodies): most of a batch is
    # orders, whose bodies this never needs.
    waiting = InboundEvent.objects.filter(
        pk__in=ids, status=InboundEvent.Status.RECEIVED, topic__in=superseding_topics()
    )
    for pk, channel_id, kind, topic, body, occurred_at, received_at in waiting.values_list(
        "id", "channel_id", "channel__kind", "topic", "body", "occurred_at", "received_at"
    ):
        key_of = lane_for_kind(kind).supersede_keys.get(topic)
        if key_of is None:
            continue
        try:
            key = key_of(json.loads(bytes(body)))
        except ValueError:
            key = None
        if key is None:
            continue  # left for the handler, which quarantines it with a reason
        key = (channel_id, topic, *key)
        rank = (occurred_at or received_at, pk)
        seen.append((key, rank))
        if key not in newest or rank > newest[key]:
            newest[key] = rank
    superseded = {rank[1] for key, rank in seen if rank != newest[key]}
    if superseded:
        InboundEvent.objects.filter(pk__in=superseded, status=InboundEvent.Status.RECEIVED).update(
            status=InboundEvent.Status.IGNORED,
            outcome="superseded by a newer level of the same item",
            processed_at=now,
        )
    return superseded


def process_one(event_id: int) -> bool:
    # What needs a call to the channel (an edited order is read back) is read before the
    # transaction: no row lock or open transaction waits on the network.
    prefetched = _read_first(event_id)
    try:
        with transaction.atomic():
            event = lock_rows(
                InboundEvent.objects.select_related("channel", "channel__default_location").filter(
                    pk=event_id, status__in=_PENDING
                ),
                skip_locked=True,
            ).first()
            if event is None:
                return False
            if prefetched is not _NOTHING:
                event.prefetched = prefetched
            event.attempts += 1
            retry_after = None
            try:
                with transaction.atomic():
                    status, detail = _apply(event)
            except orders.Quarantine as error:
                status, detail = InboundEvent.Status.QUARANTINED, error.detail
            except Deferred as error:
                # Not a failure (nothing for a person to look at): still waiting, due later.
                status, detail = InboundEvent.Status.RECEIVED, error.detail
                retry_after = error.retry_after
            except DomainError as error:
                if not error.retryable:
                    raise
                status, detail = InboundEvent.Status.FAILED, error.detail
            _finish(event, status, detail, retry_after=retry_after)
        return True
    except Exception as error:  # noqa: BLE001 — kept for retry, never lost
        logger.exception("inbound event %s failed", event_id)
        with transaction.atomic():
            # Another worker may have applied it once our aborted transaction let go of it.
            event = lock_rows(
                InboundEvent.objects.filter(pk=event_id, status__in=_PENDING), skip_locked=True
            ).first()
            if event is not None:
                event.attempts += 1
                _finish(event, InboundEvent.Status.FAILED, f"{type(error).__name__}: {error}")
        return True


_NOTHING = object()


def _read_first(event_id: int):
    peek = (
        InboundEvent.objects.filter(pk=event_id, status__in=_PENDING)
        .select_related("channel")
        .only("id", "topic", "body", "channel")
        .first()
    )
    if peek is None:
        return _NOTHING
    reader = lane_for_kind(peek.channel.kind).prefetchers.get(peek.topic)
    if reader is None:
        return _NOTHING
    try:
        payload = json.loads(bytes(peek.body))
    except ValueError:
        return _NOTHING  # the handler quarantines it with the reason
    try:
        return reader(peek.channel, payload)
    except Exception as error:  # noqa: BLE001 — raised again inside, where failures are kept
        return error


_PENDING = (InboundEvent.Status.RECEIVED, InboundEvent.Status.FAILED)


def _finish(
    event: InboundEvent, status: str, detail: str, *, retry_after: float | None = None
) -> None:
    _settle(event, status, detail, retry_after=retry_after)
    event.save(update_fields=["status", "outcome", "processed_at", "attempts", "next_attempt_at"])


def _settle(
    event: InboundEvent, status: str, detail: str, *, retry_after: float | None = None
) -> None:
    event.status = status
    event.outcome = detail[:4000]
    event.processed_at = timezone.now()
    if retry_after is not None:
        event.next_attempt_at = event.processed_at + timedelta(seconds=retry_after)
    elif status == InboundEvent.Status.FAILED:
        backoff = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2 ** min(event.attempts - 1, 12))
        event.next_attempt_at = event.processed_at + timedelta(seconds=backoff)
    else:
        event.next_attempt_at = None


def _apply(event: InboundEvent, payload: dict | None = None) -> tuple[str, str]:
    handler = lane_for_kind(event.channel.kind).inbound_handlers.get(event.topic)
    if handler is None:
        return InboundEvent.Status.IGNORED, f"no handler for {event.channel.kind} {event.topic}"
    if payload is None:
        try:
            payload = json.loads(bytes(event.body))
        except ValueError as error:
            return InboundEvent.Status.QUARANTINED, f"body is not JSON: {error}"
    try:
        return handler(event.channel, payload, event)
    except PayloadError as error:
        return InboundEvent.Status.QUARANTINED, str(error)
