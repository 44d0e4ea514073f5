"""A background loop of simulated customers placing orders at a steady rate."""

from __future__ import annotations

import random
import threading
from typing import Any


class OrderLoop:
    """Places one order of `quantity` units every 1/`rate_per_second` seconds from a thread until
    stopped, until no SKU is left in the mix or after `max_orders`. SKUs are drawn from the
    seeded `rng` by `weights` ({sku: weight}; default: every SKU of `_skus()`, equally), so a
    seed gives the same stream of orders. Subclasses place the order (`order_once`) and count
    them (`placed`)."""

    thread_name = "sandbox-orders"

    def __init__(
        self,
        sandbox: Any,
        *,
        rate_per_second: float,
        rng: random.Random,
        weights: dict[str, float] | None,
        quantity: int,
        max_orders: int | None,
    ) -> None:
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive")
        self.sandbox = sandbox
        self.interval = 1.0 / rate_per_second
        self.rng = rng
        self.quantity = quantity
        self.max_orders = max_orders
        with sandbox.lock:
            skus = self._skus()
        self.weights = dict(weights) if weights else dict.fromkeys(skus, 1.0)
        self.refused = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)

    def _skus(self) -> list[str]:
        """The SKUs customers can order; called with the sandbox lock held."""
        raise NotImplementedError

    @property
    def placed(self) -> int:
        raise NotImplementedError

    def order_once(self) -> object:
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the loop to end on its own (no SKU left or max_orders); True if it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._stop.is_set()

    def _run(self) -> None:
        # Event.wait paces the loop and doubles as the stop signal.
        while not self._stop.wait(self.interval):
            if not self.weights:
                return
            if self.max_orders is not None and self.placed >= self.max_orders:
                return
            self.order_once()

    def pick(self) -> str:
        skus = list(self.weights)
        return self.rng.choices(skus, weights=[self.weights[s] for s in skus])[0]
