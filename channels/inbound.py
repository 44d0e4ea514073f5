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

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from inventory_sync.lib.errors import DomainError
from inventory_sync.lib.locks import lock_rows

from . import claims, customers, orders
from .inbox import INBOUND_CHANGED, Deferred, Stored, retry_quarantined, store
from .lanes.base import ClaimKeys, PayloadError
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
# lookups over many, few enough that an event arriving as a claim starts waits little.
CLAIM_SIZE = settings.INGEST_CLAIM_SIZE


def process_pending(*, limit: int = 200, now: datetime | None = None) -> int:
    """Apply up to about `limit` waiting events, oldest first; returns how many were handled.

    Taken with SKIP LOCKED so several workers (processes, machines) share the queue. Events a
    lane can apply in a shared claim go CLAIM_SIZE to a transaction (channels.claims); the
    others one to a transaction. Within a claim in id order; two events of one order in two
    workers serialise on the order's row (its snapshot's time then decides: an older one
    never overwrites a newer).
    """
    now = now or timezone.now()
    handled = 0
    while handled < limit:
        done = process_claim(now=now)
        if not done:
            break
        handled += done
    # The customers of the orders just applied (and any a worker that died left behind).
    while customers.match_pending() == customers.MATCH_BATCH:
        pass
    alone = _waiting_alone(limit, now)
    older = _supersede_alone(alone, now)
    handled += len(older)
    for event_id in alone:
        if event_id not in older:
            handled += process_one(event_id)
    return handled


def _supersede_alone(ids: list[int], now: datetime) -> set[int]:
    """The older events of a superseding key among events applied alone, settled in one
    statement (a claim settles its own: channels.claims.superseded)."""
    events = InboundEvent.objects.select_related("channel").filter(
        pk__in=ids, status=InboundEvent.Status.RECEIVED, topic__in=superseding_topics()
    )
    keyed = [
        claims.Claimed(event, _payload_or_none(event), ClaimKeys())
        for event in events
        if event.topic in lane_for_kind(event.channel.kind).supersede_keys
    ]
    older = claims.superseded(keyed)
    if older:
        InboundEvent.objects.filter(pk__in=older, status=InboundEvent.Status.RECEIVED).update(
            status=InboundEvent.Status.IGNORED, outcome=SUPERSEDED, processed_at=now
        )
    return older


def _payload_or_none(event: InboundEvent):
    try:
        return json.loads(bytes(event.body))
    except ValueError:
        return None


def _waiting_alone(limit: int, now: datetime) -> list[int]:
    """Up to `limit` waiting events due now that are applied one to a transaction (those of
    topics without claim keys), fresh ones first, oldest first."""
    alone = InboundEvent.objects.filter(status__in=_PENDING).exclude(claims.claimable_events())
    ids = list(
        alone.filter(next_attempt_at__isnull=True)
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    if len(ids) < limit:
        ids += list(
            alone.filter(next_attempt_at__lte=now)
            .order_by("id")
            .values_list("id", flat=True)[: limit - len(ids)]
        )
    return ids


class _Redo(Exception):
    """An event of a claim applied without savepoints raised: the claim is rolled back and
    applied again, each event in a savepoint of its own."""


def process_claim(ids: list[int] | None = None, *, now: datetime | None = None) -> int:
    """Claim up to CLAIM_SIZE waiting events (of `ids`, when given) and apply them in one
    transaction; returns how many were handled (0: none waiting that another worker does not
    hold).

    First without a savepoint per event (two round trips each saved, and in a flash sale
    nearly every event simply applies); should any event raise, the whole claim is rolled
    back and applied again with a savepoint per event, so each ends applied, quarantined or
    failed by itself. Should the claim's transaction itself fail (the connection lost), its
    events are tried again one by one.
    """
    now = now or timezone.now()
    attempted: list[int] = []
    try:
        try:
            return _apply_claim(now, ids, attempted, isolated=False)
        except _Redo:
            return _apply_claim(now, ids, attempted, isolated=True)
        except _AllHeld:
            # Everything this claim took waits on another transaction (the planner on the
            # same few SKUs): wait for it, rather than leave the inbox for the next ring.
            try:
                return _apply_claim(now, ids, attempted, isolated=False, wait=True)
            except _Redo:
                return _apply_claim(now, ids, attempted, isolated=True, wait=True)
    except Exception:  # noqa: BLE001 — each event kept and tried again on its own
        logger.exception(
            "ingest claim of %d events failed; applying them one by one", len(attempted)
        )
        return sum(process_one(event_id) for event_id in attempted)


class _AllHeld(Exception):
    """Every event the claim took needs a row another transaction holds."""


def _apply_claim(
    now: datetime, ids, attempted: list[int], *, isolated: bool, wait: bool = False
) -> int:
    with claims.in_claim():
        claimed, all_held = claims.lock_claim(now, CLAIM_SIZE, ids=ids, wait=wait)
        if all_held:
            raise _AllHeld
        attempted[:] = [item.event.pk for item in claimed]
        older = claims.superseded(claimed)
        apply = _apply_claimed if isolated else _apply_claimed_unguarded
        applied = set()
        for item in claimed:
            if item.event.pk in older:
                _settle(item.event, InboundEvent.Status.IGNORED, SUPERSEDED)
                continue
            customers.applying(item.event.pk)
            if apply(item) == _APPLIED:
                applied.add(item.event.pk)
        customers.defer_claimed()
        claims.date_causes(claimed, applied)
        _record_outcomes([item.event for item in claimed])
    return len(claimed)


SUPERSEDED = "superseded by a newer level of the same item"


def _apply_claimed_unguarded(item: claims.Claimed) -> str:
    event = item.event
    event.attempts += 1
    try:
        status, detail = _apply(event, item.payload)
    except Exception as error:
        raise _Redo from error
    _settle(event, status, detail)
    return status


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


def _apply_claimed(item: claims.Claimed) -> str:
    event = item.event
    event.attempts += 1
    try:
        status, detail, retry_after = _apply_in_savepoint(event, item.payload)
    except Exception as error:  # noqa: BLE001 — a poison event: its savepoint is rolled back
        logger.exception(
            "inbound event %s failed",
            event.pk,
            extra={"inbound_event_id": event.pk, "channel_id": event.channel_id},
        )
        status, detail, retry_after = (
            InboundEvent.Status.FAILED, f"{type(error).__name__}: {error}", None
        )  # fmt: skip
    _settle(event, status, detail, retry_after=retry_after)
    return status


def _apply_in_savepoint(
    event: InboundEvent, payload: dict | None = None
) -> tuple[str, str, float | None]:
    """Apply the event in a savepoint of its own: (status, detail, retry after seconds).
    A non-retryable domain error or any other exception is raised, its savepoint rolled back."""
    rolled_back = True
    try:
        with transaction.atomic():
            # An event applied alone reads its own body.
            status, detail = _apply(event) if payload is None else _apply(event, payload)
        rolled_back = False
    except orders.Quarantine as error:
        return InboundEvent.Status.QUARANTINED, error.detail, None
    except Deferred as error:
        # Not a failure (nothing for a person to look at): still waiting, due later.
        return InboundEvent.Status.RECEIVED, error.detail, error.retry_after
    except DomainError as error:
        if not error.retryable:
            raise
        return InboundEvent.Status.FAILED, error.detail, None
    finally:
        if rolled_back:
            customers.forget_matches_of(event.pk)  # its orders went with the savepoint
    return status, detail, None


_APPLIED = InboundEvent.Status.APPLIED


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
            status, detail, retry_after = _apply_in_savepoint(event)
            _finish(event, status, detail, retry_after=retry_after)
        return True
    except Exception as error:  # noqa: BLE001 — kept for retry, never lost
        logger.exception("inbound event %s failed", event_id, extra={"inbound_event_id": event_id})
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
