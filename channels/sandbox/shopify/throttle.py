"""Shopify's calculated-cost leaky bucket, one per shop (app + shop in the real API)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ThrottleStatus:
    maximum_available: float
    currently_available: int
    restore_rate: float

    def as_json(self) -> dict:
        # Shopify sends the two limits as floats and the current level as an int.
        return {
            "maximumAvailable": float(self.maximum_available),
            "currentlyAvailable": int(self.currently_available),
            "restoreRate": float(self.restore_rate),
        }


class CostBucket:
    """Debit the requested cost before running a query, refund down to the actual cost after.

    The level is kept as a float so that slow refills are not lost to rounding; callers only
    ever see the integer part, as in Shopify's throttleStatus.
    """

    def __init__(
        self,
        maximum_available: float = 2000.0,
        restore_rate: float = 100.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.maximum_available = float(maximum_available)
        self.restore_rate = float(restore_rate)
        self._level = self.maximum_available
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._stamp)
        self._stamp = now
        self._level = min(self.maximum_available, self._level + elapsed * self.restore_rate)

    def try_debit(self, cost: int) -> bool:
        with self._lock:
            self._refill()
            if self._level < cost:
                return False
            self._level -= cost
            return True

    def refund(self, points: float) -> None:
        if points <= 0:
            return
        with self._lock:
            self._refill()
            self._level = min(self.maximum_available, self._level + points)

    def status(self) -> ThrottleStatus:
        with self._lock:
            self._refill()
            return ThrottleStatus(self.maximum_available, int(self._level), self.restore_rate)

    def seconds_until(self, cost: int) -> float:
        """How long a client has to wait before `cost` points fit, Shopify's documented advice."""
        with self._lock:
            self._refill()
            missing = cost - self._level
            return max(0.0, missing / self.restore_rate) if self.restore_rate else float("inf")

    def configure(
        self,
        *,
        maximum_available: float | None = None,
        restore_rate: float | None = None,
        currently_available: float | None = None,
    ) -> None:
        with self._lock:
            self._refill()
            if maximum_available is not None:
                self.maximum_available = float(maximum_available)
                self._level = min(self._level, self.maximum_available)
            if restore_rate is not None:
                self.restore_rate = float(restore_rate)
            if currently_available is not None:
                self._level = max(0.0, min(float(currently_available), self.maximum_available))

    def fill(self) -> None:
        with self._lock:
            self._stamp = self._clock()
            self._level = self.maximum_available
