"""Time for the sandbox: one monotonic clock drives rate limits, delayed work and timestamps.

A `ManualClock` only moves when a test says so. It also carries a wall-clock origin, so the
timestamps the sandbox writes (order times, `lastUpdatedTime`, feed times) move with it and a
test can reason about `lastUpdatedAfter` without sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from channels.sandbox.common import config

Clock = Callable[[], float]


class ManualClock(config.ManualClock):
    """Monotonic seconds that advance only through `advance()`; `now()` is the matching UTC
    wall time, starting at `wall_start` (default: the real time when the clock is made, whole
    seconds, so the sandbox's timestamps stay comparable with a client's own clock)."""

    def __init__(self, start: float = 0.0, wall_start: datetime | None = None) -> None:
        super().__init__(float(start))
        self._start = float(start)
        self.wall_start = wall_start or datetime.now(UTC).replace(microsecond=0)

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        return super().advance(seconds)

    def now(self) -> datetime:
        with self._lock:
            return self.wall_start + timedelta(seconds=self._now - self._start)


class RealClock:
    """time.monotonic for intervals, the system clock for timestamps."""

    def __call__(self) -> float:
        return time.monotonic()

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)


def wall_time(clock: Clock) -> datetime:
    now = getattr(clock, "now", None)
    return now() if callable(now) else datetime.now(UTC)


def iso(moment: datetime, *, millis: bool = False) -> str:
    """Amazon's timestamp style: UTC with a Z, whole seconds (milliseconds in notifications)."""
    moment = moment.astimezone(UTC)
    if millis:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str) -> datetime:
    """An ISO 8601 date or date-time as clients send it; no offset means UTC."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if len(text) == 10:
        text += "T00:00:00+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
