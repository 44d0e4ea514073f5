"""The GraphQL objects the resolvers answer with, built from the sandbox's records, and the
lookup of a node by its global id."""

from __future__ import annotations

from decimal import Decimal

from channels.sandbox.shopify.model import ShopifySandbox
from channels.sandbox.shopify.shop.records import (
    GID_RE,
    InventoryItem,
    Level,
    LineItem,
    Location,
    Order,
    Product,
    Shopper,
    Variant,
    gid,
)

from .base import bad_request, iso, money_bag


def location_view(location: Location) -> dict:
    return {
        "__typename": "Location",
        "id": location.gid,
        "legacyResourceId": str(location.id),
        "name": location.name,
        "isActive": location.is_active,
        "isPrimary": location.is_primary,
        "fulfillsOnlineOrders": location.fulfills_online_orders,
        "hasActiveInventory": True,
        "isFulfillmentService": False,
        "shipsInventory": True,
        "activatable": not location.is_active,
        "deactivatable": location.is_active and not location.is_primary,
        "deletable": False,
        "address": {"formatted": [], "countryCode": "US", "country": "United States"},
        "_location": location,
    }


def item_view(sandbox: ShopifySandbox, item: InventoryItem) -> dict:
    duplicates = sum(
        1 for other in sandbox.items.values() if other.sku == item.sku and other.id != item.id
    )
    return {
        "__typename": "InventoryItem",
        "id": item.gid,
        "legacyResourceId": str(item.id),
        "sku": item.sku,
        "tracked": item.tracked,
        "requiresShipping": True,
        "createdAt": iso(item.created_at),
        "updatedAt": iso(item.updated_at),
        "duplicateSkuCount": duplicates if item.sku else 0,
        "_item": item,
    }


def level_view(level: Level) -> dict:
    return {
        "__typename": "InventoryLevel",
        "id": level.gid,
        "isActive": level.is_active,
        "canDeactivate": True,
        "deactivationAlert": None,
        "createdAt": iso(level.created_at),
        "updatedAt": iso(level.updated_at),
        "_level": level,
    }


def variant_view(sandbox: ShopifySandbox, variant: Variant) -> dict:
    product = sandbox.products[variant.product_id]
    available = sum(
        level.quantity("available")
        for (item_id, _), level in sandbox.levels.items()
        if item_id == variant.inventory_item_id
    )
    return {
        "__typename": "ProductVariant",
        "id": variant.gid,
        "legacyResourceId": str(variant.id),
        "sku": variant.sku,
        "barcode": variant.barcode,
        "title": variant.title,
        "displayName": f"{product.title} - {variant.title}",
        "price": f"{variant.price:.2f}",
        "inventoryQuantity": available,
        "availableForSale": available > 0,
        "createdAt": iso(variant.created_at),
        "updatedAt": iso(variant.updated_at),
        "selectedOptions": [{"name": "Title", "value": variant.title}],
        "_variant": variant,
    }


def product_view(sandbox: ShopifySandbox, product: Product) -> dict:
    total = sum(
        level.quantity("available")
        for variant_id in product.variant_ids
        for (item_id, _), level in sandbox.levels.items()
        if item_id == sandbox.variants[variant_id].inventory_item_id
    )
    return {
        "__typename": "Product",
        "id": product.gid,
        "legacyResourceId": str(product.id),
        "title": product.title,
        "handle": product.handle,
        "status": "ACTIVE",
        "tracksInventory": True,
        "totalInventory": total,
        "createdAt": iso(product.created_at),
        "updatedAt": iso(product.updated_at),
        "_product": product,
    }


def order_view(order: Order) -> dict:
    return {
        "__typename": "Order",
        "id": order.gid,
        "legacyResourceId": str(order.id),
        "name": order.name,
        "confirmationNumber": order.confirmation_number,
        "createdAt": iso(order.created_at),
        "processedAt": iso(order.created_at),
        "updatedAt": iso(order.updated_at),
        "cancelledAt": iso(order.cancelled_at),
        "cancelReason": order.cancel_reason.upper() if order.cancel_reason else None,
        "closed": order.closed_at is not None,
        "closedAt": iso(order.closed_at),
        "displayFulfillmentStatus": order.display_fulfillment_status,
        "displayFinancialStatus": order.financial_status.upper(),
        "fulfillable": order.cancelled_at is None
        and any(line.unfulfilled_quantity for line in order.line_items),
        "test": False,
        "unpaid": False,
        "sourceName": order.source_name,
        "currentSubtotalLineItemsQuantity": sum(li.current_quantity for li in order.line_items),
        "subtotalLineItemsQuantity": sum(li.quantity for li in order.line_items),
        "currencyCode": "USD",
        "totalPriceSet": money_bag(
            sum((li.price * li.quantity for li in order.line_items), Decimal(0))
        ),
        # UnsignedInt64 travels as a string.
        "totalWeight": str(order.total_weight),
        **_shopper_view(order.shopper),
        "_order": order,
    }


def _shopper_view(shopper: Shopper | None) -> dict:
    if shopper is None:
        return {"email": None, "phone": None, "customer": None, "shippingAddress": None,
                "billingAddress": None, "shippingLine": None}  # fmt: skip
    address = {
        "__typename": "MailingAddress",
        "id": gid("MailingAddress", shopper.customer_id),
        "name": shopper.name,
        "firstName": shopper.first_name,
        "lastName": shopper.last_name,
        "phone": shopper.phone,
        "address1": shopper.address1,
        "city": shopper.city,
        "zip": shopper.zip,
        "province": shopper.province,
        "provinceCode": shopper.province_code,
        "country": shopper.country,
        "countryCodeV2": shopper.country_code,
    }
    return {
        "email": shopper.email,
        "phone": shopper.phone,
        "customer": {
            "__typename": "Customer",
            "id": gid("Customer", shopper.customer_id),
            "legacyResourceId": str(shopper.customer_id),
            "firstName": shopper.first_name,
            "lastName": shopper.last_name,
            "displayName": shopper.name,
            "defaultEmailAddress": {"emailAddress": shopper.email} if shopper.email else None,
            "defaultPhoneNumber": {"phoneNumber": shopper.phone} if shopper.phone else None,
        },
        "shippingAddress": address,
        "billingAddress": dict(address),
        "shippingLine": {
            "__typename": "ShippingLine",
            "title": shopper.shipping_title,
            "code": shopper.shipping_code,
            "source": "shopify",
            "originalPriceSet": money_bag(Decimal(0)),
            "discountedPriceSet": money_bag(Decimal(0)),
        },
    }


def line_item_view(order: Order, line: LineItem) -> dict:
    return {
        "__typename": "LineItem",
        "id": line.gid,
        "sku": line.sku,
        "name": line.name,
        "title": line.title,
        "variantTitle": line.variant_title,
        "quantity": line.quantity,
        "currentQuantity": line.current_quantity,
        "unfulfilledQuantity": line.unfulfilled_quantity,
        "fulfillableQuantity": 0 if order.cancelled_at else line.unfulfilled_quantity,
        "nonFulfillableQuantity": line.quantity - line.unfulfilled_quantity,
        "refundableQuantity": line.current_quantity,
        "restockable": True,
        "requiresShipping": True,
        "originalUnitPrice": f"{line.price:.2f}",
        "originalUnitPriceSet": money_bag(line.price),
        "discountedUnitPriceSet": money_bag(line.price),
        "originalTotalSet": money_bag(line.price * line.quantity),
        "_line": line,
        "_order": order,
    }


def fulfillment_order_view(sandbox: ShopifySandbox, order: Order) -> dict:
    status = order.fulfillment_order_status
    location = sandbox.locations[order.location_id]
    open_ = status in ("OPEN", "IN_PROGRESS")
    return {
        "__typename": "FulfillmentOrder",
        "id": gid("FulfillmentOrder", order.fulfillment_order_id),
        "status": status,
        "requestStatus": "UNSUBMITTED",
        "createdAt": iso(order.created_at),
        "updatedAt": iso(order.updated_at),
        "orderId": order.gid,
        "orderName": order.name,
        "supportedActions": [
            {"action": action}
            for action in (("CREATE_FULFILLMENT", "MOVE", "HOLD", "SPLIT") if open_ else ())
        ],
        "assignedLocation": {
            "name": location.name,
            "countryCode": "US",
            "location": location_view(location),
        },
        "_order": order,
    }


def fulfillment_view(sandbox: ShopifySandbox, order: Order, fulfillment) -> dict:
    tracking = []
    numbers = fulfillment.tracking_numbers or []
    urls = fulfillment.tracking_urls or []
    for index in range(max(len(numbers), len(urls), 1 if fulfillment.tracking_company else 0)):
        tracking.append(
            {
                "company": fulfillment.tracking_company,
                "number": numbers[index] if index < len(numbers) else None,
                "url": urls[index] if index < len(urls) else None,
            }
        )
    return {
        "__typename": "Fulfillment",
        "id": fulfillment.gid,
        "legacyResourceId": str(fulfillment.id),
        "name": fulfillment.name,
        "status": fulfillment.status.upper(),
        "displayStatus": "FULFILLED",
        "createdAt": iso(fulfillment.created_at),
        "updatedAt": iso(fulfillment.updated_at),
        "totalQuantity": sum(q for _, q in fulfillment.lines),
        "trackingInfo": tracking,
        "location": location_view(sandbox.locations[fulfillment.location_id]),
        "order": order_view(order),
        "_fulfillment": fulfillment,
        "_order": order,
    }


def group_view(group: dict) -> dict:
    return {
        "__typename": "InventoryAdjustmentGroup",
        "id": group["id"],
        "createdAt": iso(group["createdAt"]),
        "reason": group["reason"],
        "referenceDocumentUri": group["referenceDocumentUri"],
        "app": None,
        "staffMember": None,
        "_changes": group["changes"],
    }


# node lookup ---------------------------------------------------------------------------------
def node_for(sandbox: ShopifySandbox, global_id: str) -> dict | None:
    match = GID_RE.match(global_id or "")
    if not match:
        raise bad_request(f"Invalid global id '{global_id}'")
    kind, number = match["type"], int(match["id"])
    if kind == "InventoryItem" and number in sandbox.items:
        return item_view(sandbox, sandbox.items[number])
    if kind == "ProductVariant" and number in sandbox.variants:
        return variant_view(sandbox, sandbox.variants[number])
    if kind == "Product" and number in sandbox.products:
        return product_view(sandbox, sandbox.products[number])
    if kind == "Location" and number in sandbox.locations:
        return location_view(sandbox.locations[number])
    if kind == "Order" and number in sandbox.orders:
        return order_view(sandbox.orders[number])
    if kind == "InventoryLevel":
        query = dict(p.split("=", 1) for p in (match["query"] or "").split("&") if "=" in p)
        item_id = query.get("inventory_item_id")
        level = (
            sandbox.levels.get((int(item_id), number)) if item_id and item_id.isdigit() else None
        )
        return level_view(level) if level else None
    if kind == "FulfillmentOrder":
        for order in sandbox.orders.values():
            if order.fulfillment_order_id == number:
                return fulfillment_order_view(sandbox, order)
    if kind == "LineItem":
        for order in sandbox.orders.values():
            for line in order.line_items:
                if line.id == number:
                    return line_item_view(order, line)
    if kind == "Fulfillment":
        for order in sandbox.orders.values():
            for fulfillment in order.fulfillments:
                if fulfillment.id == number:
                    return fulfillment_view(sandbox, order, fulfillment)
    return None
