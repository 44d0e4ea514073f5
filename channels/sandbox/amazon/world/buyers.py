"""Simulated buyers placing orders from a thread."""

from __future__ import annotations

import random
from typing import Any

from channels.sandbox.amazon.buyers import BuyerLoop

from .base import WorldBase


class BuyersMixin(WorldBase):
    def start_buyers(self, rate_per_second: float, **options: Any) -> dict:
        """Simulated buyers placing orders in a thread (see buyers.BuyerLoop for options)."""
        self.stop_buyers()
        with self.lock:
            seed = options.pop("seed", None)
            loop = BuyerLoop(
                self,
                rate_per_second=rate_per_second,
                rng=random.Random(self.config.seed if seed is None else seed),
                **options,
            )
            self.buyers = loop
        loop.start()
        return loop.as_json()

    def stop_buyers(self) -> dict | None:
        loop = self.buyers
        if loop is None:
            return None
        loop.stop()
        self.buyers = None
        return loop.as_json()
