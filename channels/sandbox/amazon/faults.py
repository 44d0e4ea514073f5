"""Injected faults and the request log that tests and benchmarks count calls with."""

from __future__ import annotations

import itertools
import threading
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

# kind -> what the client sees. Faults match an operation (bare operationId such as
# "patchListingsItem", or "<model>.<operationId>") or, with no match, every SP-API call.
FAULT_KINDS = {
    "throttle": "HTTP 429 QuotaExceeded (no x-amzn-RateLimit-Limit), nothing executed",
    "http_500": "HTTP 500 InternalFailure errors body, nothing executed",
    "http_503": "HTTP 503 ServiceUnavailable errors body, nothing executed",
    "http_503_html": "HTTP 503 with an HTML body: python-amazon-sp-api does not raise on it",
    "http_504": "HTTP 504 gateway timeout errors body, after executing unless apply=false",
    "unauthorized": "HTTP 403 Unauthorized as for a revoked token, nothing executed",
    "slow": "sleep `seconds` (after executing when apply=true, the default; before otherwise)",
    "drop_connection": "close the socket without an answer (after executing unless apply=false)",
    "lost_patch": "patchListingsItem (and JSON_LISTINGS_FEED messages) answer ACCEPTED but the "
    "change is never applied",
    "feed_fatal": "the next createFeed is accepted (202) but processing ends FATAL",
    "drop_notification": "the next notification(s) (match = notification type) are never sent",
}
# Faults that let the request run on the server first: what makes a timeout dangerous.
DEFAULT_APPLY = {"slow": True, "drop_connection": True, "http_504": True}
# Faults consumed by the model rather than by the HTTP layer.
MODEL_FAULTS = ("lost_patch", "feed_fatal", "drop_notification")


@dataclass
class Fault:
    id: int
    kind: str
    remaining: int
    match: str | None = None
    seconds: float = 0.0
    apply: bool = False
    fired: int = 0

    def matches(self, names: tuple[str, ...]) -> bool:
        return self.match is None or self.match in names

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "remaining": self.remaining,
            "match": self.match,
            "seconds": self.seconds,
            "apply": self.apply,
            "fired": self.fired,
        }


class FaultBook:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(
        self,
        kind: str,
        count: int = 1,
        *,
        match: str | None = None,
        seconds: float = 0.0,
        apply: bool | None = None,
    ) -> Fault:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
        if count < 1:
            raise ValueError("count must be at least 1")
        fault = Fault(
            id=next(self._ids),
            kind=kind,
            remaining=int(count),
            match=match,
            seconds=float(seconds),
            apply=DEFAULT_APPLY.get(kind, False) if apply is None else bool(apply),
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, names: tuple[str, ...], kinds: tuple[str, ...] | None = None) -> list[Fault]:
        """Consume at most one pending fault of each kind matching `names` (and `kinds`)."""
        taken: dict[str, Fault] = {}
        with self._lock:
            for fault in self._faults:
                if fault.remaining <= 0 or fault.kind in taken:
                    continue
                if kinds is not None and fault.kind not in kinds:
                    continue
                if kinds is None and fault.kind in MODEL_FAULTS:
                    continue
                if fault.matches(names):
                    fault.remaining -= 1
                    fault.fired += 1
                    taken[fault.kind] = fault
            self._faults = [f for f in self._faults if f.remaining > 0]
        return list(taken.values())

    def take_one(self, kind: str, names: tuple[str, ...] = ()) -> Fault | None:
        taken = self.take(names, (kind,))
        return taken[0] if taken else None

    def pending(self) -> list[dict]:
        with self._lock:
            return [f.as_json() for f in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults = []


class RequestLog:
    """Every SP-API call the sandbox answered, with the validation problems found in it."""

    def __init__(self, history: int = 20_000) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict] = deque(maxlen=history)
        self._seq = itertools.count(1)
        self._counters: dict[str, Any] = {}
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._counters = {
                "calls": 0,
                "by_operation": Counter(),
                "by_status": Counter(),
                "by_fault": Counter(),
                "throttled": 0,
                "invalid": 0,
                "invalid_responses": 0,
            }

    def record(self, entry: dict) -> dict:
        with self._lock:
            entry = {"seq": next(self._seq), **entry}
            self._entries.append(entry)
            c = self._counters
            c["calls"] += 1
            c["by_operation"][entry.get("operation_id") or "<unknown>"] += 1
            c["by_status"][str(entry.get("status"))] += 1
            for kind in entry.get("faults") or ():
                c["by_fault"][kind] += 1
            if entry.get("throttled"):
                c["throttled"] += 1
            if entry.get("problems"):
                c["invalid"] += 1
            if entry.get("response_problems"):
                c["invalid_responses"] += 1
            return entry

    def counters(self) -> dict:
        with self._lock:
            return {k: dict(v) if isinstance(v, Counter) else v for k, v in self._counters.items()}

    def entries(self, limit: int | None = None, operation: str | None = None) -> list[dict]:
        with self._lock:
            items = list(self._entries)
        if operation is not None:
            items = [e for e in items if operation in (e.get("operation_id"), e.get("operation"))]
        return items[-limit:] if limit else items

    def invalid(self) -> list[dict]:
        """Requests the sandbox refused as invalid against the official models."""
        return [e for e in self.entries() if e.get("problems")]

    def invalid_responses(self) -> list[dict]:
        """Answers of the sandbox that did not match the declared response (a sandbox bug)."""
        return [e for e in self.entries() if e.get("response_problems")]
