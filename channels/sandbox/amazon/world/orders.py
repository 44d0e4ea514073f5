"""Orders: a buyer checking out, the Pending period, cancellations, and the order's JSON."""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Iterable
from decimal import Decimal

from channels.sandbox.amazon import payloads
from channels.sandbox.common.errors import NotFound, OutOfStock, SandboxError

from .base import WorldBase
from .records import Listing, Order, OrderItem

# Regular buyers: simulated orders come from them, so a buyer orders again. Amazon shows each
# seller a relay address per buyer, never the buyer's own. The first ones also shop on the
# Shopify sandbox with the same phone number (channels.sandbox.shopify.shop.orders).
BUYERS = 30
# The Shopify sandbox's regulars have these names for the same numbers.
_FIRST = ("Ana", "Ben", "Chloe", "Dev", "Elena", "Femi", "Grace", "Hiro", "Ines", "Jonas")
_LAST = ("Lopez", "Okafor", "Smith", "Tanaka")
_STATES = ("CA", "NY", "TX", "WA", "KY", "FL")
_SPEEDS = ("STANDARD", "EXPEDITED", "SECOND_DAY", "NEXT_DAY")


def regular_buyer(seed: int, order: Order, country: str) -> dict:
    """One of the seller's BUYERS regulars for this order (deterministic per seed). Most
    Amazon-fulfilled orders are Prime; a few merchant-fulfilled ones too (seller-fulfilled
    Prime)."""
    pick = random.Random(f"{seed}:{order.order_id}")
    k = pick.randrange(BUYERS)
    prime = pick.random() < (0.7 if order.afn else 0.1)
    token = hashlib.sha256(f"{seed}:buyer:{k}".encode()).hexdigest()[:14]
    return {
        "name": f"{_FIRST[k % len(_FIRST)]} {_LAST[k // len(_FIRST) % len(_LAST)]}",
        "email": f"{token}@marketplace.amazon.com",
        "phone": None if k % 4 == 3 else f"+1 415-555-{100 + k:04d}",
        "state_or_region": _STATES[k % len(_STATES)] if country == "US" else "",
        "prime": prime,
        "service_level": _SPEEDS[3 if prime else pick.randrange(2)],
    }


def _set_buyer(order: Order, buyer: dict) -> None:
    unknown = set(buyer) - {"name", "email", "phone", "state_or_region", "prime", "service_level"}
    if unknown:
        raise SandboxError(f"buyer: unknown fields {sorted(unknown)}")
    order.buyer_name = buyer.get("name") or order.buyer_name
    order.buyer_email = buyer.get("email") or order.buyer_email
    order.phone = buyer.get("phone")
    order.state_or_region = buyer.get("state_or_region") or ""
    order.programs = ["PRIME"] if buyer.get("prime") else []
    order.service_level = buyer.get("service_level") or "STANDARD"


class OrdersMixin(WorldBase):
    def place_order(
        self,
        sku: str | None = None,
        quantity: int = 1,
        *,
        lines: list[tuple[str, int]] | None = None,
        seller_id: str | None = None,
        marketplace_id: str | None = None,
        pending_seconds: float | None = None,
        buyer: dict | None = None,
    ) -> dict:
        """A buyer checks out. MFN lines take the listing's merchant quantity, AFN lines take FBA
        fulfillable units (reserved as pending customer orders until the order ships). All lines
        must share one fulfillment channel, as Amazon splits mixed carts into separate orders.
        Raises OutOfStock (nothing changes) when any line is not buyable for its quantity.
        `buyer` ({"name", "email", "phone", "state_or_region", "prime", "service_level"}, each
        optional) sets who bought and how it ships; without it one of BUYERS regulars does."""
        if lines is None:
            if sku is None:
                raise SandboxError("give a sku or lines")
            lines = [(sku, quantity)]
        with self.lock:
            seller = self.seller(seller_id)
            marketplace_id = marketplace_id or seller.marketplace_ids[0]
            info = self._marketplace(marketplace_id)
            resolved = self._buyable_lines(seller.seller_id, marketplace_id, lines)
            order = self._new_order(seller.seller_id, marketplace_id, info[3], resolved)
            _set_buyer(order, buyer or regular_buyer(self.config.seed, order, info[0]))
            self.orders[order.order_id] = order
            for listing, line_quantity in resolved:
                if order.afn:
                    stock = self._fba_stock(listing)
                    stock.buckets["fulfillable"] -= line_quantity
                    stock.buckets["pending_customer_order"] += line_quantity
                    self._fba_changed(stock)
                else:
                    self._set_listing_quantity(listing, (listing.quantity or 0) - line_quantity)
            self._order_changed(order, "OrderStatusChange", "NewOrder")
            delay = (
                self.config.order_pending_seconds if pending_seconds is None else pending_seconds
            )

            def release(order_id: str = order.order_id) -> None:
                self._release_pending(order_id)

            if delay <= 0:
                release()
            else:
                self.scheduler.at(delay, f"release {order.order_id}", release)
            return self.order_json(order)

    def _buyable_lines(
        self, seller_id: str, marketplace_id: str, lines: list[tuple[str, int]]
    ) -> list[tuple[Listing, int]]:
        """The listing of each line, refused before anything changes when one is not buyable or
        the lines mix fulfillment channels."""
        resolved: list[tuple[Listing, int]] = []
        for line_sku, line_quantity in lines:
            if int(line_quantity) < 1:
                raise SandboxError("quantities must be positive")
            listing = self.listings.get((seller_id, line_sku, marketplace_id))
            if listing is None:
                raise NotFound(f"no listing {line_sku!r} in {marketplace_id}")
            if self.buyable_quantity(listing) < int(line_quantity):
                raise OutOfStock(
                    f"{line_sku!r} has {self.buyable_quantity(listing)} buyable unit(s)",
                    sku=line_sku,
                )
            resolved.append((listing, int(line_quantity)))
        if len({listing.afn for listing, _ in resolved}) > 1:
            raise SandboxError("an order is either all AFN or all MFN; place two orders")
        return resolved

    def _new_order(
        self,
        seller_id: str,
        marketplace_id: str,
        currency: str,
        resolved: list[tuple[Listing, int]],
    ) -> Order:
        afn = resolved[0][0].afn
        now = self.now()
        return Order(
            order_id=self._order_id(),
            seller_id=seller_id,
            marketplace_id=marketplace_id,
            fulfilled_by="AMAZON" if afn else "MERCHANT",
            status="PENDING",
            created=now,
            updated=now,
            items=[
                OrderItem(
                    order_item_id=self._order_item_id(),
                    sku=listing.sku,
                    asin=listing.asin,
                    title=listing.item_name,
                    quantity=line_quantity,
                    unit_price=listing.price or Decimal(self.config.currency_default_price),
                )
                for listing, line_quantity in resolved
            ],
            currency=currency,
            postal_code=f"{self.rng.randrange(10000, 99999)}",
            buyer_name=f"Buyer {self._number()}",
            buyer_email=f"buyer-{uuid.uuid4().hex[:10]}@marketplace.amazon.com",
            city="Seattle",
        )

    def _release_pending(self, order_id: str) -> None:
        order = self.orders[order_id]
        if order.status != "PENDING":
            return
        order.status = "UNSHIPPED"
        self._touch(order)
        self._order_changed(order, "OrderStatusChange", "PaymentAuthorized")
        if order.afn:

            def ship(order_id: str = order_id) -> None:
                self._ship_afn(order_id)

            self.scheduler.at(self.config.afn_ship_seconds, f"ship {order_id}", ship)

    def release_order(self, order_id: str) -> dict:
        """End the Pending period now (payment authorised): the order becomes UNSHIPPED."""
        with self.lock:
            self._release_pending(self._order(order_id).order_id)
            return self.order_json(self._order(order_id))

    def cancel_order(
        self,
        order_id: str,
        *,
        reason: str = "Buyer canceled",
        request_only: bool = False,
        restock: bool = True,
        cancelled_by: str | None = None,
    ) -> dict:
        """Cancel an unshipped order (buyer or Amazon), giving the units back: MFN quantity to
        the listing, AFN units from pending-customer-order to fulfillable.

        `request_only` models a buyer asking to cancel an MFN order that is no longer pending:
        the items carry the request (BuyerRequestedChange) and the seller has to act.
        `cancelled_by` (BUYER, MERCHANT, AMAZON) shows as the items' cancellationExecution."""
        with self.lock:
            order = self._order(order_id)
            if order.status in ("SHIPPED", "CANCELLED"):
                raise SandboxError(f"order {order_id} is {order.status} and cannot be cancelled")
            if request_only:
                for item in order.items:
                    item.cancel_requested = True
                    item.cancel_reason = reason
                self._touch(order)
                self._order_changed(order, "BuyerRequestedChange", "Buyer Requested Cancel")
                return self.order_json(order)
            for item in order.items:
                remaining = item.quantity - item.shipped
                listing = self.listings.get((order.seller_id, item.sku, order.marketplace_id))
                if listing is None or not remaining:
                    continue
                if order.afn:
                    stock = self._fba_stock(listing)
                    stock.buckets["pending_customer_order"] -= remaining
                    if restock:
                        stock.buckets["fulfillable"] += remaining
                    self._fba_changed(stock)
                elif restock and not listing.afn:
                    self._set_listing_quantity(listing, (listing.quantity or 0) + remaining)
            order.status = "CANCELLED"
            order.cancel_reason = reason
            order.cancelled_by = cancelled_by
            self._touch(order)
            self._order_changed(order, "OrderStatusChange", "OrderCanceled")
            return self.order_json(order)

    def _order(self, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise NotFound(f"no order {order_id!r}")
        return order

    def _touch(self, order: Order) -> None:
        order.updated = self.now()

    def _order_changed(self, order: Order, change_type: str, reason: str) -> None:
        payload = payloads.order_change_payload(order, change_type, reason, self.now())
        self._publish("ORDER_CHANGE", payload)

    def order_json(self, order: Order | str, included: Iterable[str] | None = None) -> dict:
        """An order in the Orders 2026-01-01 shape, with every dataset unless `included` says."""
        all_data = ("BUYER", "RECIPIENT", "PROCEEDS", "FULFILLMENT", "PACKAGES", "CANCELLATION")
        with self.lock:
            if isinstance(order, str):
                order = self._order(order)
            return payloads.order_2026(order, set(all_data if included is None else included))

    def orders_json(self, seller_id: str | None = None) -> list[dict]:
        with self.lock:
            return [
                self.order_json(o) for o in self.orders.values() if seller_id in (None, o.seller_id)
            ]
