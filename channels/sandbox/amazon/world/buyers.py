"""Simulated buyers: a steady stream of Amazon orders placed from a thread, for the demo and
load tests, now and then returning a unit of a shipped merchant-fulfilled order."""

from __future__ import annotations

import random
from typing import Any

from channels.sandbox.common.errors import OutOfStock, SandboxError
from channels.sandbox.common.loops import OrderLoop

from .base import WorldBase

# Amazon's return reason codes as the flat-file returns report spells them.
BUYER_RETURN_REASONS = (
    "CR-UNWANTED_ITEM",
    "CR-DEFECTIVE",
    "CR-ORDERED_WRONG_ITEM",
    "CR-NOT_AS_DESCRIBED",
    "CR-QUALITY_UNACCEPTABLE",
    "CR-DAMAGED_BY_CARRIER",
)


class BuyerLoop(OrderLoop):
    """Places orders at `rate_per_second` on the seller's buyable listings, MFN and AFN alike,
    picked by `weights` ({sku: weight}, default equal). With `cancel_rate` a share of the orders
    is cancelled by the buyer while still pending; with `return_rate`, on that share of the turns
    a buyer also asks to return a unit of a shipped merchant-fulfilled order. A listing that
    cannot be bought (0 units) counts as a refusal and stays in the mix, since a restock or a
    push can bring it back."""

    thread_name = "amazon-sandbox-buyers"

    def __init__(
        self,
        sandbox: BuyersMixin,
        *,
        rate_per_second: float,
        rng: random.Random,
        weights: dict[str, float] | None = None,
        quantity: int = 1,
        seller_id: str | None = None,
        marketplace_id: str | None = None,
        cancel_rate: float = 0.0,
        return_rate: float = 0.0,
        max_orders: int | None = None,
    ) -> None:
        self.seller_id = seller_id
        self.marketplace_id = marketplace_id
        self.cancel_rate = cancel_rate
        self.return_rate = return_rate
        super().__init__(
            sandbox,
            rate_per_second=rate_per_second,
            rng=rng,
            weights=weights,
            quantity=quantity,
            max_orders=max_orders,
        )
        self.orders: list[str] = []
        self.cancelled = 0
        self.returned = 0

    def _skus(self) -> list[str]:
        seller = self.sandbox.seller(self.seller_id)
        return sorted(
            {
                listing.sku
                for listing in self.sandbox.listings.values()
                if listing.seller_id == seller.seller_id and not listing.incomplete
            }
        )

    @property
    def placed(self) -> int:
        return len(self.orders)

    def order_once(self) -> str | None:
        placed = self.buy_once()
        # Drawn only with a return rate, so a seed gives the same orders as before without one.
        if self.return_rate and self.rng.random() < self.return_rate:
            self.return_once()
        return placed

    def buy_once(self) -> str | None:
        sku = self.pick()
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

    def return_once(self) -> str | None:
        """A buyer asks to return one unit of a shipped merchant-fulfilled item not yet wholly
        returned, with one of Amazon's reason codes; returns the RMA id (None: nothing
        shipped to return)."""
        with self.sandbox.lock:
            returnable = self.sandbox.returnable_items(self.seller_id, self.marketplace_id)
            if not returnable:
                return None
            order_id, order_item_id = self.rng.choice(returnable)
            item = {
                "order_item_id": order_item_id,
                "quantity": 1,
                "reason": self.rng.choice(BUYER_RETURN_REASONS),
            }
            request = self.sandbox.return_merchant_order(order_id, [item])
        self.returned += 1
        return request["rma_id"]

    def as_json(self) -> dict:
        return {
            "running": self.running,
            "orders": len(self.orders),
            "refused": self.refused,
            "cancelled": self.cancelled,
            "returned": self.returned,
            "skus": sorted(self.weights),
        }


class BuyersMixin(WorldBase):
    def start_buyers(self, rate_per_second: float, **options: Any) -> dict:
        """Simulated buyers placing orders in a thread (see BuyerLoop for options)."""
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
