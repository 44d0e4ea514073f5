"""Simulated shoppers: a steady stream of checkouts from a thread, for the demo and load tests."""

from __future__ import annotations

import random

from channels.sandbox.common.errors import OutOfStock
from channels.sandbox.common.loops import OrderLoop

from .base import ShopBase


class ShopperLoop(OrderLoop):
    thread_name = "shopify-sandbox-shoppers"

    def __init__(
        self,
        sandbox: ShoppersMixin,
        *,
        rate_per_second: float,
        weights: dict[str, float] | None,
        quantity: int,
        rng: random.Random,
        max_orders: int | None = None,
    ) -> None:
        super().__init__(
            sandbox,
            rate_per_second=rate_per_second,
            rng=rng,
            weights=weights,
            quantity=quantity,
            max_orders=max_orders,
        )
        self.orders = 0
        self.sold_out: list[str] = []

    def _skus(self) -> list[str]:
        return [v.sku for v in self.sandbox.variants.values() if v.sku]

    @property
    def placed(self) -> int:
        return self.orders

    def order_once(self) -> None:
        sku = self.pick()
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


class ShoppersMixin(ShopBase):
    def start_shoppers(
        self,
        rate_per_second: float = 2.0,
        weights: dict[str, float] | None = None,
        *,
        quantity: int = 1,
        seed: int | None = None,
        max_orders: int | None = None,
    ):
        """Background checkouts at a steady rate, SKUs drawn by weight, until sold out."""
        self.stop_shoppers()
        loop = ShopperLoop(
            self,
            rate_per_second=rate_per_second,
            weights=weights,
            quantity=quantity,
            rng=random.Random(self.config.seed if seed is None else seed),
            max_orders=max_orders,
        )
        self.shoppers = loop
        loop.start()
        return loop

    def stop_shoppers(self) -> dict | None:
        loop, self.shoppers = self.shoppers, None
        if loop is None:
            return None
        loop.stop()
        return loop.as_json()
