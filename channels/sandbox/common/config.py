"""Sandbox settings: a config dataclass with keyword overrides, and a test's manual clock."""

from __future__ import annotations

import threading
from typing import Any, TypeVar

Config = TypeVar("Config")


def override(config: Config, overrides: dict[str, Any]) -> Config:
    """Set `overrides` (SandboxConfig fields given as keywords) on `config`; an unknown name is a
    TypeError, as for a misspelt keyword argument."""
    for key, value in overrides.items():
        if not hasattr(config, key):
            raise TypeError(f"unknown sandbox setting {key!r}")
        setattr(config, key, value)
    return config


class ManualClock:
    """A monotonic clock that only moves when a test says so, for deterministic refill checks."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._now += seconds
            return self._now
