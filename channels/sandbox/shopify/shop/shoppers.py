"""Simulated shoppers checking out from a thread."""

from __future__ import annotations

import random

from channels.sandbox.shopify.shoppers import ShopperLoop

from .base import ShopBase


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
