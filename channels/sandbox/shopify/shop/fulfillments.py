"""Fulfilments: shipping an order's units from its location."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from channels.sandbox.common.errors import SandboxError
from channels.sandbox.shopify import payloads

from .base import ShopBase
from .records import Fulfillment


class FulfillmentsMixin(ShopBase):
    def fulfill(
        self,
        order_ref: Any,
        lines: Iterable[dict] | None = None,
        *,
        tracking_company: str | None = None,
        tracking_numbers: Iterable[str] = (),
        tracking_urls: Iterable[str] = (),
    ) -> Fulfillment:
        """Ship units: committed (and so on_hand) go down at the order's location.

        lines: [{"line_item_id" | "sku", "quantity"}]; None ships everything still open.
        Emits fulfillments/create and orders/updated.
        """
        with self.lock:
            order = self.find_order(order_ref)
            if order.cancelled_at is not None:
                raise SandboxError("Fulfillment order is not in an open state.")
            if lines is None:
                plan = [(line, line.unfulfilled_quantity) for line in order.line_items]
            else:
                plan = [(self._order_line(order, s), int(s.get("quantity", 1))) for s in lines]
            plan = [(line, quantity) for line, quantity in plan if quantity > 0]
            if not plan:
                raise SandboxError("Nothing left to fulfill on this order.")
            for line, quantity in plan:
                if quantity > line.unfulfilled_quantity:
                    raise SandboxError(
                        f"Quantity {quantity} exceeds the {line.unfulfilled_quantity} "
                        f"unfulfilled units of line {line.id}."
                    )
            moment = self.now()
            for line, quantity in plan:
                level = self.levels.get((line.inventory_item_id, order.location_id))
                if level is not None:
                    level.move({"committed": -quantity}, moment)
                line.unfulfilled_quantity -= quantity
                line.fulfilled_quantity += quantity
            fulfillment = Fulfillment(
                id=self.next_id("fulfillment"),
                order_id=order.id,
                location_id=order.location_id,
                name=f"{order.name}.{len(order.fulfillments) + 1}",
                created_at=moment,
                updated_at=moment,
                lines=[(line.id, quantity) for line, quantity in plan],
                line_ids=[self.next_id("fulfillment_line") for _ in plan],
                tracking_company=tracking_company,
                tracking_numbers=list(tracking_numbers),
                tracking_urls=list(tracking_urls),
            )
            order.fulfillments.append(fulfillment)
            order.updated_at = moment
            self._emit(
                "fulfillments/create", payloads.fulfillment_payload(order, fulfillment), moment
            )
            self._emit("orders/updated", payloads.order_payload(order), moment)
            return fulfillment
