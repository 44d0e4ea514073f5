"""The fault book: faults a test injects, each firing on the next `count` calls it matches.

Which kinds exist and what each does to an answer is the sandbox's; the book only keeps them,
matches them against the names of a call and hands out the ones that fire.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass


@dataclass
class Fault:
    id: int
    kind: str
    remaining: int
    match: str | None = None  # one of the names of a call (operation, field, type); None = any
    seconds: float = 0.0
    retry_after: float | None = None  # for sandboxes whose faults answer with Retry-After
    apply: bool = False
    fired: int = 0

    def matches(self, names: Collection[str | None]) -> bool:
        return self.match is None or self.match in names

    def as_json(self) -> dict:
        data = dataclasses.asdict(self)
        if self.retry_after is None:
            del data["retry_after"]
        return data


class FaultBook:
    """`kinds`: kind -> what the client sees. `default_apply`: whether the request still runs
    on the server before the fault shows, per kind (what makes a timeout or a dropped connection
    dangerous). `model_kinds`: kinds the model consumes by name (`take_one`) rather than the
    HTTP layer (`take`)."""

    def __init__(
        self,
        kinds: Mapping[str, str],
        default_apply: Mapping[str, bool],
        model_kinds: Collection[str] = (),
    ) -> None:
        self.kinds = kinds
        self.default_apply = default_apply
        self.model_kinds = model_kinds
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def check_kind(self, kind: str) -> None:
        if kind not in self.kinds:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(self.kinds)}")

    def add(
        self,
        kind: str,
        count: int = 1,
        *,
        match: str | None = None,
        seconds: float = 0.0,
        retry_after: float | None = None,
        apply: bool | None = None,
    ) -> Fault:
        self.check_kind(kind)
        fault = Fault(
            id=next(self._ids),
            kind=kind,
            remaining=int(count),
            match=match,
            seconds=float(seconds),
            retry_after=None if retry_after is None else float(retry_after),
            apply=self.default_apply.get(kind, False) if apply is None else bool(apply),
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(
        self, names: Collection[str | None], kinds: Collection[str] | None = None
    ) -> list[Fault]:
        """Consume at most one pending fault of each kind matching `names` (and `kinds`)."""
        taken: dict[str, Fault] = {}
        with self._lock:
            for fault in self._faults:
                if fault.remaining <= 0 or fault.kind in taken:
                    continue
                if kinds is not None and fault.kind not in kinds:
                    continue
                if kinds is None and fault.kind in self.model_kinds:
                    continue
                if fault.matches(names):
                    fault.remaining -= 1
                    fault.fired += 1
                    taken[fault.kind] = fault
            self._faults = [f for f in self._faults if f.remaining > 0]
        return list(taken.values())

    def take_one(self, kind: str, names: Collection[str | None] = ()) -> Fault | None:
        taken = self.take(names, (kind,))
        return taken[0] if taken else None

    def pending(self) -> list[dict]:
        with self._lock:
            return [f.as_json() for f in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults = []
