"""Shopify's GraphQL answers turned into our values and into the REST webhook payload's shape,
and an order payload's normalised facts (`order_details`) (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from channels.lanes.calls import CallRecord
from channels.order_details import OrderDetails, money

from .values import InventoryChange, Level, SetResult, ShopLocation, UserError, Variant


def legacy_id(gid: str) -> int:
    """`gid://shopify/LineItem/123` → 123 (InventoryLevel gids carry a query string)."""
    tail = gid.split("?", 1)[0].rsplit("/", 1)[-1]
    if not gid.startswith("gid://") or not tail.isdigit():
        raise ValueError(f"not a numeric Shopify gid: {gid!r}")
    return int(tail)


def _legacy(node: Mapping[str, Any] | None) -> int | None:
    if not node:
        return None
    raw = node.get("legacyResourceId")
    if raw not in (None, ""):
        return int(raw)
    return legacy_id(node["id"]) if node.get("id") else None


def order_line_from_graphql(node: Mapping[str, Any]) -> dict[str, Any]:
    current = node.get("currentQuantity")
    fulfillable = node.get("fulfillableQuantity")
    line = {
        "id": legacy_id(node["id"]),
        "admin_graphql_api_id": node["id"],
        "variant_id": _legacy(node.get("variant")),
        "sku": node.get("sku"),
        "title": node.get("title"),
        "quantity": node.get("quantity"),
        "current_quantity": current,
        "fulfillable_quantity": fulfillable if fulfillable is not None else current,
    }
    price = node.get("originalUnitPrice") or dig(
        node, ("originalUnitPriceSet", "shopMoney", "amount")
    )
    if price is not None:
        line["price"] = price
    return line


def order_from_graphql(node: Mapping[str, Any]) -> dict[str, Any]:
    """A GraphQL `Order` node in the REST webhook payload's shape (orders/create, /updated).

    One order mapper then serves webhooks and polls. Ids become the webhook's integers, enum
    values its lowercase words; timestamps stay ISO 8601 strings as both APIs send them.
    """
    reason = node.get("cancelReason")
    line_items = node.get("lineItems") or {}
    lines = line_items.get("nodes")
    if lines is None:
        lines = [edge["node"] for edge in line_items.get("edges") or []]
    return {
        "id": _legacy(node),
        "admin_graphql_api_id": node["id"],
        "name": node.get("name"),
        "created_at": node.get("createdAt"),
        "updated_at": node.get("updatedAt"),
        "cancelled_at": node.get("cancelledAt"),
        "cancel_reason": reason.lower() if reason else None,
        "location_id": _legacy(node.get("retailLocation")),
        "test": bool(node.get("test", False)),
        "line_items": [order_line_from_graphql(line) for line in lines],
        **_order_facts_from_graphql(node),
    }


def _order_facts_from_graphql(node: Mapping[str, Any]) -> dict[str, Any]:
    """The shopper, destination, shipping and money of a GraphQL order, under the webhook's
    keys and in its types (`order_details` reads them); what the read did not carry stays
    out."""
    address = node.get("shippingAddress")
    shipping = node.get("shippingLine")
    customer = node.get("customer")
    weight = node.get("totalWeight")  # UnsignedInt64: a string
    facts = {
        "email": node.get("email"),
        "phone": node.get("phone"),
        "currency": node.get("currencyCode"),
        "total_price": dig(node, ("totalPriceSet", "shopMoney", "amount")),
        "total_weight": int(weight) if str(weight).isdigit() else None,
        "shipping_address": {
            "name": address.get("name"),
            "phone": address.get("phone"),
            "country_code": address.get("countryCodeV2"),
            "province_code": address.get("provinceCode"),
        }
        if isinstance(address, Mapping)
        else None,
        "shipping_lines": [{"title": shipping.get("title"), "code": shipping.get("code")}]
        if isinstance(shipping, Mapping)
        else None,
        "customer": {
            "first_name": customer.get("firstName"),
            "last_name": customer.get("lastName"),
            "email": dig(customer, ("defaultEmailAddress", "emailAddress")),
            "phone": dig(customer, ("defaultPhoneNumber", "phoneNumber")),
        }
        if isinstance(customer, Mapping)
        else None,
    }
    return {key: value for key, value in facts.items() if value is not None}


def order_details(payload: Mapping[str, Any]) -> OrderDetails:
    """The normalised facts of a REST-shaped order (a webhook's, or a GraphQL read through
    `order_from_graphql`). Tolerant: a missing or malformed field is blank, never an error.

    Shopify has no Prime and no ship-by date on the order; the shipping tier is the checkout's
    shipping line (its title, the rate the shopper picked: "Standard", "Express"); weight is
    the order's `total_weight` in grams."""
    address = _mapping(payload.get("shipping_address"))
    customer = _mapping(payload.get("customer"))
    return OrderDetails(
        shipping_tier=_shipping_tier(payload.get("shipping_lines")),
        destination_country=_text(address.get("country_code")),
        destination_region=_text(address.get("province_code")),
        weight_grams=_grams(payload.get("total_weight")),
        total_price=money(payload.get("total_price"), max_digits=14),
        currency=_text(payload.get("currency")),
        customer_email=_text(
            payload.get("email") or payload.get("contact_email") or customer.get("email")
        ),
        customer_phone=_text(
            payload.get("phone")
            or customer.get("phone")
            or _mapping(payload.get("billing_address")).get("phone")
            or address.get("phone")
        ),
        customer_name=_customer_name(payload, customer, address),
    )


def _shipping_tier(lines: Any) -> str:
    for line in lines if isinstance(lines, list) else ():
        if isinstance(line, Mapping) and not line.get("is_removed"):
            tier = _text(line.get("title")) or _text(line.get("code"))
            if tier:
                return tier
    return ""


def _customer_name(payload: Mapping, customer: Mapping, address: Mapping) -> str:
    full = " ".join(
        part
        for part in (_text(customer.get("first_name")), _text(customer.get("last_name")))
        if part
    )
    billing = _mapping(payload.get("billing_address"))
    return full or _text(billing.get("name")) or _text(address.get("name"))


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _grams(value: Any) -> int | None:
    try:
        grams = int(value)
    except (TypeError, ValueError):
        return None
    return grams if grams >= 0 else None


def variant_from_graphql(node: Mapping[str, Any]) -> Variant:
    product = node.get("product") or {}
    title = node.get("displayName")
    if not title:
        # displayName is "<product> - <variant>"; rebuild it when a sparse answer lacks it.
        own = node.get("title")
        parts = [product.get("title"), own if own and own != "Default Title" else None]
        title = " - ".join(p for p in parts if p)
    raw_id = node.get("legacyResourceId")
    return Variant(
        variant_gid=node["id"],
        variant_id=str(raw_id) if raw_id not in (None, "") else str(legacy_id(node["id"])),
        inventory_item_gid=(node.get("inventoryItem") or {}).get("id"),
        sku=node.get("sku"),
        barcode=node.get("barcode"),
        title=title or "",
    )


def location_from_graphql(node: Mapping[str, Any]) -> ShopLocation:
    raw_id = node.get("legacyResourceId")
    return ShopLocation(
        gid=node["id"],
        legacy_id=str(raw_id) if raw_id not in (None, "") else str(legacy_id(node["id"])),
        name=node.get("name") or "",
        is_active=bool(node.get("isActive", True)),
        fulfills_online_orders=bool(node.get("fulfillsOnlineOrders", False)),
        has_active_inventory=bool(node.get("hasActiveInventory", False)),
        is_fulfillment_service=bool(node.get("isFulfillmentService", False)),
    )


def level_from_graphql(level: Mapping[str, Any]) -> Level:
    amounts: dict[str, int] = {}
    stamps: list[datetime] = []
    for q in level.get("quantities") or []:
        amounts[q["name"]] = int(q["quantity"])
        if q.get("updatedAt"):
            stamps.append(_parse_datetime(q["updatedAt"]))
    # The quantities we read are what the timestamp should describe; the level's own stamp
    # moves for names we did not ask for.
    updated_at = max(stamps) if stamps else None
    if updated_at is None and level.get("updatedAt"):
        updated_at = _parse_datetime(level["updatedAt"])
    return Level(
        available=amounts.get("available", 0),
        on_hand=amounts.get("on_hand", 0),
        committed=amounts.get("committed", 0),
        updated_at=updated_at,
    )


def set_result_from_payload(payload: Mapping[str, Any], call: CallRecord) -> SetResult:
    errors = tuple(UserError.from_json(e) for e in payload.get("userErrors") or [])
    group = payload.get("inventoryAdjustmentGroup")
    changes = tuple(
        InventoryChange(
            name=c["name"],
            delta=int(c["delta"]),
            quantity_after_change=c.get("quantityAfterChange"),
            inventory_item_id=(c.get("item") or {}).get("id"),
            location_id=(c.get("location") or {}).get("id"),
        )
        for c in ((group or {}).get("changes") or [])
    )
    return SetResult(
        applied=group is not None and not errors,
        stale=any(e.code == "CHANGE_FROM_QUANTITY_STALE" for e in errors),
        user_errors=errors,
        changes=changes,
        adjustment_group_id=(group or {}).get("id"),
        cost=call.cost,
        attempts=len(call.attempts),
        call=call,
    )


def _parse_datetime(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def dig(data: Any, path: Sequence[str]) -> Any:
    """The value at `path` in nested dicts; None where one is missing or not a dict."""
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data
