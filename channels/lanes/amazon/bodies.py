"""Request bodies for SP-API, built and checked before anything is sent (pure; the tests
validate them against Amazon's schemas)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from .values import MFN_CHANNEL

MAX_FEED_MESSAGES = 25_000


def check_quantity(sku: str, quantity: Any) -> None:
    if not isinstance(sku, str) or not sku:
        raise ValueError(f"a SKU must be a non-empty string, got {sku!r}")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
        raise ValueError(f"quantity for {sku!r} must be an int ≥ 0, got {quantity!r}")


def quantity_patches(quantity: int) -> list[dict[str, Any]]:
    """The JSON patch that sets only the MFN quantity: `merge` keeps handling time and restock
    date that a `replace` of the whole attribute would drop."""
    return [
        {
            "op": "merge",
            "path": "/attributes/fulfillment_availability",
            "value": [{"fulfillment_channel_code": MFN_CHANNEL, "quantity": quantity}],
        }
    ]


def listing_patch_body(quantity: int, *, product_type: str = "PRODUCT") -> dict[str, Any]:
    return {"productType": product_type, "patches": quantity_patches(quantity)}


def quantity_feed_document(
    seller_id: str,
    quantities: Sequence[tuple[str, int]],
    *,
    product_type: str = "PRODUCT",
    product_types: Mapping[str, str] | None = None,
    issue_locale: str = "en_US",
) -> dict[str, Any]:
    """A JSON_LISTINGS_FEED (schema v2) with one PATCH message per SKU.

    `messageId` is the 1-based position in `quantities`, which is how the processing report's
    issues map back to SKUs when they carry no `sku`. Each message names its listing's product
    type (`product_types` by SKU, else `product_type`).
    """
    if not quantities:
        raise ValueError("at least one quantity is required")
    if len(quantities) > MAX_FEED_MESSAGES:
        raise ValueError(f"at most {MAX_FEED_MESSAGES} messages per feed, got {len(quantities)}")
    seen: set[str] = set()
    messages = []
    for number, (sku, quantity) in enumerate(quantities, start=1):
        check_quantity(sku, quantity)
        if sku in seen:
            # Two messages for one SKU in one feed have no documented order of application.
            raise ValueError(f"SKU {sku!r} appears twice in one feed")
        seen.add(sku)
        messages.append(
            {
                "messageId": number,
                "sku": sku,
                "operationType": "PATCH",
                "productType": (product_types or {}).get(sku) or product_type,
                "patches": quantity_patches(quantity),
            }
        )
    return {
        "header": {"sellerId": seller_id, "version": "2.0", "issueLocale": issue_locale},
        "messages": messages,
    }


def confirm_shipment_body(
    marketplace_id: str,
    *,
    items: Sequence[tuple[str, int]],
    carrier: str,
    tracking_number: str,
    ship_date: datetime,
    shipping_method: str | None = None,
    carrier_name: str | None = None,
    package_reference_id: str = "1",
) -> dict[str, Any]:
    if not items:
        raise ValueError("at least one order item is required")
    if not carrier or not tracking_number:
        raise ValueError("carrier and tracking_number are required")
    if carrier == "Other" and not carrier_name:
        raise ValueError('carrier "Other" needs carrier_name')
    if not package_reference_id.isdigit() or int(package_reference_id) < 1:
        raise ValueError("package_reference_id must be a positive numeric string")
    order_items = []
    for order_item_id, quantity in items:
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise ValueError(f"quantity for item {order_item_id!r} must be an int ≥ 1")
        order_items.append({"orderItemId": str(order_item_id), "quantity": quantity})
    package: dict[str, Any] = {
        "packageReferenceId": package_reference_id,
        "carrierCode": carrier,
        "trackingNumber": tracking_number,
        "shipDate": iso_datetime(ship_date),
        "orderItems": order_items,
    }
    if carrier_name:
        package["carrierName"] = carrier_name
    if shipping_method:
        package["shippingMethod"] = shipping_method
    return {"marketplaceId": marketplace_id, "packageDetail": package}


def iso_datetime(value: datetime) -> str:
    """UTC, whole seconds, `Z`: the form Amazon documents and echoes."""
    if value.tzinfo is None:
        raise ValueError(f"datetime must be timezone-aware, got {value!r}")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
