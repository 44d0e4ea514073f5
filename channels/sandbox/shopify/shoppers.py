"""A steady stream of simulated checkouts for the demo and load tests."""

from __future__ import annotations

import random
import threading
from typing import TYPE_CHECKING

from .model import OutOfStock

if TYPE_CHECKING:
    from .model import ShopifySandbox


class ShopperLoop:
    def __init__(
        self,
        sandbox: ShopifySandbox,
        *,
        rate_per_second: float,
        weights: dict[str, float] | None,
        quantity: int,
        rng: random.Random,
        max_orders: int | None = None,
    ) -> None:
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive")
        self.sandbox = sandbox
        self.interval = 1.0 / rate_per_second
        self.quantity = quantity
        self.rng = rng
        self.max_orders = max_orders
        with sandbox.lock:
            skus = [v.sku for v in sandbox.variants.values() if v.sku]
        self.weights = dict(weights) if weights else dict.fromkeys(skus, 1.0)
        self.orders = 0
        self.refused = 0
        self.sold_out: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="shopify-sandbox-shoppers", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the loop to end on its own (sold out or max_orders); True if it did."""
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
            if self.max_orders is not None and self.orders >= self.max_orders:
                return
            skus = list(self.weights)
            sku = self.rng.choices(skus, weights=[self.weights[s] for s in skus])[0]
            try:
                self.sandbox.sell(sku, self.quantity)
                self.orders += 1
            except OutOfStock:
                # A sold-out SKU drops out of the mix, like shoppers who find it unavailable.
                self.refused += 1
                self.sold_out.append(sku)
                del self.weights[sku]

    def as_json(self) -> dict:
        return {
            "running": self.running,
            "orders": self.orders,
            "refused": self.refused,
            "sold_out": list(self.sold_out),
            "remaining_skus": sorted(self.weights),
        }
