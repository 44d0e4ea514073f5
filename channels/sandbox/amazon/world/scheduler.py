"""Delayed work on the sandbox clock (a patch being applied, a feed moving along, an AFN order
shipping itself)."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from channels.sandbox.amazon.clock import Clock


@dataclass(order=True)
class _Task:
    due: float
    seq: int
    name: str = field(compare=False)
    run: Callable[[], None] = field(compare=False)


class Scheduler:
    """Delayed work on the sandbox clock; `run_due` is called with the sandbox lock held."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._heap: list[_Task] = []
        self._seq = itertools.count()

    def at(self, delay: float, name: str, run: Callable[[], None]) -> None:
        heapq.heappush(
            self._heap, _Task(self._clock() + max(0.0, delay), next(self._seq), name, run)
        )

    def run_due(self) -> int:
        ran = 0
        while self._heap and self._heap[0].due <= self._clock():
            task = heapq.heappop(self._heap)
            task.run()
            ran += 1
        return ran

    def next_due(self) -> float | None:
        return self._heap[0].due if self._heap else None

    def pending(self) -> list[dict]:
        now = self._clock()
        return [{"name": t.name, "due_in": round(t.due - now, 3)} for t in sorted(self._heap)]

    def clear(self) -> None:
        self._heap = []
