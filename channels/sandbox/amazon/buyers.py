"""A steady stream of simulated Amazon buyers for the demo and load tests."""

from __future__ import annotations

import random
import threading
from typing import TYPE_CHECKING

from .model import OutOfStock, SandboxError

if TYPE_CHECKING:
    from .model import AmazonSandbox


class BuyerLoop:
    """Places orders at `rate_per_second` on the seller's buyable listings, MFN and AFN alike,
    picked by `weights` ({sku: weight}, default equal). With `cancel_rate` a share of the orders
    is cancelled by the buyer while still pending. A listing that cannot be bought (0 units)
    counts as a refusal and stays in the mix, since a restock or a push can bring it back."""

    def __init__(
        self,
        sandbox: AmazonSandbox,
        *,
        rate_per_second: float,
        rng: random.Random,
        weights: dict[str, float] | None = None,
        quantity: int = 1,
        seller_id: str | None = None,
        marketplace_id: str | None = None,
        cancel_rate: float = 0.0,
        max_orders: int | None = None,
    ) -> None:
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive")
        self.sandbox = sandbox
        self.interval = 1.0 / rate_per_second
        self.rng = rng
        self.quantity = quantity
        self.seller_id = seller_id
        self.marketplace_id = marketplace_id
        self.cancel_rate = cancel_rate
        self.max_orders = max_orders
        with sandbox.lock:
            seller = sandbox.seller(seller_id)
            skus = sorted(
                {
                    listing.sku
                    for listing in sandbox.listings.values()
                    if listing.seller_id == seller.seller_id and not listing.incomplete
                }
            )
        self.weights = dict(weights) if weights else dict.fromkeys(skus, 1.0)
        self.orders: list[str] = []
        self.refused = 0
        self.cancelled = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="amazon-sandbox-buyers", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the loop to end on its own (max_orders reached); True if it did."""
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
            if self.max_orders is not None and len(self.orders) >= self.max_orders:
                return
            self.buy_once()

    def buy_once(self) -> str | None:
        skus = list(self.weights)
        sku = self.rng.choices(skus, weights=[self.weights[s] for s in skus])[0]
        cancel = self.rng.random() < self.cancel_rate
        try:
            order = self.sandbox.place_order(
                sku,
                self.quantity,
                seller_id=self.seller_id,
                marketplace_id=self.marketplace_id,
            )
        except OutOfStock:
            self.refused += 1
            return None
        except SandboxError:
            # The listing vanished (deleted by a feed, say): it leaves the mix.
            self.weights.pop(sku, None)
            return None
        self.orders.append(order["orderId"])
        if cancel:
            try:
                self.sandbox.cancel_order(order["orderId"], reason="Buyer canceled")
                self.cancelled += 1
            except SandboxError:
                pass
        return order["orderId"]

    def as_json(self) -> dict:
        return {
            "running": self.running,
            "orders": len(self.orders),
            "refused": self.refused,
            "cancelled": self.cancelled,
            "skus": sorted(self.weights),
        }
