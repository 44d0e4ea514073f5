"""Refunds: money back for line quantities, with or without their units going back on sale."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from channels.sandbox.common.errors import SandboxError
from channels.sandbox.shopify import payloads

from .base import ShopBase
from .records import Level, LineItem, Location, Order, Refund, RefundLine, unique_levels

RESTOCK_TYPES = ("no_restock", "cancel", "return", "legacy_restock")


class RefundsMixin(ShopBase):
    def refund(
        self,
        order_ref: Any,
        lines: Iterable[dict],
        *,
        restock_type: str = "return",
        location: Any = None,
        note: str | None = None,
    ) -> dict:
        """Refund line quantities: lines [{"line_item_id" | "sku", "quantity"}].

        restock_type "cancel" takes unfulfilled units back to available, "return" puts shipped
        units back on the shelf (available and on_hand up), "no_restock" only refunds money
        (unfulfilled units leave committed and on_hand). Emits refunds/create, orders/updated
        and inventory_levels/update where available changed.
        """
        if restock_type not in ("no_restock", "cancel", "return"):
            raise SandboxError(
                f"restock_type must be no_restock, cancel or return, not {restock_type!r}"
            )
        with self.lock:
            order = self.find_order(order_ref)
            target = self.find_location(location) if location is not None else None
            moment = self.now()
            touched: list[Level] = []
            refund_lines, amount = self._refund_lines(
                order, lines, restock_type, target, moment, touched
            )
            new_refund = Refund(
                id=self.next_id("refund"),
                order_id=order.id,
                created_at=moment,
                note=note,
                restock=restock_type != "no_restock",
                lines=refund_lines,
                amount=amount,
                transaction_id=self.next_id("transaction"),
            )
            order.refunds.append(new_refund)
            order.updated_at = moment
            order.financial_status = _financial_status(order)
            refund_json = payloads.refund_payload(order, new_refund)
            self._emit("refunds/create", refund_json, moment)
            self._emit("orders/updated", payloads.order_payload(order), moment)
            for level in unique_levels(touched):
                self._emit_level(level, moment)
            return refund_json

    def _refund_lines(
        self,
        order: Order,
        lines: Iterable[dict],
        restock_type: str,
        target: Location | None,
        moment: datetime,
        touched: list[Level],
    ) -> tuple[list[RefundLine], Decimal]:
        """One refund line per requested line, its units moved; and the money refunded."""
        refund_lines = []
        amount = Decimal(0)
        for spec in lines:
            line = self._order_line(order, spec)
            quantity = int(spec.get("quantity", 1))
            if quantity <= 0 or quantity > line.current_quantity:
                raise SandboxError(
                    f"can refund at most {line.current_quantity} of line {line.id}",
                    line_item_id=line.id,
                )
            location_id = self._take_back(
                order, line, quantity, restock_type, target, moment, touched
            )
            amount += line.price * quantity
            refund_lines.append(
                RefundLine(
                    id=self.next_id("refund_line"),
                    line_item_id=line.id,
                    quantity=quantity,
                    restock_type=restock_type,
                    location_id=location_id,
                )
            )
        return refund_lines, amount

    def _take_back(
        self,
        order: Order,
        line: LineItem,
        quantity: int,
        restock_type: str,
        target: Location | None,
        moment: datetime,
        touched: list[Level],
    ) -> int | None:
        """Move the refunded units as `restock_type` says; the location they went back to.
        Levels whose available went up are added to `touched`."""
        if restock_type == "cancel":
            if quantity > line.unfulfilled_quantity:
                raise SandboxError(
                    f"only {line.unfulfilled_quantity} unfulfilled units of line {line.id}"
                )
            level = self._release(order, line, quantity, restock=True, moment=moment)
            if level is not None:
                touched.append(level)
            return order.location_id
        if restock_type == "return":
            shipped = line.fulfilled_quantity - line.returned_quantity
            if quantity > shipped:
                raise SandboxError(f"only {shipped} shipped units of line {line.id}")
            back_to = target or self.locations[order.location_id]
            level = self._stock(self.items[line.inventory_item_id], back_to, moment)
            level.move({"available": quantity}, moment)
            line.returned_quantity += quantity
            line.current_quantity -= quantity
            touched.append(level)
            return back_to.id
        unfulfilled = min(quantity, line.unfulfilled_quantity)
        self._release(order, line, unfulfilled, restock=False, moment=moment)
        line.current_quantity -= quantity - unfulfilled
        return None


def _financial_status(order: Order) -> str:
    if all(line.current_quantity == 0 for line in order.line_items):
        return "refunded"
    return "partially_refunded"
