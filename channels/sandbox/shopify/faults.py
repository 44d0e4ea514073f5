"""Injected faults and the request log that benchmarks and tests count calls with."""

from __future__ import annotations

import itertools
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

# kind -> what the client sees. `apply` says whether the request still runs on the server
# before the fault shows, which is what makes a timeout or a dropped connection dangerous.
FAULT_KINDS = {
    "throttled": "HTTP 200 with a THROTTLED error, nothing executed, bucket untouched",
    "http_429": "HTTP 429 with Retry-After and a THROTTLED body",
    "http_500": "HTTP 500 with an INTERNAL_SERVER_ERROR body",
    "http_502": "HTTP 502 with an HTML gateway page",
    "http_503": "HTTP 503 with an HTML maintenance page",
    "internal_error": "HTTP 200 with a top-level INTERNAL_SERVER_ERROR error and no data",
    "slow": "sleep `seconds`: after executing (apply=true, default) or before it (apply=false)",
    "lost_write": "inventory writes answer success but are not persisted (no webhook)",
    "drop_connection": "close the socket without an answer (after executing unless apply=false)",
}
DEFAULT_APPLY = {"slow": True, "drop_connection": True, "lost_write": True}


@dataclass
class Fault:
    id: int
    kind: str
    remaining: int
    match: str | None = None  # operation name or root field name; None = any GraphQL call
    seconds: float = 0.0
    retry_after: float = 1.0
    apply: bool = False
    fired: int = 0

    def matches(self, operation_name: str | None, root_fields: list[str]) -> bool:
        if self.match is None:
            return True
        return self.match == operation_name or self.match in root_fields

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "remaining": self.remaining,
            "match": self.match,
            "seconds": self.seconds,
            "retry_after": self.retry_after,
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
        retry_after: float = 1.0,
        apply: bool | None = None,
    ) -> Fault:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
        if kind == "lost_write" and match is None:
            match = "inventorySetQuantities"
        fault = Fault(
            id=next(self._ids),
            kind=kind,
            remaining=int(count),
            match=match,
            seconds=float(seconds),
            retry_after=float(retry_after),
            apply=DEFAULT_APPLY.get(kind, False) if apply is None else bool(apply),
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, operation_name: str | None, root_fields: list[str]) -> list[Fault]:
        """Consume at most one pending fault of each kind matching this call."""
        taken: dict[str, Fault] = {}
        with self._lock:
            for fault in self._faults:
                if fault.remaining <= 0 or fault.kind in taken:
                    continue
                if fault.matches(operation_name, root_fields):
                    fault.remaining -= 1
                    fault.fired += 1
                    taken[fault.kind] = fault
            self._faults = [f for f in self._faults if f.remaining > 0]
        return list(taken.values())

    def pending(self) -> list[dict]:
        with self._lock:
            return [f.as_json() for f in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults = []


@dataclass
class RequestLog:
    history: int = 10_000
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _entries: deque = field(default_factory=deque)
    _seq: Any = field(default_factory=lambda: itertools.count(1))
    _counters: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._entries = deque(maxlen=self.history)
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._counters = {
                "calls": 0,
                "by_operation": Counter(),
                "by_field": Counter(),
                "by_mutation_field": Counter(),
                "by_status": Counter(),
                "by_outcome": Counter(),
                "by_fault": Counter(),
                "requested_cost_total": 0,
                "actual_cost_total": 0,
            }

    def record(self, entry: dict) -> None:
        with self._lock:
            entry = {"seq": next(self._seq), **entry}
            self._entries.append(entry)
            c = self._counters
            c["calls"] += 1
            c["by_operation"][entry.get("operation_name") or "<anonymous>"] += 1
            for name in entry.get("root_fields") or ():
                c["by_field"][name] += 1
                if entry.get("operation_type") == "mutation":
                    c["by_mutation_field"][name] += 1
            c["by_status"][str(entry.get("status"))] += 1
            c["by_outcome"][entry.get("outcome", "ok")] += 1
            for kind in entry.get("faults") or ():
                c["by_fault"][kind] += 1
            c["requested_cost_total"] += entry.get("requested_cost") or 0
            c["actual_cost_total"] += entry.get("actual_cost") or 0

    def counters(self) -> dict:
        with self._lock:
            return {k: dict(v) if isinstance(v, Counter) else v for k, v in self._counters.items()}

    def entries(self, limit: int | None = None) -> list[dict]:
        with self._lock:
            items = list(self._entries)
        return items[-limit:] if limit else items
