"""Shipments: Amazon shipping its own (AFN) orders, the seller confirming merchant ones."""

from __future__ import annotations

from channels.sandbox.amazon import payloads
from channels.sandbox.common.errors import SandboxError

from .base import WorldBase
from .records import Order, OrderItem, Package


class ShipmentsMixin(WorldBase):
    def _ship_afn(self, order_id: str) -> None:
        order = self.orders[order_id]
        if order.status not in ("UNSHIPPED", "PARTIALLY_SHIPPED"):
            return
        for item in order.items:
            remaining = item.quantity - item.shipped
            listing = self.listings.get((order.seller_id, item.sku, order.marketplace_id))
            if listing is not None and remaining:
                stock = self._fba_stock(listing)
                stock.buckets["pending_customer_order"] = max(
                    0, stock.buckets["pending_customer_order"] - remaining
                )
                self._fba_changed(stock)
            item.shipped = item.quantity
        order.status = "SHIPPED"
        self._touch(order)
        self._order_changed(order, "OrderStatusChange", "OrderShipped")

    def ship_order(self, order_id: str) -> dict:
        """Amazon ships an AFN order now (instead of after `afn_ship_seconds`)."""
        with self.lock:
            order = self._order(order_id)
            if not order.afn:
                raise SandboxError("merchant orders ship through confirmShipment")
            if order.status == "PENDING":
                self._release_pending(order_id)
            self._ship_afn(order_id)
            return self.order_json(order)

    def confirm_shipment(
        self, seller_id: str, order_id: str, body: dict
    ) -> tuple[int, dict | None]:
        """v0 confirmShipment: 204 with no body, or an ErrorList status."""
        order = self.orders.get(order_id)
        if order is None or order.seller_id != seller_id:
            return 404, payloads.errors("NotFound", f"Order {order_id} was not found.")
        refusal = _order_refusal(order, body) or _package_refusal(body["packageDetail"])
        if refusal is not None:
            return 400, payloads.errors("InvalidInput", refusal)
        detail = body["packageDetail"]
        lines, refusal = _package_lines(order, detail)
        if refusal is None and any(
            p.package_reference_id == detail["packageReferenceId"] for p in order.packages
        ):
            refusal = "The packageReferenceId was already used."
        if refusal is not None:
            return 400, payloads.errors("InvalidInput", refusal)
        self._ship_package(order, detail, lines)
        return 204, None

    def _ship_package(self, order: Order, detail: dict, lines: list[tuple[OrderItem, int]]) -> None:
        for item, quantity in lines:
            item.shipped += quantity
        order.packages.append(
            Package(
                package_reference_id=detail["packageReferenceId"],
                carrier=detail.get("carrierName") or detail["carrierCode"],
                tracking_number=detail["trackingNumber"],
                shipping_method=detail.get("shippingMethod"),
                ship_time=self.now(),
                items=[(item.order_item_id, quantity) for item, quantity in lines],
            )
        )
        shipped_all = all(i.shipped == i.quantity for i in order.items)
        order.status = "SHIPPED" if shipped_all else "PARTIALLY_SHIPPED"
        self._touch(order)
        self._order_changed(order, "OrderStatusChange", "OrderShipped")


def _order_refusal(order: Order, body: dict) -> str | None:
    """Why the order cannot take a shipment confirmation, if it cannot."""
    if body.get("marketplaceId") != order.marketplace_id:
        return "The marketplaceId does not match the order."
    if order.afn:
        return "Shipment confirmation is not supported for Amazon-fulfilled orders."
    if order.status not in ("UNSHIPPED", "PARTIALLY_SHIPPED"):
        return f"The order is {order.status} and cannot be confirmed as shipped."
    return None


def _package_refusal(detail: dict) -> str | None:
    if detail["carrierCode"] == "Other" and not detail.get("carrierName"):
        return 'carrierName is required when carrierCode is "Other".'
    reference = str(detail["packageReferenceId"])
    if not reference.isdigit() or int(reference) < 1:
        return "packageReferenceId must be a positive numeric string."
    return None


def _package_lines(order: Order, detail: dict) -> tuple[list[tuple[OrderItem, int]], str | None]:
    """The order items a package ships, or why one of its lines cannot be shipped."""
    lines: list[tuple[OrderItem, int]] = []
    for line in detail["orderItems"]:
        item = order.item(line["orderItemId"])
        if item is None:
            return lines, f"Unknown orderItemId {line['orderItemId']}."
        if line["quantity"] < 1 or item.shipped + line["quantity"] > item.quantity:
            return lines, (
                f"Quantity {line['quantity']} exceeds the unshipped quantity of "
                f"{item.quantity - item.shipped} for orderItemId {item.order_item_id}."
            )
        lines.append((item, line["quantity"]))
    return lines, None
