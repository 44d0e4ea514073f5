"""Order edits: changing line quantities of an open order and adding lines to it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from channels.sandbox.common.errors import OutOfStock, SandboxError
from channels.sandbox.shopify import payloads

from .base import ShopBase
from .records import Level, LineItem, Location, Order, Variant, unique_levels


class EditsMixin(ShopBase):
    def edit_order(
        self,
        order_ref: Any,
        *,
        changes: Iterable[dict] = (),
        add: Iterable[dict] = (),
        restock: bool = True,
    ) -> dict:
        """Edit an open order (orders/edited + orders/updated).

        changes: [{"line_item_id" | "sku", "quantity": new current quantity}] (down or up);
        add: [{"sku" | "variant_id", "quantity"}] new lines from the order's location.
        """
        with self.lock:
            order = self.find_order(order_ref)
            if order.cancelled_at is not None:
                raise SandboxError("Cannot edit a cancelled order.")
            location = self.locations[order.location_id]
            moment = self.now()
            plan = self._edit_plan(order, changes, location, moment)
            new_lines = self._edit_additions(add, location)
            touched: list[Level] = []
            additions, removals = self._apply_edit_plan(
                order, plan, location, restock=restock, moment=moment, touched=touched
            )
            for variant, quantity in new_lines:
                level = self.levels[(variant.inventory_item_id, location.id)]
                level.move({"available": -quantity, "committed": quantity}, moment)
                touched.append(level)
                line = self._line_item(variant, quantity)
                order.line_items.append(line)
                order.fulfillment_order_line_ids[line.id] = self.next_id("fulfillment_order_line")
                additions.append((line.id, quantity))
            order.updated_at = moment
            edit = payloads.order_edit_payload(
                order, self.next_id("order_edit"), moment, additions, removals
            )
            self._emit("orders/edited", edit, moment)
            self._emit("orders/updated", payloads.order_payload(order), moment)
            for level in unique_levels(touched):
                self._emit_level(level, moment)
            return edit

    def _edit_plan(
        self, order: Order, changes: Iterable[dict], location: Location, moment: datetime
    ) -> list[tuple[LineItem, int]]:
        """Each changed line with its quantity delta, refused before anything moves when a line
        would go below what it shipped or the location lacks the units for an increase."""
        plan = []
        for spec in changes:
            line = self._order_line(order, spec)
            wanted = int(spec["quantity"])
            shipped = line.fulfilled_quantity - line.returned_quantity
            if wanted < shipped:
                raise SandboxError(f"line {line.id} already shipped {shipped} units")
            plan.append((line, wanted - line.current_quantity))
        for line, delta in plan:
            level = self._stock(self.items[line.inventory_item_id], location, moment)
            if delta > 0 and level.quantity("available") < delta:
                raise OutOfStock("sold out", skus=[line.sku], requested=[delta])
        return plan

    def _edit_additions(self, add: Iterable[dict], location: Location) -> list[tuple[Variant, int]]:
        new_lines = []
        for spec in add:
            variant = self.find_variant(spec.get("variant_id") or spec.get("sku"))
            quantity = int(spec.get("quantity", 1))
            level = self.levels.get((variant.inventory_item_id, location.id))
            if level is None or level.quantity("available") < quantity:
                raise OutOfStock("sold out", skus=[variant.sku], requested=[quantity])
            new_lines.append((variant, quantity))
        return new_lines

    def _apply_edit_plan(
        self,
        order: Order,
        plan: list[tuple[LineItem, int]],
        location: Location,
        *,
        restock: bool,
        moment: datetime,
        touched: list[Level],
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Commit the increases and release the decreases: (additions, removals) by line id."""
        additions: list[tuple[int, int]] = []
        removals: list[tuple[int, int]] = []
        for line, delta in plan:
            if delta < 0:
                level = self._release(order, line, -delta, restock=restock, moment=moment)
                if level is not None:
                    touched.append(level)
                removals.append((line.id, -delta))
            elif delta > 0:
                level = self.levels[(line.inventory_item_id, location.id)]
                level.move({"available": -delta, "committed": delta}, moment)
                line.current_quantity += delta
                line.unfulfilled_quantity += delta
                touched.append(level)
                additions.append((line.id, delta))
        return additions, removals
