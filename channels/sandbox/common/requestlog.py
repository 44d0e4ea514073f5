"""The request log that tests and benchmarks count calls with: the last `history` calls, and
counters over every call since the last clear. What a sandbox counts is its own (`_counters`,
`_count`); the log only keeps entries and counters consistent under one lock."""

from __future__ import annotations

import itertools
import threading
from collections import Counter, deque
from typing import Any


class RequestLog:
    def __init__(self, history: int) -> None:
        self.history = history
        self._lock = threading.Lock()
        self._entries: deque[dict] = deque(maxlen=history)
        self._seq = itertools.count(1)
        self._counters: dict[str, Any] = {}
        self.clear()

    def _new_counters(self) -> dict[str, Any]:
        """The counters of an empty log (Counters for the tallies by name)."""
        raise NotImplementedError

    def _count(self, counters: dict[str, Any], entry: dict) -> None:
        raise NotImplementedError

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._counters = self._new_counters()

    def record(self, entry: dict) -> dict:
        with self._lock:
            entry = {"seq": next(self._seq), **entry}
            self._entries.append(entry)
            self._count(self._counters, entry)
            return entry

    def counters(self) -> dict:
        with self._lock:
            return {k: dict(v) if isinstance(v, Counter) else v for k, v in self._counters.items()}

    def entries(self, limit: int | None = None) -> list[dict]:
        with self._lock:
            items = list(self._entries)
        return items[-limit:] if limit else items
