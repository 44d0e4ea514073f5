"""Orders: a shopper checking out, cancelling, and the units an order gives back."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from channels.sandbox.common.errors import NotFound, OutOfStock, SandboxError
from channels.sandbox.shopify import payloads

from .base import ShopBase
from .records import (
    Level,
    LineItem,
    Location,
    Order,
    Refund,
    RefundLine,
    Shopper,
    Variant,
    gid,
    parse_gid,
    unique_levels,
)

CANCEL_REASONS = ("customer", "declined", "fraud", "inventory", "staff", "other")

# The shop's regular customers: simulated orders come from them, so a customer orders again.
SHOPPERS = 40
_FIRST = ("Ana", "Ben", "Chloe", "Dev", "Elena", "Femi", "Grace", "Hiro", "Ines", "Jonas")
_LAST = ("Lopez", "Okafor", "Smith", "Tanaka")
_DESTINATIONS = (
    ("California", "CA", "San Francisco", "94105"),
    ("New York", "NY", "Brooklyn", "11201"),
    ("Texas", "TX", "Austin", "78701"),
    ("Washington", "WA", "Seattle", "98101"),
    ("Kentucky", "KY", "Louisville", "40202"),
)
_RATES = (("Standard", "STANDARD"), ("Express", "EXPRESS"))


def shopper_from(customer: dict) -> Shopper:
    try:
        return Shopper(**customer)
    except TypeError as error:
        raise SandboxError(f"customer: {error}") from None


def regular_shopper(seed: int, order_number: int, source_name: str) -> Shopper | None:
    """One of the shop's SHOPPERS regulars, picked for this order (deterministic per seed);
    none for a point-of-sale sale, which has no customer."""
    if source_name == "pos":
        return None
    pick = random.Random(f"{seed}:{order_number}")
    k = pick.randrange(SHOPPERS)
    first, last = _FIRST[k % len(_FIRST)], _LAST[k // len(_FIRST) % len(_LAST)]
    province, code, city, zip_code = _DESTINATIONS[k % len(_DESTINATIONS)]
    title, rate = _RATES[pick.random() < 0.2]
    return Shopper(
        first_name=first,
        last_name=last,
        email=f"{first}.{last}.{k}@example.com".lower(),
        # Some shoppers leave no phone at checkout.
        phone=None if k % 3 == 0 else f"+1 415-555-{100 + k:04d}",
        city=city,
        zip=zip_code,
        province=province,
        province_code=code,
        shipping_title=title,
        shipping_code=rate,
    )


class OrdersMixin(ShopBase):
    def sell(
        self,
        variant: Any = None,
        quantity: int = 1,
        location: Any = None,
        *,
        lines: Iterable[tuple[Any, int]] | None = None,
        variant_id_null: bool = False,
        source_name: str = "web",
        customer: dict | None = None,
    ) -> dict:
        """A shopper checks out: available -> committed, then orders/create.

        `variant` is a variant id, ProductVariant gid or SKU; `lines` takes several
        (variant, quantity) pairs instead. Refused with OutOfStock when no location (or the
        given one) has enough available for every line. Returns the REST order payload.
        `customer` sets who ordered and where it goes (Shopper's fields: first_name,
        last_name, email, phone, province_code, country_code, shipping_title...); without it
        an online order comes from one of SHOPPERS regulars, a point-of-sale one from no one.
        """
        wanted = list(lines) if lines is not None else [(variant, quantity)]
        with self.lock:
            resolved = []
            for ref, qty in wanted:
                if int(qty) <= 0:
                    raise SandboxError("quantity must be positive")
                resolved.append((self.find_variant(ref), int(qty)))
            chosen = self._checkout_location(resolved, location)
            moment = self.now()
            order_id = self.next_id("order")
            line_items = []
            touched = []
            for v, qty in resolved:
                level = self.levels[(v.inventory_item_id, chosen.id)]
                level.move({"available": -qty, "committed": qty}, moment)
                touched.append(level)
                line_items.append(self._line_item(v, qty, hide_variant_id=variant_id_null))
            number = next(self._order_numbers)
            order = Order(
                id=order_id,
                number=number,
                created_at=moment,
                updated_at=moment,
                location_id=chosen.id,
                line_items=line_items,
                fulfillment_order_id=self.next_id("fulfillment_order"),
                fulfillment_order_line_ids={
                    line.id: self.next_id("fulfillment_order_line") for line in line_items
                },
                confirmation_number=uuid.uuid4().hex[:9].upper(),
                source_name=source_name,
                shopper=shopper_from(customer)
                if customer is not None
                else regular_shopper(self.config.seed, number, source_name),
            )
            self.orders[order.id] = order
            payload = payloads.order_payload(order)
            self._emit("orders/create", payload, moment)
            for level in touched:
                self._emit_level(level, moment)
            return payload

    def _checkout_location(self, resolved: list[tuple[Variant, int]], location: Any) -> Location:
        """The location that ships the whole cart: the given one, else the first active one
        (primary first) with enough available for every line."""
        candidates = (
            [self.find_location(location)]
            if location is not None
            else sorted(
                (loc for loc in self.locations.values() if loc.is_active),
                key=lambda loc: (not loc.is_primary, loc.id),
            )
        )
        for candidate in candidates:
            levels = [self.levels.get((v.inventory_item_id, candidate.id)) for v, _ in resolved]
            if all(
                level is not None and level.quantity("available") >= qty
                for level, (_, qty) in zip(levels, resolved, strict=True)
            ):
                return candidate
        raise OutOfStock(
            "sold out",
            skus=[v.sku for v, _ in resolved],
            requested=[qty for _, qty in resolved],
        )

    def _line_item(self, variant: Variant, quantity: int, *, hide_variant_id: bool = False):
        """A new order line for `quantity` units of the variant, all of them still to ship."""
        product = self.products[variant.product_id]
        return LineItem(
            id=self.next_id("line_item"),
            variant_id=variant.id,
            product_id=product.id,
            inventory_item_id=variant.inventory_item_id,
            sku=variant.sku,
            title=product.title,
            variant_title=None if variant.title == "Default Title" else variant.title,
            price=variant.price,
            quantity=quantity,
            current_quantity=quantity,
            unfulfilled_quantity=quantity,
            hide_variant_id=hide_variant_id,
            grams=variant.grams,
        )

    def _release(
        self, order: Order, line: LineItem, quantity: int, *, restock: bool, moment: datetime
    ) -> Level | None:
        """Take unfulfilled units off an order: back to available, or gone from on_hand."""
        level = self.levels.get((line.inventory_item_id, order.location_id))
        line.unfulfilled_quantity -= quantity
        line.current_quantity -= quantity
        if level is None or quantity == 0:
            return None
        deltas = {"committed": -quantity}
        if restock:
            deltas["available"] = quantity
        level.move(deltas, moment)
        return level if restock else None

    def cancel(
        self,
        order_ref: Any,
        *,
        restock: bool = True,
        reason: str = "customer",
        staff_note: str | None = None,
        refund: bool = True,
    ) -> dict:
        """Cancel an unfulfilled order; with restock its committed units return to available.

        Emits refunds/create (the cancellation refund, restock_type "cancel" when restocking),
        orders/cancelled, orders/updated and inventory_levels/update for restocked levels.
        """
        with self.lock:
            order = self.find_order(order_ref)
            reason = _cancel_reason(order, reason)
            moment = self.now()
            refund_lines, touched, amount = self._cancel_lines(
                order, restock=restock, moment=moment
            )
            order.cancelled_at = moment
            order.cancel_reason = reason
            order.closed_at = moment
            order.staff_note = staff_note
            order.updated_at = moment
            new_refund = None
            if refund and refund_lines:
                new_refund = Refund(
                    id=self.next_id("refund"),
                    order_id=order.id,
                    created_at=moment,
                    note=staff_note,
                    restock=restock,
                    lines=refund_lines,
                    amount=amount,
                    transaction_id=self.next_id("transaction"),
                )
                order.refunds.append(new_refund)
                order.financial_status = "refunded"
            else:
                order.financial_status = "voided"
            payload = payloads.order_payload(order)
            if new_refund is not None:
                self._emit("refunds/create", payloads.refund_payload(order, new_refund), moment)
            self._emit("orders/cancelled", payload, moment)
            self._emit("orders/updated", payload, moment)
            for level in unique_levels(touched):
                self._emit_level(level, moment)
            return payload

    def _cancel_lines(
        self, order: Order, *, restock: bool, moment: datetime
    ) -> tuple[list[RefundLine], list[Level], Decimal]:
        """Release every unfulfilled unit: the refund lines that record it, the levels whose
        available went back up, and the money the units were worth."""
        refund_lines = []
        touched = []
        amount = Decimal(0)
        for line in order.line_items:
            quantity = line.unfulfilled_quantity
            if quantity <= 0:
                continue
            amount += line.price * quantity
            refund_lines.append(
                RefundLine(
                    id=self.next_id("refund_line"),
                    line_item_id=line.id,
                    quantity=quantity,
                    restock_type="cancel" if restock else "no_restock",
                    location_id=order.location_id if restock else None,
                )
            )
            level = self._release(order, line, quantity, restock=restock, moment=moment)
            if level is not None:
                touched.append(level)
        return refund_lines, touched, amount

    def create_job(self) -> dict:
        """Shopify runs orderCancel as a job; the sandbox has already finished it."""
        with self.lock:
            job_id = self.next_id("job")
            job = {"id": gid("Job", job_id), "done": True}
            self.jobs[job_id] = job
            return job

    def _order_line(self, order: Order, spec: dict) -> LineItem:
        line_ref = spec.get("line_item_id")
        if line_ref is not None:
            number = line_ref if isinstance(line_ref, int) else parse_gid(line_ref, "LineItem")
            if number is None and str(line_ref).isdigit():
                number = int(line_ref)
            return order.line_item(number)
        for line in order.line_items:
            if line.sku == spec.get("sku"):
                return line
        raise NotFound(f"order {order.name} has no line for {spec}")


def _cancel_reason(order: Order, reason: str) -> str:
    """The reason in Shopify's lower-case code, once the order is known to be cancellable."""
    if order.cancelled_at is not None:
        raise SandboxError("Order has already been cancelled.", order_id=order.id)
    if any(line.fulfilled_quantity for line in order.line_items):
        raise SandboxError(
            "Cannot cancel an order with fulfilled items; cancel the fulfillments first.",
            order_id=order.id,
        )
    reason = reason.lower()
    if reason not in CANCEL_REASONS:
        raise SandboxError(f"unknown cancel reason {reason!r}")
    return reason
