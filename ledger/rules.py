"""What each event kind does to the buckets: plain functions, no database.

Both the single-event path and the batch path of ledger.services apply events through
`plan_entries`, so a replayed file and a live webhook can never disagree about an event.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from types import MappingProxyType

from inventory_sync.lib.errors import DomainError

from .models import Bucket, EventKind

MAX_QUANTITY = 1_000_000_000
# A person who removes or corrects stock by hand says why (I12); the trail shows it.
KINDS_NEEDING_A_REASON = frozenset({"write_off", "cycle_count"})
MAX_LINES = 500

ON_HAND, COMMITTED, RESERVED, INCOMING, UNSELLABLE = (
    Bucket.ON_HAND.value,
    Bucket.COMMITTED.value,
    Bucket.RESERVED.value,
    Bucket.INCOMING.value,
    Bucket.UNSELLABLE.value,
)


class InboundStage:
    ANNOUNCED = "announced"
    CANCELLED = "cancelled"
    RECEIVED = "received"
    ALL = (ANNOUNCED, CANCELLED, RECEIVED)


class InvalidEvent(DomainError):
    code = "invalid_event"


class InsufficientStock(DomainError):
    code = "insufficient_stock"
    http_status = 409


class IdempotencyConflict(DomainError):
    code = "idempotency_conflict"
    http_status = 409


class RecordedElsewhere(InvalidEvent):
    """An owned kind (see OWNED_KINDS) offered through a generic door."""

    code = "recorded_elsewhere"


@dataclass(frozen=True)
class EventLine:
    sku: str
    location: str
    quantity: int
    bucket: str | None = None  # cycle count, FBA snapshot, write-off: which bucket
    to_location: str | None = None  # transfer out: where the units are heading
    stage: str | None = None  # inbound stage change: announced | cancelled | received

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "sku": self.sku,
            "location": self.location,
            "quantity": self.quantity,
        }
        if self.bucket is not None:
            data["bucket"] = self.bucket
        if self.to_location is not None:
            data["to_location"] = self.to_location
        if self.stage is not None:
            data["stage"] = self.stage
        return data


@dataclass(frozen=True)
class EventRequest:
    """One event as a caller hands it to the ledger, before it is recorded."""

    kind: str
    lines: tuple[EventLine, ...]
    idempotency_key: str
    source: str
    occurred_at: datetime | None = None
    actor: str = ""
    reason: str = ""
    reference: str = ""

    @cached_property
    def fingerprint(self) -> str:
        """Digest of what the caller said; a retry must say the same thing under one key."""
        body = {
            "kind": self.kind,
            "lines": [line.as_dict() for line in self.lines],
            "occurred_at": self.occurred_at.isoformat() if self.occurred_at else None,
            "reason": self.reason,
            "reference": self.reference,
        }
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


_KINDS = frozenset(EventKind.values)
# Kinds whose quantity replaces a bucket rather than moving units.
ABSOLUTE_KINDS = frozenset({EventKind.CYCLE_COUNT, EventKind.FBA_SNAPSHOT})
# Kinds that only add units: they never need the current balance to be applied safely.
ADD_ONLY_KINDS = frozenset(
    {EventKind.RECEIPT, EventKind.SALE, EventKind.RETURN_RESTOCK, EventKind.RETURN_UNSELLABLE}
)
# Kinds another app owns, with the door to use instead. That app keeps rows of its own in step
# with these events (a Reservation per hold, ended by its release), so a raw event would leave
# them disagreeing with the ledger. Generic doors (the events API, replay_events) hand this
# mapping to record_event(s) as `refuse_kinds`; the owner's service records the kind itself.
OWNED_KINDS: Mapping[str, str] = MappingProxyType(
    {
        EventKind.RESERVE.value: "/api/v1/reservations/",
        EventKind.RELEASE.value: "/api/v1/reservations/",
        # An order line's counters name its location: moving it elsewhere is the order's.
        EventKind.REROUTE.value: "/api/v1/orders/<id>/route/",
    }
)
FBA_SNAPSHOT_BUCKETS = (ON_HAND, RESERVED, INCOMING, UNSELLABLE)
WRITE_OFF_BUCKETS = (ON_HAND, UNSELLABLE)


def recorded_elsewhere(kind: str, door: str) -> RecordedElsewhere:
    """The refusal of an owned kind at a generic door: where to go instead, and why."""
    return RecordedElsewhere(
        f"{kind} events are recorded only by the service that owns them: use {door}, "
        "which keeps its own records in step with the ledger.",
        field_errors={"kind": f"Not accepted here; use {door}."},
        use=door,
    )


def needs_current_balances(kind: str) -> bool:
    return kind not in ADD_ONLY_KINDS


def available(quantity_of: Callable[[str], int]) -> int:
    """Sellable units at one SKU/location: the number every allocation starts from."""
    return (
        quantity_of(ON_HAND)
        - quantity_of(COMMITTED)
        - quantity_of(RESERVED)
        - quantity_of(UNSELLABLE)
    )


# Business time must be plausible: before this it is a typo (or a year-1 instant that
# PostgreSQL stores but Python cannot read back, in an append-only table); a little ahead of
# now is clock skew between systems, far ahead is a bug.
EARLIEST_OCCURRED_AT = datetime(2000, 1, 1, tzinfo=UTC)
ALLOWED_CLOCK_SKEW = timedelta(days=1)


def unstorable_text(value: str) -> str | None:
    """Why a string cannot be stored as text (NUL, unpaired surrogate), or None."""
    if "\x00" in value:
        return "NUL characters are not allowed."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Unpaired surrogate characters are not allowed."
    return None


def validate_request(request: EventRequest) -> None:
    """Shape checks that need no database; raises InvalidEvent with per-field errors."""
    errors: dict[str, str] = {}
    texts = {
        "kind": request.kind,
        "idempotency_key": request.idempotency_key,
        "source": request.source,
        "actor": request.actor,
        "reason": request.reason,
        "reference": request.reference,
    }
    for index, line in enumerate(request.lines[:MAX_LINES]):
        for field in ("sku", "location", "bucket", "to_location", "stage"):
            value = getattr(line, field)
            if isinstance(value, str):
                texts[f"lines[{index}].{field}"] = value
    for field, value in texts.items():
        problem = unstorable_text(value) if isinstance(value, str) else "Must be a string."
        if problem:
            errors[field] = problem
    if errors:
        raise InvalidEvent("The event is not valid.", field_errors=errors)
    if request.kind not in _KINDS:
        errors["kind"] = f"Unknown event kind {request.kind!r}."
    if not request.idempotency_key or len(request.idempotency_key) > 255:
        errors["idempotency_key"] = "Required, at most 255 characters."
    if not request.source or len(request.source) > 64:
        errors["source"] = "Required, at most 64 characters."
    if request.occurred_at is not None:
        if request.occurred_at.tzinfo is None:
            errors["occurred_at"] = "Must carry a time zone (times are kept in UTC)."
        else:
            try:
                in_utc = request.occurred_at.astimezone(UTC)
            except OverflowError:
                in_utc = None
            latest = datetime.now(UTC) + ALLOWED_CLOCK_SKEW
            if in_utc is None or not EARLIEST_OCCURRED_AT <= in_utc <= latest:
                errors["occurred_at"] = (
                    f"Must be between {EARLIEST_OCCURRED_AT:%Y-%m-%d} and one day from now."
                )
    if len(request.reason) > 500:
        errors["reason"] = "At most 500 characters."
    if len(request.reference) > 255:
        errors["reference"] = "At most 255 characters."
    if len(request.actor) > 150:
        errors["actor"] = "At most 150 characters."
    if not request.lines:
        errors["lines"] = "At least one line is required."
    elif len(request.lines) > MAX_LINES:
        errors["lines"] = f"At most {MAX_LINES} lines per event."
    if "kind" not in errors:
        for index, line in enumerate(request.lines[:MAX_LINES]):
            for field, message in _line_errors(request.kind, line).items():
                errors[f"lines[{index}].{field}"] = message
    if errors:
        raise InvalidEvent("The event is not valid.", field_errors=errors)


def _line_errors(kind: str, line: EventLine) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not isinstance(line.quantity, int) or isinstance(line.quantity, bool):
        return {"quantity": "Must be an integer."}
    if kind in ABSOLUTE_KINDS:
        if not 0 <= line.quantity <= MAX_QUANTITY:
            errors["quantity"] = f"Must be between 0 and {MAX_QUANTITY}."
    elif not 1 <= line.quantity <= MAX_QUANTITY:
        errors["quantity"] = f"Must be between 1 and {MAX_QUANTITY}."

    allowed_buckets: tuple[str, ...] = ()
    if kind == EventKind.FBA_SNAPSHOT:
        allowed_buckets = FBA_SNAPSHOT_BUCKETS
        if line.bucket is None:
            errors["bucket"] = f"Required for an FBA snapshot: one of {', '.join(allowed_buckets)}."
    elif kind == EventKind.WRITE_OFF:
        allowed_buckets = WRITE_OFF_BUCKETS
    elif kind == EventKind.CYCLE_COUNT:
        allowed_buckets = (ON_HAND,)
    if line.bucket is not None and line.bucket not in allowed_buckets:
        errors["bucket"] = (
            f"Not used by {kind} events."
            if not allowed_buckets
            else f"Must be one of {', '.join(allowed_buckets)}."
        )

    if kind in (EventKind.TRANSFER_OUT, EventKind.REROUTE):
        if not line.to_location:
            errors["to_location"] = f"Required for a {EventKind(kind).label.lower()}."
        elif line.to_location == line.location:
            errors["to_location"] = "Must differ from location."
    elif line.to_location is not None:
        errors["to_location"] = f"Not used by {kind} events."

    if kind == EventKind.INBOUND_STAGE:
        if line.stage not in InboundStage.ALL:
            errors["stage"] = f"Must be one of {', '.join(InboundStage.ALL)}."
    elif line.stage is not None:
        errors["stage"] = f"Not used by {kind} events."
    return errors


Account = tuple[int, int, str]  # (sku_id, location_id, bucket)


@dataclass(frozen=True)
class ResolvedLine:
    sku_id: int
    location_id: int
    line: EventLine
    to_location_id: int | None = None


def plan_entries(
    kind: str,
    lines: Sequence[ResolvedLine],
    balances: dict[Account, int],
    *,
    describe: Mapping[Account, str] | None = None,
) -> list[tuple[Account, int]]:
    """The entries one event writes, applied to `balances` in place.

    `balances` must hold the current quantity of every account the event touches when the
    kind is not add-only (missing accounts count as 0). Raises InsufficientStock when a bucket
    would go negative or a reservation finds too little available; `balances` is then left
    partially applied and the caller must discard it (the transaction rolls back).
    """
    entries: list[tuple[Account, int]] = []

    def move(sku_id: int, location_id: int, bucket: str, delta: int, index: int) -> None:
        account = (sku_id, location_id, bucket)
        before = balances.get(account, 0)
        after = before + delta
        if after < 0:
            label = describe.get(account, str(account)) if describe is not None else str(account)
            raise InsufficientStock(
                f"{kind} line {index}: {label} {bucket} is {before}, "
                f"cannot take {-delta} (would be {after}).",
                field_errors={f"lines[{index}].quantity": f"Only {before} {bucket}."},
                bucket=bucket,
                quantity=before,
            )
        balances[account] = after
        entries.append((account, delta))

    for index, resolved in enumerate(lines):
        sku, loc, line, q = (
            resolved.sku_id,
            resolved.location_id,
            resolved.line,
            resolved.line.quantity,
        )
        if kind == EventKind.RECEIPT or kind == EventKind.RETURN_RESTOCK:
            move(sku, loc, ON_HAND, q, index)
        elif kind == EventKind.SALE:
            move(sku, loc, COMMITTED, q, index)
        elif kind == EventKind.CANCEL:
            move(sku, loc, COMMITTED, -q, index)
        elif kind == EventKind.SHIPMENT:
            move(sku, loc, ON_HAND, -q, index)
            move(sku, loc, COMMITTED, -q, index)
        elif kind == EventKind.RETURN_UNSELLABLE:
            move(sku, loc, ON_HAND, q, index)
            move(sku, loc, UNSELLABLE, q, index)
        elif kind == EventKind.TRANSFER_OUT:
            assert resolved.to_location_id is not None
            move(sku, loc, ON_HAND, -q, index)
            move(sku, resolved.to_location_id, INCOMING, q, index)
        elif kind == EventKind.REROUTE:
            # An order line now ships from another location: its commitment moves there.
            assert resolved.to_location_id is not None
            move(sku, loc, COMMITTED, -q, index)
            move(sku, resolved.to_location_id, COMMITTED, q, index)
        elif kind == EventKind.TRANSFER_IN:
            move(sku, loc, INCOMING, -q, index)
            move(sku, loc, ON_HAND, q, index)
        elif kind == EventKind.WRITE_OFF:
            if line.bucket == UNSELLABLE:
                move(sku, loc, UNSELLABLE, -q, index)
            move(sku, loc, ON_HAND, -q, index)
        elif kind in ABSOLUTE_KINDS:
            bucket = line.bucket or ON_HAND
            # The delta is computed here, under the SKU lock, so a count never erases a sale
            # that committed between the count and its recording.
            move(sku, loc, bucket, q - balances.get((sku, loc, bucket), 0), index)
        elif kind == EventKind.INBOUND_STAGE:
            if line.stage == InboundStage.ANNOUNCED:
                move(sku, loc, INCOMING, q, index)
            elif line.stage == InboundStage.CANCELLED:
                move(sku, loc, INCOMING, -q, index)
            else:
                move(sku, loc, INCOMING, -q, index)
                move(sku, loc, ON_HAND, q, index)
        elif kind == EventKind.RESERVE:
            have = available(lambda bucket, s=sku, lo=loc: balances.get((s, lo, bucket), 0))
            if have < q:
                label = describe.get((sku, loc, RESERVED), "") if describe is not None else ""
                raise InsufficientStock(
                    f"Cannot reserve {q} of {label or sku}: only {max(have, 0)} available.",
                    field_errors={f"lines[{index}].quantity": f"Only {max(have, 0)} available."},
                    available=max(have, 0),
                )
            move(sku, loc, RESERVED, q, index)
        elif kind == EventKind.RELEASE:
            move(sku, loc, RESERVED, -q, index)
        else:  # pragma: no cover - validate_request rejects unknown kinds first
            raise InvalidEvent(f"Unknown event kind {kind!r}.")
    return entries


def parse_event_dict(data: object) -> EventRequest:
    """Build an EventRequest from decoded JSON (a replay file line), strictly typed.

    Raises InvalidEvent with per-field errors; `validate_request` then checks the rules.
    """
    if not isinstance(data, dict):
        raise InvalidEvent("Each event must be a JSON object.")
    errors: dict[str, str] = {}

    def text(name: str, *, required: bool = False) -> str:
        value = data.get(name, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            errors[name] = "Must be a string."
            return ""
        if required and not value:
            errors[name] = "Required."
        return value

    kind = text("kind", required=True)
    key = text("idempotency_key", required=True)
    source = text("source") or "replay"
    occurred_at = None
    raw_time = text("occurred_at")
    if raw_time:
        try:
            occurred_at = datetime.fromisoformat(raw_time.replace("Z", "+00:00"))
        except ValueError:
            errors["occurred_at"] = (
                "Must be an ISO 8601 time with a zone, e.g. 2026-01-31T12:00:00Z."
            )
    lines: list[EventLine] = []
    raw_lines = data.get("lines")
    if not isinstance(raw_lines, list) or not raw_lines:
        errors["lines"] = "A non-empty list of lines is required."
    else:
        for index, raw in enumerate(raw_lines[: MAX_LINES + 1]):
            if not isinstance(raw, dict):
                errors[f"lines[{index}]"] = "Must be an object."
                continue
            unknown = set(raw) - {"sku", "location", "quantity", "bucket", "to_location", "stage"}
            if unknown:
                errors[f"lines[{index}]"] = f"Unknown fields: {', '.join(sorted(unknown))}."
            values: dict[str, object] = {}
            for name in ("sku", "location", "bucket", "to_location", "stage"):
                value = raw.get(name)
                if value is not None and not isinstance(value, str):
                    errors[f"lines[{index}].{name}"] = "Must be a string."
                values[name] = value
            for name in ("sku", "location"):
                if not values[name]:
                    errors[f"lines[{index}].{name}"] = "Required."
            quantity = raw.get("quantity")
            if isinstance(quantity, bool) or not isinstance(quantity, int):
                errors[f"lines[{index}].quantity"] = "A whole number is required."
            if not any(name.startswith(f"lines[{index}]") for name in errors):
                lines.append(EventLine(quantity=quantity, **values))  # type: ignore[arg-type]
    if errors:
        raise InvalidEvent("The event is not valid.", field_errors=errors)
    request = EventRequest(
        kind=kind,
        lines=tuple(lines),
        idempotency_key=key,
        source=source,
        occurred_at=occurred_at,
        actor=text("actor"),
        reason=text("reason"),
        reference=text("reference"),
    )
    validate_request(request)
    return request
