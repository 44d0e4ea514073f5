"""The variables of each GraphQL document, built and checked before anything is sent (pure; the
schema test coerces their output)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from .values import SetQuantity, Tracking

MAX_INPUT_ITEMS = 250
MAX_PAGE_SIZE = 250
QUANTITY_NAMES = ("available", "on_hand", "committed")
ORDER_CANCEL_REASONS = frozenset({"CUSTOMER", "DECLINED", "FRAUD", "INVENTORY", "STAFF", "OTHER"})
ORDER_LINE_ITEMS_PAGE = 25
# An order has a fulfillment order per location it ships from (rarely more than a few); each
# of their lines names its order line, which keeps the read well under the query cost cap.
FULFILLMENT_ORDERS_PAGE = 10
FULFILLMENT_ORDER_LINES_PAGE = 20


def set_quantities_variables(
    quantities: Sequence[SetQuantity],
    *,
    idempotency_key: str,
    reference_uri: str,
    reason: str = "correction",
) -> dict[str, Any]:
    if not quantities:
        raise ValueError("at least one quantity is required")
    if len(quantities) > MAX_INPUT_ITEMS:
        raise ValueError(f"at most {MAX_INPUT_ITEMS} quantities per call, got {len(quantities)}")
    if not idempotency_key or not idempotency_key.strip():
        raise ValueError("idempotency_key must be a non-blank string")
    pairs = set()
    rows = []
    for q in quantities:
        pair = (q.inventory_item_id, q.location_id)
        if pair in pairs:
            # Shopify answers NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR; the bug is ours.
            raise ValueError(f"duplicate inventory item/location pair {pair}")
        pairs.add(pair)
        if isinstance(q.quantity, bool) or not isinstance(q.quantity, int):
            raise ValueError(f"quantity must be an int, got {q.quantity!r}")
        rows.append(
            {
                "inventoryItemId": q.inventory_item_id,
                "locationId": q.location_id,
                "quantity": q.quantity,
                # Always present, null included: 2026-04 refuses a quantity without the key.
                "changeFromQuantity": q.change_from,
            }
        )
    return {
        "idempotencyKey": idempotency_key,
        "input": {
            "name": "available",
            "reason": reason,
            "referenceDocumentUri": reference_uri,
            "quantities": rows,
        },
    }


def inventory_levels_variables(
    inventory_item_ids: Sequence[str], location_id: str, names: Sequence[str] = QUANTITY_NAMES
) -> dict[str, Any]:
    return {"ids": list(inventory_item_ids), "locationId": location_id, "names": list(names)}


def search_value(value: str) -> str:
    """Quote a value for Shopify's search syntax so `:`, spaces and parentheses stay literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def sku_search_query(skus: Iterable[str]) -> str:
    return " OR ".join(f"sku:{search_value(sku)}" for sku in skus)


def product_variants_variables(
    first: int, after: str | None = None, query: str | None = None
) -> dict[str, Any]:
    return {"first": first, "after": after, "query": query}


def locations_variables(
    first: int, after: str | None = None, *, include_inactive: bool = False
) -> dict[str, Any]:
    return {"first": first, "after": after, "includeInactive": include_inactive}


def orders_search_query(since: datetime) -> str:
    if since.tzinfo is None:
        raise ValueError("since must be timezone-aware")
    # Whole seconds, rounded down: the window only widens, and ingestion is idempotent (I3).
    return f"updated_at:>'{since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}'"


def orders_variables(
    since: datetime,
    first: int,
    after: str | None = None,
    *,
    line_items_first: int = ORDER_LINE_ITEMS_PAGE,
) -> dict[str, Any]:
    return {
        "first": first,
        "after": after,
        "query": orders_search_query(since),
        "lineItemsFirst": line_items_first,
    }


def order_variables(order_gid: str, *, line_items_first: int = MAX_PAGE_SIZE) -> dict[str, Any]:
    return {"id": order_gid, "lineItemsFirst": line_items_first}


def order_line_items_variables(
    order_gid: str, first: int, after: str | None = None
) -> dict[str, Any]:
    return {"id": order_gid, "first": first, "after": after}


def order_fulfillment_orders_variables(order_gid: str) -> dict[str, Any]:
    return {
        "id": order_gid,
        "first": FULFILLMENT_ORDERS_PAGE,
        "lineItemsFirst": FULFILLMENT_ORDER_LINES_PAGE,
    }


def fulfillment_create_variables(
    fulfillment_order_ids: Sequence[str],
    tracking: Tracking | None,
    *,
    notify_customer: bool,
    line_items: Mapping[str, Sequence[tuple[str, int]]] | None = None,
) -> dict[str, Any]:
    """`line_items`: fulfillment order id -> [(fulfillment order line item id, quantity)] for a
    partial shipment; None ships everything that remains on each fulfillment order."""
    if not fulfillment_order_ids:
        raise ValueError("at least one fulfillment order is required")
    groups: list[dict[str, Any]] = []
    for fo_id in fulfillment_order_ids:
        group: dict[str, Any] = {"fulfillmentOrderId": fo_id}
        if line_items is not None:
            group["fulfillmentOrderLineItems"] = [
                {"id": line_id, "quantity": quantity} for line_id, quantity in line_items[fo_id]
            ]
        groups.append(group)
    fulfillment: dict[str, Any] = {
        # No line items listed: Shopify fulfils everything that remains on each order.
        "lineItemsByFulfillmentOrder": groups,
        "notifyCustomer": notify_customer,
    }
    if tracking is not None:
        info = {"company": tracking.company, "number": tracking.number, "url": tracking.url}
        fulfillment["trackingInfo"] = {k: v for k, v in info.items() if v}
    return {"fulfillment": fulfillment}


def order_cancel_variables(
    order_gid: str,
    *,
    reason: str = "OTHER",
    restock: bool = True,
    notify_customer: bool = False,
    staff_note: str | None = None,
) -> dict[str, Any]:
    if reason not in ORDER_CANCEL_REASONS:
        raise ValueError(f"reason must be one of {sorted(ORDER_CANCEL_REASONS)}, got {reason!r}")
    if staff_note is not None and len(staff_note) > 255:
        raise ValueError("staff_note is limited to 255 characters")
    return {
        "orderId": order_gid,
        "reason": reason,
        "restock": restock,
        "notifyCustomer": notify_customer,
        "staffNote": staff_note,
    }
