"""How the ledger's writes reach the database: the statements behind ledger.services.

Lock rules (every writer follows them, so concurrent writers never deadlock):
1. SKU rows, FOR NO KEY UPDATE, in ascending id order, before anything else. The same
   statement marks them dirty for allocation (I5).
2. Then the event row (its unique idempotency key serialises two deliveries of one event).
3. Balance rows are only ever written by a transaction that holds their SKU's lock, so they
   need no lock of their own.

Each statement has a PostgreSQL form, tuned for the live path and for batches, and a portable
form for SQLite (the embedded demo database). Only ledger.services calls this module.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.db.models import F
from django.db.models.functions import Coalesce, Now
from django.utils import timezone

from .models import EventKind, InventoryEvent, LedgerEntry, Location, Sku
from .rules import (
    Account,
    EventRequest,
    InsufficientStock,
    InvalidEvent,
    ResolvedLine,
    needs_current_balances,
    plan_entries,
)


@functools.cache
def _on_postgres() -> bool:
    """The statements below have a PostgreSQL form and a portable form (SQLite, the demo)."""
    return connections[DEFAULT_DB_ALIAS].vendor == "postgresql"


_MARK_DIRTY = "allocation_dirty_since = COALESCE(allocation_dirty_since, CURRENT_TIMESTAMP)"

Locations = dict[str, tuple[int, str]]  # code -> (id, kind)


def _find_locations(codes: Sequence[str]) -> Locations:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, code, kind FROM ledger_location WHERE code IN ("
            + ", ".join(["%s"] * len(codes))
            + ")",
            list(codes),
        )
        return {code: (location_id, kind) for location_id, code, kind in cursor.fetchall()}


def _lock_skus(
    codes: Iterable[str], location_codes: Iterable[str]
) -> tuple[dict[str, int], Locations]:
    """Lock the SKU rows in id order, mark them dirty for allocation, and look up locations.

    Returns (SKU code -> id, location code -> (id, kind)); unknown codes are simply absent.
    """
    wanted = sorted(set(codes))
    places = sorted(set(location_codes))
    postgres = _on_postgres()
    if len(wanted) == 1 and postgres:
        # The hot path, one round trip: the UPDATE takes the row lock and the same statement
        # reads the locations. Server-bound, so PostgreSQL prepares it after a few calls.
        with _server_bound_cursor() as cursor:
            cursor.execute(
                "WITH sku AS (SELECT id, code, allocation_dirty_since FROM ledger_sku "
                "WHERE code = %s FOR NO KEY UPDATE), "
                "marked AS (UPDATE ledger_sku SET allocation_dirty_since = CURRENT_TIMESTAMP "
                "FROM sku WHERE ledger_sku.id = sku.id AND sku.allocation_dirty_since IS NULL) "
                "SELECT 's', id, code, '' FROM sku UNION ALL "
                "SELECT 'l', id, code, kind FROM ledger_location WHERE code = ANY(%s::varchar[])",
                [wanted[0], places],
            )
            rows = cursor.fetchall()
        skus = {code: row_id for what, row_id, code, _ in rows if what == "s"}
        return skus, {code: (row_id, kind) for what, row_id, code, kind in rows if what == "l"}
    if len(wanted) == 1:
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE ledger_sku SET {_MARK_DIRTY} WHERE code = %s RETURNING id, code",
                [wanted[0]],
            )
            skus = {code: sku_id for sku_id, code in cursor.fetchall()}
    elif postgres:
        # One statement: the codes are looked up unlocked, one index probe each (`code =
        # ANY(array)` became a scan of the whole catalogue once it outgrew its statistics:
        # 15-18 ms a chunk at 110,000 SKUs), then locked in id order, the nested loop taking
        # each lock as it reads the sorted ids. Only rows not yet dirty are written, so the
        # lock alone adds no row version.
        with _server_bound_cursor() as cursor:
            cursor.execute(
                "WITH locked AS (SELECT sku.id, sku.code, sku.allocation_dirty_since FROM ("
                "SELECT found.id FROM unnest(%b::varchar[]) AS wanted(code) CROSS JOIN LATERAL "
                "(SELECT id FROM ledger_sku WHERE code = wanted.code LIMIT 1) AS found "
                "ORDER BY found.id) AS ordered CROSS JOIN LATERAL ("
                "SELECT id, code, allocation_dirty_since FROM ledger_sku "
                "WHERE id = ordered.id FOR NO KEY UPDATE) AS sku), "
                "marked AS (UPDATE ledger_sku SET allocation_dirty_since = CURRENT_TIMESTAMP "
                "FROM locked WHERE ledger_sku.id = locked.id "
                "AND locked.allocation_dirty_since IS NULL) "
                "SELECT id, code FROM locked",
                [wanted],
            )
            skus = {code: sku_id for sku_id, code in cursor.fetchall()}
    else:
        # SQLite: the IMMEDIATE transaction already holds the database's single write lock.
        skus = dict(Sku.objects.filter(code__in=wanted).values_list("code", "id"))
        Sku.objects.filter(id__in=skus.values()).update(
            allocation_dirty_since=Coalesce(F("allocation_dirty_since"), Now())
        )
    return skus, _find_locations(places)


def _resolve(requests: Sequence[EventRequest]) -> tuple[dict[str, int], Locations]:
    sku_codes = {line.sku for request in requests for line in request.lines}
    location_codes = {line.location for request in requests for line in request.lines} | {
        line.to_location for request in requests for line in request.lines if line.to_location
    }
    skus, locations = _lock_skus(sku_codes, location_codes)
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


# Bulk statements read their rows from a "row source". On PostgreSQL a large set travels as
# one array per column through unnest(), bound on the server in binary: a constant-size
# statement, and no per-value quoting in Python, which costs more than the insert itself. A
# handful of rows (the live path: one event) goes as a typed VALUES list, which is cheaper to
# send than arrays. SQLite gets VALUES lists in chunks under its bound-variable limit.
_SQLITE_ROWS_PER_STATEMENT = 1000
_POSTGRES_ARRAYS_FROM = 8


def _server_bound_cursor():
    db = connections[DEFAULT_DB_ALIAS]
    db.ensure_connection()
    raw = psycopg.Cursor(db.connection)
    return db.make_debug_cursor(raw) if db.queries_logged else db.make_cursor(raw)


def _execute_with_rows(
    sql: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[object]]
) -> tuple[list[tuple], int]:
    """Run `sql` with `{rows}` replaced by a row source named v(<column names>).

    Columns are (name, PostgreSQL type). Returns the fetched rows (for RETURNING) and the
    total row count.
    """
    if not rows:
        return [], 0
    names = [name for name, _ in columns]
    fetched: list[tuple] = []
    count = 0
    postgres = _on_postgres()
    if postgres and len(rows) >= _POSTGRES_ARRAYS_FROM:
        arrays = ", ".join(f"%b::{kind}[]" for _, kind in columns)
        source = f"unnest({arrays}) AS v({', '.join(names)})"
        with _server_bound_cursor() as cursor:
            cursor.execute(sql.format(rows=source), [list(c) for c in zip(*rows, strict=True)])
            return (cursor.fetchall() if cursor.description else []), cursor.rowcount
    if postgres:
        row_marks = "(" + ", ".join(f"%s::{kind}" for _, kind in columns) + ")"
        step = len(rows)
    else:
        row_marks = "(" + ", ".join(["%s"] * len(columns)) + ")"
        step = _SQLITE_ROWS_PER_STATEMENT
    aliases = ", ".join(f"column{n + 1} AS {name}" for n, name in enumerate(names))
    with connection.cursor() as cursor:
        for start in range(0, len(rows), step):
            chunk = rows[start : start + step]
            values = f"(VALUES {', '.join([row_marks] * len(chunk))})"
            if postgres:
                source = f"{values} AS v({', '.join(names)})"
            else:  # SQLite names VALUES columns column1..N and takes no column aliases
                source = f"(SELECT {aliases} FROM {values}) AS v"
            cursor.execute(sql.format(rows=source), [value for row in chunk for value in row])
            if cursor.description:
                fetched.extend(cursor.fetchall())
            count += cursor.rowcount
    return fetched, count


_EVENT_COLUMNS = [
    ("kind", "varchar"),
    ("source", "varchar"),
    ("idempotency_key", "varchar"),
    ("fingerprint", "varchar"),
    ("occurred_at", "timestamptz"),
    ("recorded_at", "timestamptz"),
    ("actor", "varchar"),
    ("reason", "varchar"),
    ("reference", "varchar"),
    ("payload", "jsonb"),
]
_EVENT_NAMES = ", ".join(name for name, _ in _EVENT_COLUMNS)
_ENTRY_COLUMNS = [
    ("event_id", "bigint"),
    ("sku_id", "bigint"),
    ("location_id", "bigint"),
    ("bucket", "varchar"),
    ("delta", "bigint"),
]
_ENTRY_NAMES = ", ".join(name for name, _ in _ENTRY_COLUMNS)
_BALANCE_COLUMNS = [
    ("sku_id", "bigint"),
    ("location_id", "bigint"),
    ("bucket", "varchar"),
    ("delta", "bigint"),
    ("entries", "bigint"),
]
_UPSERT_BALANCES = (
    "INSERT INTO ledger_balance (sku_id, location_id, bucket, quantity, version, updated_at) "
    "SELECT v.sku_id, v.location_id, v.bucket, v.delta, v.entries, CURRENT_TIMESTAMP "
    "FROM {rows} WHERE true ON CONFLICT (sku_id, location_id, bucket) "
    "DO UPDATE SET quantity = ledger_balance.quantity + excluded.quantity, "
    "version = ledger_balance.version + excluded.version, updated_at = excluded.updated_at"
)


def _event_row(request: EventRequest, recorded_at: datetime) -> tuple[object, ...]:
    occurred_at = request.occurred_at or recorded_at
    if not _on_postgres():
        occurred_at = connection.ops.adapt_datetimefield_value(occurred_at)
        recorded_at = connection.ops.adapt_datetimefield_value(recorded_at)
    payload = json.dumps(
        {"lines": [line.as_dict() for line in request.lines]}, cls=DjangoJSONEncoder
    )
    return (
        request.kind,
        request.source,
        request.idempotency_key,
        request.fingerprint,
        occurred_at,
        recorded_at,
        request.actor,
        request.reason,
        request.reference,
        payload,
    )


def _net_by_account(entries: Iterable[tuple[int, int, str, int]]) -> dict[Account, list[int]]:
    """[net delta, entry count] per account."""
    net: dict[Account, list[int]] = defaultdict(lambda: [0, 0])
    for sku_id, location_id, bucket, delta in entries:
        totals = net[(sku_id, location_id, bucket)]
        totals[0] += delta
        totals[1] += 1
    return net


def _insert_events(requests: Sequence[EventRequest], recorded_at: datetime) -> dict[str, int]:
    """Insert the events whose key is new; key -> id for those only."""
    rows: list[tuple[object, ...]] = []
    seen: set[str] = set()
    for request in requests:
        if request.idempotency_key not in seen:
            seen.add(request.idempotency_key)
            rows.append(_event_row(request, recorded_at))
    # WHERE true: SQLite needs it to tell an upsert's ON CONFLICT from a join clause.
    fetched, _ = _execute_with_rows(
        f"INSERT INTO ledger_inventoryevent ({_EVENT_NAMES}) SELECT {_EVENT_NAMES} FROM {{rows}} "
        "WHERE true ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, idempotency_key",
        _EVENT_COLUMNS,
        rows,
    )
    return {key: event_id for event_id, key in fetched}


def _values(columns: Sequence[tuple[str, str]], count: int, alias: str) -> str:
    row = "(" + ", ".join(f"%s::{kind}" for _, kind in columns) + ")"
    names = ", ".join(name for name, _ in columns)
    return f"(VALUES {', '.join([row] * count)}) AS {alias}({names})"


def fits_one_statement(request: EventRequest) -> bool:
    """Most live events (a sale, a receipt, a return of one SKU) fit one statement."""
    return (
        _on_postgres()
        and not needs_current_balances(request.kind)
        and len({line.sku for line in request.lines}) == 1
    )


@functools.cache
def _one_statement_sql(line_count: int) -> str:
    line_columns = [
        ("location_code", "varchar"),
        ("bucket", "varchar"),
        ("delta", "bigint"),
        ("position", "integer"),
    ]
    return (
        # The SKU lock comes first: every other part reads `sku`, so nothing is written (and
        # no event id is drawn) before the lock is held.
        "WITH sku AS (SELECT id FROM ledger_sku WHERE code = %s FOR NO KEY UPDATE), "
        "place AS (SELECT id, code FROM ledger_location WHERE code = ANY(%s::varchar[])), "
        "line AS (SELECT sku.id AS sku_id, place.id AS location_id, v.bucket, v.delta, "
        f"v.position FROM sku, {_values(line_columns, line_count, 'v')} "
        "JOIN place ON place.code = v.location_code), "
        f"ev AS (INSERT INTO ledger_inventoryevent ({_EVENT_NAMES}) "
        f"SELECT {_EVENT_NAMES} FROM {_values(_EVENT_COLUMNS, 1, 'e')} "
        f"WHERE (SELECT count(*) FROM line) = {line_count} "
        "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id), "
        f"en AS (INSERT INTO ledger_ledgerentry ({_ENTRY_NAMES}) "
        "SELECT ev.id, line.sku_id, line.location_id, line.bucket, line.delta "
        "FROM ev, line ORDER BY line.position RETURNING id), "
        "bal AS (INSERT INTO ledger_balance "
        "(sku_id, location_id, bucket, quantity, version, updated_at) "
        "SELECT line.sku_id, line.location_id, line.bucket, sum(line.delta), count(*), "
        "CURRENT_TIMESTAMP FROM ev, line GROUP BY 1, 2, 3 "
        "ON CONFLICT (sku_id, location_id, bucket) DO UPDATE SET "
        "quantity = ledger_balance.quantity + excluded.quantity, "
        "version = ledger_balance.version + excluded.version, "
        "updated_at = excluded.updated_at), "
        "dirty AS (UPDATE ledger_sku SET allocation_dirty_since = CURRENT_TIMESTAMP "
        "FROM ev, sku WHERE ledger_sku.id = sku.id "
        "AND ledger_sku.allocation_dirty_since IS NULL) "
        "SELECT (SELECT id FROM sku), ARRAY(SELECT code FROM place ORDER BY code), "
        "ARRAY(SELECT id FROM place ORDER BY code), (SELECT id FROM ev), "
        "ARRAY(SELECT id FROM en ORDER BY id)"
    )


def record_in_one_statement(request: EventRequest) -> WrittenEvent | None:
    """Record a single-SKU, add-only event with one statement: one round trip, one commit.

    Add-only kinds (sales, receipts, returns) need no current balance to be planned, so the
    lock, the event, its entries, the balances and the dirty flag fit one statement, which is
    atomic on its own (or joins the caller's transaction). The SKU lock is taken before
    anything is written and held to the end, as in the general path. Returns None when the
    key already exists. Raises InvalidEvent for an unknown SKU or location (nothing written).
    """
    places = sorted({line.location for line in request.lines})
    # Plan with the line index standing in for the location: add-only entries depend only
    # on the kind and the quantities.
    planned = plan_entries(
        request.kind,
        [ResolvedLine(0, index, line) for index, line in enumerate(request.lines)],
        {},
    )
    params: list[object] = [request.lines[0].sku, places]
    for position, ((_, line_index, bucket), delta) in enumerate(planned):
        params.extend([request.lines[line_index].location, bucket, delta, position])
    recorded_at = timezone.now()
    params.extend(_event_row(request, recorded_at))
    with _server_bound_cursor() as cursor:
        cursor.execute(_one_statement_sql(len(planned)), params)
        sku_id, place_codes, place_ids, event_id, entry_ids = cursor.fetchone()
    location_ids = dict(zip(place_codes, place_ids, strict=True))
    if sku_id is None or len(location_ids) != len(places):
        errors = {}
        for index, line in enumerate(request.lines):
            if sku_id is None:
                errors[f"lines[{index}].sku"] = f"Unknown SKU {line.sku!r}."
            if line.location not in location_ids:
                errors[f"lines[{index}].location"] = f"Unknown location {line.location!r}."
        raise InvalidEvent("The event refers to unknown records.", field_errors=errors)
    if event_id is None:
        return None
    entries = [
        (sku_id, location_ids[request.lines[line_index].location], bucket, delta)
        for (_, line_index, bucket), delta in planned
    ]
    return WrittenEvent(
        event_id=event_id,
        request=request,
        recorded_at=recorded_at,
        entries=entries,
        entry_ids=list(entry_ids),
    )


def _insert_entries(written: Sequence[WrittenEvent]) -> None:
    """Insert every event's entries in order and record their ids (ids grow in that order)."""
    rows = [(item.event_id, *entry) for item in written for entry in item.entries]
    fetched, _ = _execute_with_rows(
        f"INSERT INTO ledger_ledgerentry ({_ENTRY_NAMES}) SELECT {_ENTRY_NAMES} FROM {{rows}} "
        "RETURNING id",
        _ENTRY_COLUMNS,
        rows,
    )
    ids = sorted(row[0] for row in fetched)
    position = 0
    for item in written:
        item.entry_ids = ids[position : position + len(item.entries)]
        position += len(item.entries)


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


def _apply_to_balances(written: Sequence[WrittenEvent]) -> None:
    apply_net_to_balances(_net_by_account(entry for item in written for entry in item.entries))


def apply_net_to_balances(net: Mapping[Account, Sequence[int]]) -> None:
    """Add each account's [net delta, entry count] to its cached balance (caller holds the
    SKU locks).

    Growing or new accounts go through an upsert. Shrinking ones go through a plain UPDATE:
    the database checks an upsert's proposed row against the not-negative constraint before
    it finds the conflict, so a negative delta must never be proposed as a new row.
    """
    growing: list[tuple[object, ...]] = []
    shrinking: list[tuple[object, ...]] = []
    for (sku_id, location_id, bucket), (delta, count) in sorted(net.items()):
        (shrinking if delta < 0 else growing).append((sku_id, location_id, bucket, delta, count))
    _execute_with_rows(_UPSERT_BALANCES, _BALANCE_COLUMNS, growing)
    _, updated = _execute_with_rows(
        "UPDATE ledger_balance SET quantity = ledger_balance.quantity + v.delta, "
        "version = ledger_balance.version + v.entries, updated_at = CURRENT_TIMESTAMP "
        "FROM {rows} WHERE ledger_balance.sku_id = v.sku_id "
        "AND ledger_balance.location_id = v.location_id AND ledger_balance.bucket = v.bucket",
        _BALANCE_COLUMNS,
        shrinking,
    )
    if updated != len(shrinking):
        raise InsufficientStock("A bucket to take units from has no balance yet.")


@dataclass
class WrittenEvent:
    """An event this transaction wrote, kept as plain values until a caller wants models."""

    event_id: int
    request: EventRequest
    recorded_at: datetime
    entries: list[tuple[int, int, str, int]]  # (sku_id, location_id, bucket, delta)
    entry_ids: list[int] = field(default_factory=list)

    def event_model(self) -> InventoryEvent:
        request = self.request
        event = InventoryEvent(
            id=self.event_id,
            kind=request.kind,
            source=request.source,
            idempotency_key=request.idempotency_key,
            fingerprint=request.fingerprint,
            occurred_at=request.occurred_at or self.recorded_at,
            recorded_at=self.recorded_at,
            actor=request.actor,
            reason=request.reason,
            reference=request.reference,
            payload={"lines": [line.as_dict() for line in request.lines]},
        )
        event._state.adding = False
        return event

    def entry_models(self) -> list[LedgerEntry]:
        entries = []
        for entry_id, (sku_id, location_id, bucket, delta) in zip(
            self.entry_ids, self.entries, strict=True
        ):
            entry = LedgerEntry(
                id=entry_id,
                event_id=self.event_id,
                sku_id=sku_id,
                location_id=location_id,
                bucket=bucket,
                delta=delta,
            )
            entry._state.adding = False
            entries.append(entry)
        return entries


def record_locked(requests: Sequence[EventRequest]) -> list[WrittenEvent]:
    """Apply validated requests inside the caller's atomic block; returns the new events only.

    When every key already exists the block is marked for rollback, so nothing changes.

    Requests whose key already exists (or repeats within `requests`) are skipped: the caller
    compares their fingerprints. Raises DomainError, which must roll the transaction back.
    """
    skus, locations = _resolve(requests)
    recorded_at = timezone.now()
    new_ids = _insert_events(requests, recorded_at)
    if not new_ids:
        # Every key was seen before: undo the dirty marks too, so a replay changes nothing.
        transaction.set_rollback(True)
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
        reads = needs_current_balances(request.kind)
        for line in request.lines:
            item = ResolvedLine(
                sku_id=skus[line.sku],
                location_id=locations[line.location][0],
                line=line,
                to_location_id=locations[line.to_location][0] if line.to_location else None,
            )
            resolved.append(item)
            if reads:
                to_read.add((item.sku_id, item.location_id))
                if item.to_location_id is not None:
                    to_read.add((item.sku_id, item.to_location_id))
        resolved_by_event.append(resolved)

    balances = _current_balances(to_read)
    describe = _Describer(
        {sku_id: code for code, sku_id in skus.items()},
        {location_id: code for code, (location_id, _) in locations.items()},
    )
    written: list[WrittenEvent] = []
    for (event_id, request), resolved in zip(fresh, resolved_by_event, strict=True):
        planned = plan_entries(request.kind, resolved, balances, describe=describe)
        written.append(
            WrittenEvent(
                event_id=event_id,
                request=request,
                recorded_at=recorded_at,
                entries=[(s, loc, bucket, delta) for (s, loc, bucket), delta in planned],
            )
        )

    if any(item.entries for item in written):
        _insert_entries(written)
        try:
            _apply_to_balances(written)
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
