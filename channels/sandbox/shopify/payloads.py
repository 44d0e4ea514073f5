"""REST-shaped webhook payloads built on Shopify's own example payloads.

Each builder deep-copies the official example for its topic and overwrites the fields the sandbox
models, so a receiver sees every key a real payload carries (customer, addresses, money sets...).
"""

from __future__ import annotations

import copy
import json
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

from .schema import DATA_DIR

if TYPE_CHECKING:
    from .shop.records import Fulfillment, LineItem, Order, Refund


@cache
def _template(name: str) -> dict:
    return json.loads((DATA_DIR / "webhooks" / f"{name}.2026-04.json").read_text(encoding="utf-8"))


def template(name: str) -> dict:
    return copy.deepcopy(_template(name))


def rest_time(moment: datetime | None) -> str | None:
    """REST timestamps carry the shop's UTC offset; the sandbox shop runs on UTC."""
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def money(amount: Decimal | str, currency: str = "USD") -> str:
    return f"{Decimal(amount):.2f}"


def money_set(amount: Decimal | str, currency: str = "USD") -> dict:
    value = money(amount)
    return {
        "shop_money": {"amount": value, "currency_code": currency},
        "presentment_money": {"amount": value, "currency_code": currency},
    }


def line_item_payload(line: LineItem, quantity: int | None = None) -> dict:
    payload = copy.deepcopy(_template("orders__create")["line_items"][0])
    payload.update(
        {
            "id": line.id,
            "admin_graphql_api_id": f"gid://shopify/LineItem/{line.id}",
            "attributed_staffs": [],
            "current_quantity": line.current_quantity,
            "fulfillable_quantity": line.fulfillable_quantity,
            "fulfillment_service": "manual",
            "fulfillment_status": line.fulfillment_status,
            "grams": line.grams,
            "name": line.name,
            "price": money(line.price),
            "price_set": money_set(line.price),
            "product_exists": True,
            "product_id": line.product_id,
            "quantity": line.quantity if quantity is None else quantity,
            "sales_line_item_group_id": None,
            "sku": line.sku,
            "title": line.title,
            "total_discount": "0.00",
            "total_discount_set": money_set("0"),
            # Some real orders (deleted variants, certain apps) carry the SKU without a variant.
            "variant_id": None if line.hide_variant_id else line.variant_id,
            "variant_inventory_management": "shopify",
            "variant_title": line.variant_title,
            "vendor": None,
        }
    )
    return payload


def order_payload(order: Order) -> dict:
    payload = template("orders__create")
    subtotal = sum((line.price * line.quantity for line in order.line_items), Decimal(0))
    current = sum((line.price * line.current_quantity for line in order.line_items), Decimal(0))
    refunded = sum((r.amount for r in order.refunds), Decimal(0))
    payload.update(
        {
            "id": order.id,
            "admin_graphql_api_id": f"gid://shopify/Order/{order.id}",
            "cancel_reason": order.cancel_reason,
            "cancelled_at": rest_time(order.cancelled_at),
            "closed_at": rest_time(order.closed_at),
            "confirmation_number": order.confirmation_number,
            "confirmed": True,
            "created_at": rest_time(order.created_at),
            "current_subtotal_price": money(current),
            "current_subtotal_price_set": money_set(current),
            "current_total_discounts": "0.00",
            "current_total_discounts_set": money_set("0"),
            "current_total_price": money(current),
            "current_total_price_set": money_set(current),
            "current_shipping_price_set": money_set("0"),
            "discount_codes": [],
            "financial_status": order.financial_status,
            "fulfillment_status": order.fulfillment_status,
            # Shopify names the location only where a point-of-sale order was processed; an
            # online order's is null (its fulfilment order says where it ships from).
            "location_id": order.location_id if order.source_name == "pos" else None,
            "name": order.name,
            "number": order.number,
            "order_number": order.order_number,
            "processed_at": rest_time(order.created_at),
            "source_name": order.source_name,
            "subtotal_price": money(subtotal),
            "subtotal_price_set": money_set(subtotal),
            "tags": "",
            "test": False,
            "total_discounts": "0.00",
            "total_discounts_set": money_set("0"),
            "total_line_items_price": money(subtotal),
            "total_line_items_price_set": money_set(subtotal),
            "total_outstanding": "0.00",
            "total_price": money(subtotal),
            "total_price_set": money_set(subtotal),
            "total_shipping_price_set": money_set("0"),
            "total_tax": "0.00",
            "total_tax_set": money_set("0"),
            "updated_at": rest_time(order.updated_at),
            "line_items": [line_item_payload(line) for line in order.line_items],
            "fulfillments": [fulfillment_payload(order, f) for f in order.fulfillments],
            "refunds": [refund_payload(order, r) for r in order.refunds],
            "total_tip_received": "0.00",
            "total_weight": order.total_weight,
            **shopper_fields(order),
        }
    )
    if refunded:
        payload["total_outstanding"] = "0.00"
    return payload


def shopper_fields(order: Order) -> dict:
    """The order's customer, addresses and shipping line, on the templates' own objects; a
    point-of-sale order without a customer has none of them, as on Shopify."""
    shopper = order.shopper
    if shopper is None:
        return {
            "email": None,
            "contact_email": None,
            "phone": None,
            "customer": None,
            "billing_address": None,
            "shipping_address": None,
            "shipping_lines": [],
        }
    address = template("orders__create")["shipping_address"]
    address.update(
        {
            "first_name": shopper.first_name,
            "last_name": shopper.last_name,
            "name": shopper.name,
            "address1": shopper.address1,
            "address2": None,
            "company": None,
            "phone": shopper.phone,
            "city": shopper.city,
            "zip": shopper.zip,
            "province": shopper.province,
            "province_code": shopper.province_code,
            "country": shopper.country,
            "country_code": shopper.country_code,
        }
    )
    customer = template("orders__create")["customer"]
    customer.update(
        {
            "id": shopper.customer_id,
            "admin_graphql_api_id": f"gid://shopify/Customer/{shopper.customer_id}",
            "first_name": shopper.first_name,
            "last_name": shopper.last_name,
            "email": shopper.email,
            "phone": shopper.phone,
            "state": "enabled",
            "default_address": {**customer["default_address"], **address},
        }
    )
    customer["default_address"]["customer_id"] = shopper.customer_id
    line = template("orders__create")["shipping_lines"][0]
    line.update(
        {
            "id": order.id,
            "code": shopper.shipping_code,
            "title": shopper.shipping_title,
            "price": "0.00",
            "price_set": money_set("0"),
            "discounted_price": "0.00",
            "discounted_price_set": money_set("0"),
            "current_discounted_price_set": money_set("0"),
        }
    )
    return {
        "email": shopper.email,
        "contact_email": shopper.email,
        "phone": shopper.phone,
        "customer": customer,
        "billing_address": dict(address),
        "shipping_address": address,
        "shipping_lines": [line],
    }


def fulfillment_payload(order: Order, fulfillment: Fulfillment) -> dict:
    payload = template("fulfillments__create")
    lines = []
    for line_item_id, quantity in fulfillment.lines:
        line = order.line_item(line_item_id)
        item = line_item_payload(line, quantity=quantity)
        item["fulfillment_status"] = "fulfilled"
        lines.append(item)
    payload.update(
        {
            "id": fulfillment.id,
            "admin_graphql_api_id": f"gid://shopify/Fulfillment/{fulfillment.id}",
            "order_id": order.id,
            "status": fulfillment.status,
            "created_at": rest_time(fulfillment.created_at),
            "updated_at": rest_time(fulfillment.updated_at),
            "location_id": fulfillment.location_id,
            "name": fulfillment.name,
            "service": "manual",
            "shipment_status": None,
            "tracking_company": fulfillment.tracking_company,
            "tracking_number": fulfillment.tracking_numbers[0]
            if fulfillment.tracking_numbers
            else None,
            "tracking_numbers": list(fulfillment.tracking_numbers),
            "tracking_url": fulfillment.tracking_urls[0] if fulfillment.tracking_urls else None,
            "tracking_urls": list(fulfillment.tracking_urls),
            "line_items": lines,
        }
    )
    return payload


def refund_payload(order: Order, refund: Refund) -> dict:
    payload = template("refunds__create")
    rli_template = _template("refunds__create")["refund_line_items"][0]
    refund_lines = []
    for refund_line in refund.lines:
        line = order.line_item(refund_line.line_item_id)
        subtotal = line.price * refund_line.quantity
        item = copy.deepcopy(rli_template)
        item.update(
            {
                "id": refund_line.id,
                "line_item_id": line.id,
                "quantity": refund_line.quantity,
                "location_id": refund_line.location_id,
                "restock_type": refund_line.restock_type,
                "subtotal": float(subtotal),
                "total_tax": 0.0,
                "subtotal_set": money_set(subtotal),
                "total_tax_set": money_set("0"),
                "line_item": line_item_payload(line),
            }
        )
        refund_lines.append(item)
    transaction: dict[str, Any] = copy.deepcopy(_template("refunds__create")["transactions"][0])
    transaction.update(
        {
            "id": refund.transaction_id,
            "admin_graphql_api_id": f"gid://shopify/OrderTransaction/{refund.transaction_id}",
            "order_id": order.id,
            "amount": money(refund.amount),
            "created_at": rest_time(refund.created_at),
            "processed_at": rest_time(refund.created_at),
            "currency": "USD",
            "message": None,
            "payment_id": f"{order.name}.1",
            "test": False,
        }
    )
    payload.update(
        {
            "id": refund.id,
            "admin_graphql_api_id": f"gid://shopify/Refund/{refund.id}",
            "order_id": order.id,
            "created_at": rest_time(refund.created_at),
            "processed_at": rest_time(refund.created_at),
            "note": refund.note,
            "restock": refund.restock,
            "user_id": None,
            "refund_line_items": refund_lines,
            "transactions": [transaction] if refund.amount else [],
            "order_adjustments": [],
            "refund_shipping_lines": [],
            "duties": [],
            "return": None,
        }
    )
    return payload


def order_edit_payload(
    order: Order, edit_id: int, moment: datetime, additions: list, removals: list
) -> dict:
    payload = template("orders__edited")
    payload["order_edit"].update(
        {
            "id": edit_id,
            "app_id": None,
            "created_at": rest_time(moment),
            "committed_at": rest_time(moment),
            "notify_customer": False,
            "order_id": order.id,
            "staff_note": "",
            "user_id": None,
            "line_items": {
                "additions": [{"id": i, "delta": d} for i, d in additions],
                "removals": [{"id": i, "delta": d} for i, d in removals],
            },
        }
    )
    return payload


def inventory_level_payload(
    inventory_item_id: int, location_id: int, available: int | None, updated_at: datetime
) -> dict:
    return {
        "inventory_item_id": inventory_item_id,
        "location_id": location_id,
        "available": available,
        "updated_at": rest_time(updated_at),
        "admin_graphql_api_id": (
            f"gid://shopify/InventoryLevel/{location_id}?inventory_item_id={inventory_item_id}"
        ),
    }
