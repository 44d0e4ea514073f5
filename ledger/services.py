"""Writes to the ledger. `record_event` and `record_events` are the only way stock changes.

Lock rules (every writer follows them, so concurrent writers never deadlock):
1. SKU rows, FOR NO KEY UPDATE, in ascending id order, before anything else. The same
   statement marks them dirty for allocation (I5).
2. Then the event row (its unique idempotency key serialises two deliveries of one event).
3. Balance rows are only ever written by a transaction that holds their SKU's lock, so they
   need no lock of their own.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.functions import Coalesce, Now
from django.utils import timezone

from inventory_sync.lib.errors import DomainError

from .models import EventKind, InventoryEvent, LedgerEntry, Location, Sku
from .rules import (
    Account,
    EventLine,
    EventRequest,
    IdempotencyConflict,
    InsufficientStock,
    InvalidEvent,
    ResolvedLine,
    needs_current_balances,
    plan_entries,
    validate_request,
)

logger = logging.getLogger(__name__)

__all__ = [
    "BatchOutcome",
    "EventLine",
    "EventRequest",
    "IdempotencyConflict",
    "InsufficientStock",
    "InvalidEvent",
    "RecordedEvent",
    "record_event",
    "record_events",
    "release",
    "reserve",
]


@dataclass
class RecordedEvent:
    event: InventoryEvent
    entries: list[LedgerEntry]
    created: bool  # False when the key was seen before and the original is returned


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
) -> RecordedEvent:
    """Record one business fact and apply it to the balances, atomically.

    Invariants: append-only (I1), balances equal the sum of entries (I2), touched SKUs marked
    dirty in the same transaction (I5), no bucket below zero, a reservation never takes
    stock that is not available (I7).
    Idempotency: `idempotency_key` is unique. The same key with the same request returns the
    original event (created=False) and changes nothing; with a different request it raises
    IdempotencyConflict.
    Locks: the event's SKU rows, in id order (see the module docstring).
    Raises InvalidEvent (bad shape, unknown SKU or location), InsufficientStock,
    IdempotencyConflict.
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
    with transaction.atomic():
        written = _record_locked([request])
    if written:
        event, entries = written[0]
        return RecordedEvent(event=event, entries=entries, created=True)
    return _existing(request)


def record_events(requests: Sequence[EventRequest], *, chunk_size: int = 1000) -> BatchOutcome:
    """Record many events with one transaction per chunk: the replay and import path.

    Same rules and keys as `record_event`; the result is identical to recording the events one
    by one in order. A chunk in which one event breaks a rule is rolled back and recorded one
    event at a time, so the good events land and each refused one is reported by its index.
    Locks: every SKU of the chunk, in id order, for the length of the chunk's transaction.
    """
    outcome = BatchOutcome()
    for start in range(0, len(requests), chunk_size):
        chunk = list(requests[start : start + chunk_size])
        valid: list[tuple[int, EventRequest]] = []
        for offset, request in enumerate(chunk):
            try:
                validate_request(request)
            except DomainError as error:
                outcome.failures.append((start + offset, error))
            else:
                valid.append((start + offset, request))
        if not valid:
            continue
        try:
            with transaction.atomic():
                written = _record_locked([request for _, request in valid])
        except DomainError:
            written = None
        if written is not None:
            outcome.recorded += len(written)
            written_keys = {event.idempotency_key for event, _ in written}
            for index, request in valid:
                if request.idempotency_key not in written_keys:
                    _count_existing(request, index, outcome)
            continue
        for index, request in valid:
            try:
                with transaction.atomic():
                    single = _record_locked([request])
            except DomainError as error:
                outcome.failures.append((index, error))
                continue
            if single:
                outcome.recorded += 1
            else:
                _count_existing(request, index, outcome)
    return outcome


def _count_existing(request: EventRequest, index: int, outcome: BatchOutcome) -> None:
    try:
        _existing(request)
    except DomainError as error:
        outcome.failures.append((index, error))
    else:
        outcome.duplicates += 1


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


def _existing(request: EventRequest) -> RecordedEvent:
    event = InventoryEvent.objects.get(idempotency_key=request.idempotency_key)
    if event.fingerprint != request.fingerprint():
        raise IdempotencyConflict(
            f"Idempotency key {request.idempotency_key!r} was already used for a different "
            f"event (#{event.pk}, {event.kind}).",
            event_id=event.pk,
        )
    entries = list(LedgerEntry.objects.filter(event=event).order_by("id"))
    return RecordedEvent(event=event, entries=entries, created=False)


def _lock_skus(codes: Iterable[str]) -> dict[str, int]:
    """Lock the SKU rows in id order and mark them dirty for allocation; code -> id."""
    wanted = sorted(set(codes))
    if len(wanted) == 1:
        # One row: the UPDATE itself takes the row lock, saving a round trip on the hot path.
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE ledger_sku SET allocation_dirty_since = "
                "COALESCE(allocation_dirty_since, CURRENT_TIMESTAMP) "
                "WHERE code = %s RETURNING id, code",
                [wanted[0]],
            )
            found = {code: sku_id for sku_id, code in cursor.fetchall()}
    else:
        found = {
            code: sku_id
            for sku_id, code in Sku.objects.select_for_update(no_key=True)
            .filter(code__in=wanted)
            .order_by("id")
            .values_list("id", "code")
        }
        if found:
            Sku.objects.filter(id__in=found.values()).update(
                allocation_dirty_since=Coalesce(F("allocation_dirty_since"), Now())
            )
    return found


def _resolve(requests: Sequence[EventRequest]) -> tuple[dict[str, int], dict[str, tuple[int, str]]]:
    sku_codes = {line.sku for request in requests for line in request.lines}
    location_codes = {line.location for request in requests for line in request.lines} | {
        line.to_location for request in requests for line in request.lines if line.to_location
    }
    skus = _lock_skus(sku_codes)
    locations = {
        code: (location_id, kind)
        for location_id, code, kind in Location.objects.filter(code__in=location_codes).values_list(
            "id", "code", "kind"
        )
    }
    errors: dict[str, str] = {}
    for request in requests:
        for index, line in enumerate(request.lines):
            if line.sku not in skus:
                errors[f"lines[{index}].sku"] = f"Unknown SKU {line.sku!r}."
            if line.location not in locations:
                errors[f"lines[{index}].location"] = f"Unknown location {line.location!r}."
            elif (
                request.kind == EventKind.FBA_SNAPSHOT
                and locations[line.location][1] != Location.Kind.FBA
            ):
                errors[f"lines[{index}].location"] = (
                    f"{line.location!r} is not an FBA pool; FBA snapshots only apply to FBA pools."
                )
            if line.to_location and line.to_location not in locations:
                errors[f"lines[{index}].to_location"] = f"Unknown location {line.to_location!r}."
        if errors:
            # Report the first bad event only: in a batch, the caller retries one by one.
            raise InvalidEvent("The event refers to unknown records.", field_errors=errors)
    return skus, locations


def _insert_events(requests: Sequence[EventRequest], recorded_at: datetime) -> dict[str, int]:
    """Insert the events whose key is new; key -> id for those only."""
    ops = connection.ops
    rows: list[object] = []
    placeholders = []
    seen: set[str] = set()
    for request in requests:
        if request.idempotency_key in seen:
            continue
        seen.add(request.idempotency_key)
        placeholders.append("(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")
        rows.extend(
            [
                request.kind,
                request.source,
                request.idempotency_key,
                request.fingerprint(),
                ops.adapt_datetimefield_value(request.occurred_at or recorded_at),
                ops.adapt_datetimefield_value(recorded_at),
                request.actor,
                request.reason,
                request.reference,
                ops.adapt_json_value(
                    {"lines": [line.as_dict() for line in request.lines]}, DjangoJSONEncoder
                ),
            ]
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_inventoryevent (kind, source, idempotency_key, fingerprint, "
            "occurred_at, recorded_at, actor, reason, reference, payload) VALUES "
            + ", ".join(placeholders)
            + " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, idempotency_key",
            rows,
        )
        return {key: event_id for event_id, key in cursor.fetchall()}


def _current_balances(accounts: set[tuple[int, int]]) -> dict[Account, int]:
    if not accounts:
        return {}
    sku_ids = sorted({sku_id for sku_id, _ in accounts})
    location_ids = sorted({location_id for _, location_id in accounts})
    sku_marks = ", ".join(["%s"] * len(sku_ids))
    location_marks = ", ".join(["%s"] * len(location_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sku_id, location_id, bucket, quantity FROM ledger_balance "
            f"WHERE sku_id IN ({sku_marks}) AND location_id IN ({location_marks})",
            [*sku_ids, *location_ids],
        )
        return {(s, loc, bucket): quantity for s, loc, bucket, quantity in cursor.fetchall()}


def _apply_to_balances(entries: Sequence[LedgerEntry]) -> None:
    """Add the entries' net deltas to the cached balances (caller holds the SKU locks).

    Growing or new accounts go through an upsert. Shrinking ones go through a plain UPDATE:
    the database checks an upsert's proposed row against the not-negative constraint before
    it finds the conflict, so a negative delta must never be proposed as a new row.
    """
    net: dict[Account, list[int]] = defaultdict(lambda: [0, 0])
    for entry in entries:
        totals = net[(entry.sku_id, entry.location_id, entry.bucket)]
        totals[0] += entry.delta
        totals[1] += 1
    growing: list[object] = []
    shrinking: list[object] = []
    for (sku_id, location_id, bucket), (delta, count) in sorted(net.items()):
        target = shrinking if delta < 0 else growing
        target.extend([sku_id, location_id, bucket, delta, count])
    with connection.cursor() as cursor:
        if growing:
            values = ", ".join(["(%s, %s, %s, %s, %s, CURRENT_TIMESTAMP)"] * (len(growing) // 5))
            cursor.execute(
                "INSERT INTO ledger_balance (sku_id, location_id, bucket, quantity, version, "
                f"updated_at) VALUES {values} ON CONFLICT (sku_id, location_id, bucket) "
                "DO UPDATE SET quantity = ledger_balance.quantity + excluded.quantity, "
                "version = ledger_balance.version + excluded.version, "
                "updated_at = excluded.updated_at",
                growing,
            )
        if shrinking:
            values = ", ".join(["(%s, %s, %s, %s, %s)"] * (len(shrinking) // 5))
            cursor.execute(
                "UPDATE ledger_balance SET quantity = ledger_balance.quantity + v.column4, "
                "version = ledger_balance.version + v.column5, updated_at = CURRENT_TIMESTAMP "
                f"FROM (VALUES {values}) AS v WHERE ledger_balance.sku_id = v.column1 "
                "AND ledger_balance.location_id = v.column2 AND ledger_balance.bucket = v.column3",
                shrinking,
            )
            if cursor.rowcount != len(shrinking) // 5:
                raise InsufficientStock("A bucket to take units from has no balance yet.")


def _record_locked(
    requests: Sequence[EventRequest],
) -> list[tuple[InventoryEvent, list[LedgerEntry]]]:
    """Apply validated requests inside the caller's transaction; returns the new events only.

    Requests whose key already exists (or repeats within `requests`) are skipped: the caller
    compares their fingerprints. Raises DomainError, which must roll the transaction back.
    """
    skus, locations = _resolve(requests)
    recorded_at = timezone.now()
    new_ids = _insert_events(requests, recorded_at)
    if not new_ids:
        return []

    fresh: list[tuple[int, EventRequest]] = []
    taken: set[int] = set()
    for request in requests:
        event_id = new_ids.get(request.idempotency_key)
        if event_id is not None and event_id not in taken:
            taken.add(event_id)
            fresh.append((event_id, request))
    fresh.sort(key=lambda pair: pair[0])

    resolved_by_event: list[list[ResolvedLine]] = []
    to_read: set[tuple[int, int]] = set()
    for _, request in fresh:
        resolved = []
        for line in request.lines:
            item = ResolvedLine(
                sku_id=skus[line.sku],
                location_id=locations[line.location][0],
                line=line,
                to_location_id=locations[line.to_location][0] if line.to_location else None,
            )
            resolved.append(item)
            if needs_current_balances(request.kind):
                to_read.add((item.sku_id, item.location_id))
                if item.to_location_id is not None:
                    to_read.add((item.sku_id, item.to_location_id))
        resolved_by_event.append(resolved)

    balances = _current_balances(to_read)
    sku_codes = {sku_id: code for code, sku_id in skus.items()}
    location_codes = {location_id: code for code, (location_id, _) in locations.items()}

    written: list[tuple[InventoryEvent, list[LedgerEntry]]] = []
    all_entries: list[LedgerEntry] = []
    for (event_id, request), resolved in zip(fresh, resolved_by_event, strict=True):
        describe = _Describer(sku_codes, location_codes)
        planned = plan_entries(request.kind, resolved, balances, describe=describe)
        event = InventoryEvent(
            id=event_id,
            kind=request.kind,
            source=request.source,
            idempotency_key=request.idempotency_key,
            fingerprint=request.fingerprint(),
            occurred_at=request.occurred_at or recorded_at,
            recorded_at=recorded_at,
            actor=request.actor,
            reason=request.reason,
            reference=request.reference,
            payload={"lines": [line.as_dict() for line in request.lines]},
        )
        entries = [
            LedgerEntry(
                event_id=event_id,
                sku_id=sku_id,
                location_id=location_id,
                bucket=bucket,
                delta=delta,
            )
            for (sku_id, location_id, bucket), delta in planned
        ]
        all_entries.extend(entries)
        written.append((event, entries))

    if all_entries:
        LedgerEntry.objects.bulk_create(all_entries, batch_size=5000)
        try:
            _apply_to_balances(all_entries)
        except IntegrityError as exc:  # the CHECK constraint: a bug in plan_entries if reached
            raise InsufficientStock(f"A bucket would go below zero: {exc}") from exc
    return written


class _Describer(dict):
    """Lazily labels an account as 'SKU-CODE at LOCATION' for error messages."""

    def __init__(self, sku_codes: dict[int, str], location_codes: dict[int, str]):
        super().__init__()
        self._skus = sku_codes
        self._locations = location_codes

    def get(self, account, default=None):  # type: ignore[override]
        sku_id, location_id, _ = account
        return (
            f"{self._skus.get(sku_id, sku_id)} at {self._locations.get(location_id, location_id)}"
        )
