"""Writes to the ledger. `record_event` and `record_events` are the only way stock changes.

The rules of each event kind live in ledger.rules; the statements and the lock order in
ledger.writer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from django.db import transaction

from inventory_sync.lib import wakeups
from inventory_sync.lib.errors import DomainError

from . import bulk
from .models import EventKind, InventoryEvent, LedgerEntry
from .rules import (
    EventLine,
    EventRequest,
    IdempotencyConflict,
    InsufficientStock,
    InvalidEvent,
    RecordedElsewhere,
    recorded_elsewhere,
    validate_request,
)
from .writer import (
    WrittenEvent,
    fits_one_statement,
    record_in_one_statement,
    record_locked,
)

# Announced after every write that changed stock; channels wakes its planner on it.
LEDGER_CHANGED = "ledger.changed"

__all__ = [
    "BatchOutcome",
    "EventLine",
    "EventRequest",
    "IdempotencyConflict",
    "InsufficientStock",
    "InvalidEvent",
    "RecordedElsewhere",
    "RecordedEvent",
    "record_event",
    "record_events",
    "release",
    "reserve",
]


class RecordedEvent:
    """The event as recorded, with its entries; `created` is False for a replayed key.

    The model instances are built on first access: most callers (webhook processing, the
    batch path) only need to know that the write happened.
    """

    def __init__(
        self,
        *,
        created: bool,
        event: InventoryEvent | None = None,
        entries: list[LedgerEntry] | None = None,
        written: WrittenEvent | None = None,
    ):
        self.created = created
        self._event, self._entries, self._written = event, entries, written

    @property
    def event(self) -> InventoryEvent:
        if self._event is None:
            assert self._written is not None
            self._event = self._written.event_model()
        return self._event

    @property
    def entries(self) -> list[LedgerEntry]:
        if self._entries is None:
            assert self._written is not None
            self._entries = self._written.entry_models()
        return self._entries


@dataclass
class BatchOutcome:
    recorded: int = 0
    duplicates: int = 0
    # (index in the input, error) for events that were refused; everything else was applied.
    failures: list[tuple[int, DomainError]] = field(default_factory=list)


def record_event(
    *,
    kind: str,
    lines: Sequence[EventLine],
    idempotency_key: str,
    source: str,
    occurred_at: datetime | None = None,
    actor: str = "",
    reason: str = "",
    reference: str = "",
    refuse_kinds: Mapping[str, str] = MappingProxyType({}),
) -> RecordedEvent:
    """Record one business fact and apply it to the balances, atomically.

    Invariants: append-only (I1), balances equal the sum of entries (I2), touched SKUs marked
    dirty in the same transaction (I5), no bucket below zero, a reservation never takes
    stock that is not available (I7).
    Idempotency: `idempotency_key` is unique. The same key with the same request returns the
    original event (created=False) and changes nothing; with a different request it raises
    IdempotencyConflict.
    Doors: a generic door passes rules.OWNED_KINDS as `refuse_kinds`; a new event of such a
    kind is refused with RecordedElsewhere (naming the door to use), while a retry of one
    already recorded under its key still answers as above.
    Locks: the event's SKU rows, in id order (see the module docstring).
    Raises InvalidEvent (bad shape, unknown SKU or location), RecordedElsewhere,
    InsufficientStock, IdempotencyConflict.
    """
    request = EventRequest(
        kind=kind,
        lines=tuple(lines),
        idempotency_key=idempotency_key,
        source=source,
        occurred_at=occurred_at,
        actor=actor,
        reason=reason,
        reference=reference,
    )
    validate_request(request)
    if request.kind in refuse_kinds:
        if not InventoryEvent.objects.filter(idempotency_key=idempotency_key).exists():
            raise recorded_elsewhere(request.kind, refuse_kinds[request.kind])
        return _existing(request)
    if fits_one_statement(request):
        written = record_in_one_statement(request)
    else:
        with transaction.atomic():
            batch = record_locked([request])
        written = batch[0] if batch else None
    if written is not None:
        wakeups.notify_on_commit(LEDGER_CHANGED)
        return RecordedEvent(created=True, written=written)
    return _existing(request)


def record_events(
    requests: Sequence[EventRequest],
    *,
    chunk_size: int = 1000,
    refuse_kinds: Mapping[str, str] = MappingProxyType({}),
) -> BatchOutcome:
    """Record many events with one transaction per chunk: the replay and import path.

    Same rules, keys and `refuse_kinds` as `record_event`; the result is identical to recording
    the events one by one in order: a key repeated within the batch is a duplicate (or, with
    another body, a conflict) of its first event, and failures are listed in input order. A
    chunk in which one event breaks a rule is rolled back and recorded one event at a time, so
    the good events land and each refused one is reported by its index.
    Locks: every SKU of the chunk, in id order, for the length of the chunk's transaction.
    """
    outcome = BatchOutcome()
    for start in range(0, len(requests), chunk_size):
        _record_chunk(start, requests[start : start + chunk_size], refuse_kinds, outcome)
    if outcome.recorded:
        wakeups.notify_on_commit(LEDGER_CHANGED)
    return outcome


def _record_chunk(
    start: int,
    chunk: Sequence[EventRequest],
    refuse_kinds: Mapping[str, str],
    outcome: BatchOutcome,
) -> None:
    first_failure = len(outcome.failures)
    valid: list[tuple[int, EventRequest]] = []
    owned: list[tuple[int, EventRequest]] = []
    for offset, request in enumerate(chunk, start=start):
        try:
            if not bulk.surely_valid(request):
                validate_request(request)
        except DomainError as error:
            outcome.failures.append((offset, error))
        else:
            (owned if request.kind in refuse_kinds else valid).append((offset, request))
    written_at = _record_valid(valid, outcome) if valid else {}
    _settle_owned(owned, refuse_kinds, written_at, outcome)
    # Recorded one by one, the refusals would come in input order.
    outcome.failures[first_failure:] = sorted(
        outcome.failures[first_failure:], key=lambda failure: failure[0]
    )


def _record_valid(
    valid: Sequence[tuple[int, EventRequest]], outcome: BatchOutcome
) -> dict[str, int]:
    """Record a chunk's valid requests in one transaction, else one at a time.

    Returns key -> index of the request that wrote each new event.
    """
    try:
        with transaction.atomic():
            result = bulk.record_chunk([request for _, request in valid])
    except DomainError:
        return _record_one_by_one(valid, outcome)
    written_at: dict[str, int] = {}
    first: dict[str, EventRequest] = {}
    for index, request in valid:
        key = request.idempotency_key
        event_id = result.written.get(key)
        if event_id is None:
            _settle_existing(index, request, result.stored[key], outcome)
        elif key not in first:
            first[key] = request
            written_at[key] = index
            outcome.recorded += 1
        else:  # the key again, after the event of this chunk that wrote it
            earlier = first[key]
            _settle_existing(index, request, (event_id, earlier.kind, earlier.fingerprint), outcome)
    return written_at


def _record_one_by_one(
    valid: Sequence[tuple[int, EventRequest]], outcome: BatchOutcome
) -> dict[str, int]:
    written_at: dict[str, int] = {}
    for index, request in valid:
        try:
            with transaction.atomic():
                single = record_locked([request])
        except DomainError as error:
            outcome.failures.append((index, error))
            continue
        if single:
            outcome.recorded += 1
            written_at[request.idempotency_key] = index
        else:
            key = request.idempotency_key
            _settle_existing(index, request, bulk.stored_events([key])[key], outcome)
    return written_at


def _settle_owned(
    requests: Sequence[tuple[int, EventRequest]],
    refuse_kinds: Mapping[str, str],
    written_at: Mapping[str, int],
    outcome: BatchOutcome,
) -> None:
    """Owned kinds at a generic door: one already recorded is a duplicate (replaying a file
    twice still works), a new one is refused."""
    if not requests:
        return
    stored = bulk.stored_events(request.idempotency_key for _, request in requests)
    for index, request in requests:
        key = request.idempotency_key
        # One by one, the key is found only if it was there before the chunk or written by
        # an earlier event of the chunk.
        if key in stored and written_at.get(key, -1) < index:
            _settle_existing(index, request, stored[key], outcome)
        else:
            outcome.failures.append(
                (index, recorded_elsewhere(request.kind, refuse_kinds[request.kind]))
            )


def _settle_existing(
    index: int, request: EventRequest, stored: bulk.StoredEvent, outcome: BatchOutcome
) -> None:
    """A request whose key is taken: a duplicate, or a conflict when the body differs."""
    event_id, kind, fingerprint = stored
    if fingerprint == request.fingerprint:
        outcome.duplicates += 1
    else:
        outcome.failures.append((index, _conflict(request, event_id, kind)))


def reserve(
    *,
    sku: str,
    location: str,
    quantity: int,
    idempotency_key: str,
    source: str,
    reference: str = "",
    reason: str = "",
    actor: str = "",
) -> RecordedEvent:
    """Hold `quantity` available units of a SKU at a location (wholesale, BOPIS, manual hold).

    Invariant I7: under the SKU lock the hold either finds the units available and moves them
    to `reserved`, or is refused with InsufficientStock carrying `available`; two holds can
    never take the same last unit. Idempotent by `idempotency_key`.
    """
    return record_event(
        kind=EventKind.RESERVE,
        lines=[EventLine(sku=sku, location=location, quantity=quantity)],
        idempotency_key=idempotency_key,
        source=source,
        reference=reference,
        reason=reason,
        actor=actor,
    )


def release(
    *,
    sku: str,
    location: str,
    quantity: int,
    idempotency_key: str,
    source: str,
    reference: str = "",
    reason: str = "",
    actor: str = "",
) -> RecordedEvent:
    """Give back `quantity` reserved units. Refused if fewer are reserved. Idempotent by key."""
    return record_event(
        kind=EventKind.RELEASE,
        lines=[EventLine(sku=sku, location=location, quantity=quantity)],
        idempotency_key=idempotency_key,
        source=source,
        reference=reference,
        reason=reason,
        actor=actor,
    )


# --- internals ------------------------------------------------------------------------------


def _conflict(request: EventRequest, event_id: int, kind: str) -> IdempotencyConflict:
    return IdempotencyConflict(
        f"Idempotency key {request.idempotency_key!r} was already used for a different "
        f"event (#{event_id}, {kind}).",
        event_id=event_id,
    )


def _existing(request: EventRequest) -> RecordedEvent:
    event = InventoryEvent.objects.get(idempotency_key=request.idempotency_key)
    if event.fingerprint != request.fingerprint:
        raise _conflict(request, event.pk, event.kind)
    entries = list(LedgerEntry.objects.filter(event=event).order_by("id"))
    return RecordedEvent(event=event, entries=entries, created=False)
