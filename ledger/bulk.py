"""The batch path's writes: one chunk of events in a handful of round trips.

ledger.services.record_events hands each chunk of validated requests to `record_chunk`. The
chunk follows the lock rules of ledger.writer (its SKU rows in id order first, then the event
keys, then balances) and applies every event through rules.plan_entries, as the live path
does. What differs is how the rows travel on PostgreSQL:

1. Lock the chunk's SKUs (writer._resolve), read which keys already exist, draw ids for the
   new events from the events' sequence, and read the balances that non-additive kinds need.
2. COPY the new events straight into their table. Rows go out in blocks while Python builds
   the next ones (payload, fingerprint, planned entries), so the server inserts one part of
   the chunk while Python prepares the rest.
3. COPY the planned entries, then add their net change to each account's balance once.

The existing keys are read under the SKU locks, so a concurrent delivery of the same event
(which names the same SKUs) waits for this chunk and then finds its key. Only an event that
reuses a key for other SKUs can insert the key between the read and the COPY: the COPY then
fails on the unique key, and the caller rolls the chunk back and records it one event at a
time, where ON CONFLICT settles the race.

SQLite (the embedded demo) has no COPY: there the chunk goes through writer.record_locked.
"""

from __future__ import annotations

import functools
import hashlib
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from json.encoder import encode_basestring_ascii as _json_text

import psycopg
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from inventory_sync.lib.errors import DomainError

from .models import InventoryEvent
from .rules import (
    ADD_ONLY_KINDS,
    MAX_LINES,
    MAX_QUANTITY,
    Account,
    EventLine,
    EventRequest,
    InsufficientStock,
    ResolvedLine,
    needs_current_balances,
    plan_entries,
)
from .writer import (
    Locations,
    _current_balances,
    _Describer,
    _on_postgres,
    _resolve,
    _server_bound_cursor,
    apply_net_to_balances,
    record_locked,
)

StoredEvent = tuple[int, str, str]  # (id, kind, fingerprint)


class KeyRecordedMeanwhile(DomainError):
    """Another transaction inserted one of the chunk's new keys after the chunk looked."""

    code = "idempotency_race"


@dataclass
class ChunkResult:
    """What one chunk did: the events it wrote, and what it found already recorded."""

    # key -> id of each event this chunk wrote (the first request carrying that key)
    written: dict[str, int] = field(default_factory=dict)
    # key -> the stored event, for the keys that existed before the chunk
    stored: dict[str, StoredEvent] = field(default_factory=dict)


def record_chunk(requests: Sequence[EventRequest]) -> ChunkResult:
    """Record validated requests inside the caller's atomic block.

    Each key is written once, by its first request; a key that already exists writes nothing.
    When nothing is new the block is marked for rollback, so a replay leaves no SKU dirty.
    Raises DomainError (unknown SKU or location, a bucket that would go negative, a refused
    reservation, KeyRecordedMeanwhile), which must roll the transaction back.
    """
    if not _on_postgres():
        return _record_portably(requests)
    skus, locations = _resolve(requests)
    stored = stored_events(request.idempotency_key for request in requests)
    new: dict[str, EventRequest] = {}
    for request in requests:
        if request.idempotency_key not in stored:
            new.setdefault(request.idempotency_key, request)
    if not new:
        transaction.set_rollback(True)
        return ChunkResult(stored=stored)
    ids = _draw_event_ids(len(new))
    balances = _current_balances(_accounts_to_read(new.values(), skus, locations))
    planner = _Planner(skus, locations, balances)
    _copy(
        f"COPY ledger_inventoryevent ({_EVENT_COPY_COLUMNS}) FROM STDIN",
        _event_rows(zip(ids, new.values(), strict=True), planner),
        unique_key_race=True,
    )
    _copy(
        f"COPY ledger_ledgerentry ({_ENTRY_COPY_COLUMNS}) FROM STDIN", ["".join(planner.entry_rows)]
    )
    try:
        apply_net_to_balances(planner.net)
    except IntegrityError as exc:  # the CHECK constraint: a bug in plan_entries if reached
        raise InsufficientStock(f"A bucket would go below zero: {exc}") from exc
    return ChunkResult(written=dict(zip(new, ids, strict=True)), stored=stored)


def _record_portably(requests: Sequence[EventRequest]) -> ChunkResult:
    written = {item.request.idempotency_key: item.event_id for item in record_locked(requests)}
    return ChunkResult(
        written=written,
        stored=stored_events({r.idempotency_key for r in requests} - written.keys()),
    )


def surely_valid(request: EventRequest) -> bool:
    """A quick yes for the common shape that rules.validate_request always accepts.

    An add-only event (receipt, sale, return) with no business time, ASCII text within the
    column lengths, and lines of a SKU, a location and a quantity only. Anything else is
    False and goes through validate_request, which gives the reasons; a test checks that this
    never says yes where validate_request says no.
    """
    kind, lines = request.kind, request.lines
    key, source, actor = request.idempotency_key, request.source, request.actor
    reason, reference = request.reason, request.reference
    if not (
        isinstance(kind, str)
        and kind in ADD_ONLY_KINDS
        and request.occurred_at is None
        and type(key) is str
        and 0 < len(key) <= 255
        and type(source) is str
        and 0 < len(source) <= 64
        and type(actor) is str
        and len(actor) <= 150
        and type(reason) is str
        and len(reason) <= 500
        and type(reference) is str
        and len(reference) <= 255
        and 0 < len(lines) <= MAX_LINES
    ):
        return False
    texts = [kind, key, source, actor, reason, reference]
    for line in lines:
        sku, location, quantity = line.sku, line.location, line.quantity
        if not (
            type(sku) is str
            and type(location) is str
            and type(quantity) is int
            and 1 <= quantity <= MAX_QUANTITY
            and line.bucket is None
            and line.to_location is None
            and line.stage is None
        ):
            return False
        texts.append(sku)
        texts.append(location)
    text = "".join(texts)
    # What cannot be stored is a NUL or an unpaired surrogate: ASCII without NUL has neither.
    return text.isascii() and "\0" not in text


def stored_events(keys: Iterable[str]) -> dict[str, StoredEvent]:
    """key -> (id, kind, fingerprint) of the events already recorded under these keys."""
    wanted = list(set(keys))
    if not wanted:
        return {}
    if _on_postgres():
        # One array parameter rather than a thousand placeholders, each key probed in the
        # unique index. `key = ANY(array)` let the planner choose a scan of the whole ledger
        # once the table outgrew its statistics (45 ms a chunk at 300,000 events, growing
        # with the ledger); LIMIT 1 keeps the lateral lookup a probe whatever it estimates.
        with _server_bound_cursor() as cursor:
            cursor.execute(
                "SELECT e.idempotency_key, e.id, e.kind, e.fingerprint "
                "FROM unnest(%b::varchar[]) AS wanted(key) CROSS JOIN LATERAL ("
                "SELECT idempotency_key, id, kind, fingerprint FROM ledger_inventoryevent "
                "WHERE idempotency_key = wanted.key LIMIT 1) AS e",
                [wanted],
            )
            rows = cursor.fetchall()
    else:
        rows = InventoryEvent.objects.filter(idempotency_key__in=wanted).values_list(
            "idempotency_key", "id", "kind", "fingerprint"
        )
    return {key: (event_id, kind, fingerprint) for key, event_id, kind, fingerprint in rows}


@functools.cache
def _event_sequence() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence('ledger_inventoryevent', 'id')")
        return cursor.fetchone()[0]


def _draw_event_ids(count: int) -> list[int]:
    """Ids for the new events, ascending, so they keep the order the caller gave them."""
    with _server_bound_cursor() as cursor:
        cursor.execute(
            "SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [_event_sequence(), count]
        )
        return sorted(row[0] for row in cursor.fetchall())


def _accounts_to_read(
    requests: Iterable[EventRequest], skus: dict[str, int], locations: Locations
) -> set[tuple[int, int]]:
    """(SKU id, location id) pairs whose balances the non-additive events need."""
    accounts: set[tuple[int, int]] = set()
    for request in requests:
        if needs_current_balances(request.kind):
            for line in request.lines:
                accounts.add((skus[line.sku], locations[line.location][0]))
                if line.to_location:
                    accounts.add((skus[line.sku], locations[line.to_location][0]))
    return accounts


class _Planner:
    """Plans each event's entries in order, as COPY rows, and nets them per account."""

    def __init__(self, skus: dict[str, int], locations: Locations, balances: dict[Account, int]):
        self._skus = skus
        self._locations = {code: location_id for code, (location_id, _) in locations.items()}
        self._balances = balances
        self._describe = _Describer(
            {sku_id: code for code, sku_id in skus.items()},
            {location_id: code for code, location_id in self._locations.items()},
        )
        self.entry_rows: list[str] = []
        self.net: dict[Account, list[int]] = {}  # account -> [net delta, entry count]

    def plan(self, event_id: int, request: EventRequest) -> None:
        skus, locations = self._skus, self._locations
        resolved = [
            ResolvedLine(
                skus[line.sku],
                locations[line.location],
                line,
                locations[line.to_location] if line.to_location else None,
            )
            for line in request.lines
        ]
        planned = plan_entries(request.kind, resolved, self._balances, describe=self._describe)
        rows, net = self.entry_rows, self.net
        for account, delta in planned:
            sku_id, location_id, bucket = account
            rows.append(f"{event_id}\t{sku_id}\t{location_id}\t{bucket}\t{delta}\n")
            totals = net.get(account)
            if totals is None:
                net[account] = [delta, 1]
            else:
                totals[0] += delta
                totals[1] += 1


# --- COPY rows ------------------------------------------------------------------------------

_EVENT_COPY_COLUMNS = (
    "id, kind, source, idempotency_key, actor, reason, reference, fingerprint, occurred_at, "
    "recorded_at, payload"
)
_ENTRY_COPY_COLUMNS = "event_id, sku_id, location_id, bucket, delta"
# COPY's text format: these characters in a value are written as backslash escapes.
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_ROWS_PER_WRITE = 250


def _event_rows(new: Iterable[tuple[int, EventRequest]], planner: _Planner) -> Iterable[str]:
    """The events' COPY rows in blocks; each event's entries are planned as it goes out."""
    recorded_at = timezone.now()
    recorded_text = recorded_at.isoformat()
    block: list[str] = []
    for event_id, request in new:
        planner.plan(event_id, request)
        lines_json = _lines_json(request.lines)
        occurred_at = request.occurred_at
        # Validated text holds no NUL, so it can stand for the column separator until the
        # escapes are applied to all six free-text columns at once.
        texts = (
            f"{request.kind}\0{request.source}\0{request.idempotency_key}\0{request.actor}\0"
            f"{request.reason}\0{request.reference}"
        )
        if _COPY_SPECIAL.search(texts):
            texts = texts.translate(_COPY_ESCAPES)
        payload = f'{{"lines":{lines_json}}}'
        if "\\" in payload:  # JSON escapes every control character: only backslashes remain
            payload = payload.replace("\\", "\\\\")
        occurred = occurred_at.astimezone(UTC).isoformat() if occurred_at else recorded_text
        block.append(
            f"{event_id}\t{texts.replace(chr(0), chr(9))}\t{_fingerprint(request, lines_json)}\t"
            f"{occurred}\t{recorded_text}\t{payload}\n"
        )
        if len(block) == _ROWS_PER_WRITE:
            yield "".join(block)
            block.clear()
    if block:
        yield "".join(block)


def _lines_json(lines: Sequence[EventLine]) -> str:
    """The lines as compact JSON with sorted keys: the canonical form of rules.fingerprint.

    The payload column stores the same text: jsonb keeps no key order, so the stored value is
    the one the live path writes.
    """
    parts = []
    for line in lines:
        text = f'"location":{_json_text(line.location)},"quantity":{int(line.quantity)!r},'
        text += f'"sku":{_json_text(line.sku)}'
        if line.bucket is not None:
            text = f'"bucket":{_json_text(line.bucket)},{text}'
        if line.stage is not None:
            text += f',"stage":{_json_text(line.stage)}'
        if line.to_location is not None:
            text += f',"to_location":{_json_text(line.to_location)}'
        parts.append("{" + text + "}")
    return "[" + ",".join(parts) + "]"


def _fingerprint(request: EventRequest, lines_json: str) -> str:
    """rules.EventRequest.fingerprint, built from the lines' JSON the payload also uses."""
    occurred_at = request.occurred_at
    canonical = (
        f'{{"kind":{_json_text(request.kind)},"lines":{lines_json},"occurred_at":'
        f"{_json_text(occurred_at.isoformat()) if occurred_at else 'null'},"
        f'"reason":{_json_text(request.reason)},"reference":{_json_text(request.reference)}}}'
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _copy(sql: str, blocks: Iterable[str], *, unique_key_race: bool = False) -> None:
    """Stream text-format rows into a COPY; logged like any statement when queries are."""
    started = time.monotonic()
    try:
        with (
            connection.wrap_database_errors,
            _server_bound_cursor() as cursor,
            cursor.copy(sql) as copy,
        ):
            for block in blocks:
                copy.write(block)
    except IntegrityError as error:
        if unique_key_race and isinstance(error.__cause__, psycopg.errors.UniqueViolation):
            raise KeyRecordedMeanwhile("An event key was recorded meanwhile.") from error
        raise
    if connection.queries_logged:
        connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
