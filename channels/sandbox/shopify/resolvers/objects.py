"""Fields of objects that lead to other records: an item's levels, a level's quantities, an
order's lines, fulfilment orders, fulfilments and refunds, an adjustment group's changes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from channels.sandbox.shopify.model import ShopifySandbox
from channels.sandbox.shopify.shop.records import (
    QUANTITY_NAMES,
    InventoryItem,
    Level,
    LineItem,
    Order,
    gid,
    parse_gid,
)

from .base import bad_request, iso, money_bag, resolves, sandbox_of
from .pagination import paginate
from .views import (
    fulfillment_order_view,
    fulfillment_view,
    item_view,
    level_view,
    line_item_view,
    location_view,
    order_view,
    product_view,
    variant_view,
)


def _levels_of_item(sandbox: ShopifySandbox, item: InventoryItem, include_inactive: bool) -> list:
    return [
        level
        for (item_id, _), level in sandbox.levels.items()
        if item_id == item.id and (level.is_active or include_inactive)
    ]


class _LevelKey:
    """Levels have a composite key; pagination wants one id."""

    def __init__(self, level: Level, by: str) -> None:
        self.level = level
        self.id = level.location_id if by == "location" else level.item_id


@resolves("InventoryItem", "inventoryLevels")
def _item_levels(source, info, **args):
    sandbox = sandbox_of(info)
    levels = _levels_of_item(sandbox, source["_item"], bool(args.get("includeInactive")))
    return paginate(
        [_LevelKey(level, "location") for level in levels],
        args,
        view=lambda key: level_view(key.level),
    )


@resolves("InventoryItem", "inventoryLevel")
def _item_level(source, info, locationId, includeInactive=False):
    location_id = parse_gid(locationId, "Location")
    if location_id is None:
        raise bad_request(f"Invalid global id '{locationId}'")
    level = sandbox_of(info).levels.get((source["_item"].id, location_id))
    if level is None or (not level.is_active and not includeInactive):
        return None
    return level_view(level)


@resolves("InventoryItem", "variant")
def _item_variant(source, info):
    sandbox = sandbox_of(info)
    return variant_view(sandbox, sandbox.variants[source["_item"].variant_id])


@resolves("InventoryItem", "variants")
def _item_variants(source, info, **args):
    sandbox = sandbox_of(info)
    variant = sandbox.variants[source["_item"].variant_id]
    return paginate([variant], args, view=lambda v: variant_view(sandbox, v))


@resolves("InventoryItem", "measurement")
def _item_measurement(source, info):
    return {"id": gid("InventoryItemMeasurement", source["_item"].id), "weight": None}


@resolves("InventoryItem", "locationsCount")
def _item_locations_count(source, info):
    count = len(_levels_of_item(sandbox_of(info), source["_item"], False))
    return {"count": count, "precision": "EXACT"}


@resolves("InventoryLevel", "item")
def _level_item(source, info):
    sandbox = sandbox_of(info)
    return item_view(sandbox, sandbox.items[source["_level"].item_id])


@resolves("InventoryLevel", "location")
def _level_location(source, info):
    return location_view(sandbox_of(info).locations[source["_level"].location_id])


@resolves("InventoryLevel", "quantities")
def _level_quantities(source, info, names):
    level: Level = source["_level"]
    unknown = [n for n in names if n not in QUANTITY_NAMES]
    if unknown:
        raise bad_request(
            f"Invalid quantity name(s): {', '.join(unknown)}. "
            f"Valid names: {', '.join(QUANTITY_NAMES)}."
        )
    return [
        {
            "__typename": "InventoryQuantity",
            "id": f"gid://shopify/InventoryQuantity/{level.location_id}"
            f"?inventory_item_id={level.item_id}&name={name}",
            "name": name,
            "quantity": level.quantity(name),
            "updatedAt": iso(level.changed_at.get(name)),
        }
        for name in names
    ]


@resolves("Location", "inventoryLevel")
def _location_level(source, info, inventoryItemId, includeInactive=False):
    item_id = parse_gid(inventoryItemId, "InventoryItem")
    if item_id is None:
        raise bad_request(f"Invalid global id '{inventoryItemId}'")
    level = sandbox_of(info).levels.get((item_id, source["_location"].id))
    if level is None or (not level.is_active and not includeInactive):
        return None
    return level_view(level)


@resolves("Location", "inventoryLevels")
def _location_levels(source, info, **args):
    sandbox = sandbox_of(info)
    location = source["_location"]
    levels = [
        _LevelKey(level, "item")
        for (_, location_id), level in sandbox.levels.items()
        if location_id == location.id and (level.is_active or args.get("includeInactive"))
    ]
    return paginate(levels, args, view=lambda key: level_view(key.level))


@resolves("ProductVariant", "inventoryItem")
def _variant_item(source, info):
    sandbox = sandbox_of(info)
    return item_view(sandbox, sandbox.items[source["_variant"].inventory_item_id])


@resolves("ProductVariant", "product")
def _variant_product(source, info):
    sandbox = sandbox_of(info)
    return product_view(sandbox, sandbox.products[source["_variant"].product_id])


@resolves("Product", "variants")
def _product_variants_of(source, info, **args):
    sandbox = sandbox_of(info)
    variants = [sandbox.variants[v] for v in source["_product"].variant_ids]
    return paginate(variants, args, view=lambda v: variant_view(sandbox, v))


@resolves("Order", "lineItems")
def _order_lines(source, info, **args):
    order: Order = source["_order"]
    return paginate(order.line_items, args, view=lambda line: line_item_view(order, line))


class _Single:
    def __init__(self, value: Any, id: int) -> None:
        self.value = value
        self.id = id


@resolves("Order", "fulfillmentOrders")
def _order_fulfillment_orders(source, info, **args):
    sandbox = sandbox_of(info)
    order: Order = source["_order"]
    return paginate(
        [_Single(order, order.fulfillment_order_id)],
        args,
        view=lambda single: fulfillment_order_view(sandbox, single.value),
    )


@resolves("Order", "fulfillments")
def _order_fulfillments(source, info, first=None, query=None):
    sandbox = sandbox_of(info)
    order: Order = source["_order"]
    fulfillments = order.fulfillments[:first] if first is not None else order.fulfillments
    return [fulfillment_view(sandbox, order, f) for f in fulfillments]


@resolves("Order", "refunds")
def _order_refunds(source, info, first=None):
    order: Order = source["_order"]
    refunds = order.refunds[:first] if first is not None else order.refunds
    return [
        {
            "__typename": "Refund",
            "id": refund.gid,
            "legacyResourceId": str(refund.id),
            "createdAt": iso(refund.created_at),
            "updatedAt": iso(refund.created_at),
            "note": refund.note,
            "_refund": refund,
            "_order": order,
        }
        for refund in refunds
    ]


@resolves("Refund", "refundLineItems")
def _refund_lines(source, info, **args):
    sandbox = sandbox_of(info)
    order: Order = source["_order"]

    def view(refund_line):
        line = order.line_item(refund_line.line_item_id)
        location = sandbox.locations.get(refund_line.location_id or -1)
        subtotal = line.price * refund_line.quantity
        return {
            "id": gid("RefundLineItem", refund_line.id),
            "quantity": refund_line.quantity,
            "restockType": refund_line.restock_type.upper(),
            "restocked": refund_line.restock_type in ("cancel", "return"),
            "location": location_view(location) if location else None,
            "lineItem": line_item_view(order, line),
            "price": f"{line.price:.2f}",
            "priceSet": money_bag(line.price),
            "subtotal": f"{subtotal:.2f}",
            "subtotalSet": money_bag(subtotal),
            "totalTax": "0.00",
            "totalTaxSet": money_bag(Decimal(0)),
        }

    return paginate(source["_refund"].lines, args, view=view)


@resolves("LineItem", "variant")
def _line_variant(source, info):
    line: LineItem = source["_line"]
    sandbox = sandbox_of(info)
    # A line whose variant id is hidden behaves like one whose variant was deleted.
    if line.hide_variant_id or line.variant_id not in sandbox.variants:
        return None
    return variant_view(sandbox, sandbox.variants[line.variant_id])


@resolves("LineItem", "product")
def _line_product(source, info):
    sandbox = sandbox_of(info)
    product = sandbox.products.get(source["_line"].product_id)
    return product_view(sandbox, product) if product else None


@resolves("FulfillmentOrder", "lineItems")
def _fulfillment_order_lines(source, info, **args):
    sandbox = sandbox_of(info)
    order: Order = source["_order"]
    rows = [
        _Single(line, order.fulfillment_order_line_ids[line.id])
        for line in order.line_items
        if line.unfulfilled_quantity + line.fulfilled_quantity > 0
    ]

    def view(single):
        line: LineItem = single.value
        variant = sandbox.variants.get(line.variant_id)
        return {
            "__typename": "FulfillmentOrderLineItem",
            "id": gid("FulfillmentOrderLineItem", single.id),
            "sku": line.sku,
            "productTitle": line.title,
            "variantTitle": line.variant_title,
            "totalQuantity": line.unfulfilled_quantity + line.fulfilled_quantity,
            "remainingQuantity": 0 if order.cancelled_at else line.unfulfilled_quantity,
            "inventoryItemId": gid("InventoryItem", line.inventory_item_id),
            "requiresShipping": True,
            "lineItem": line_item_view(order, line),
            "variant": variant_view(sandbox, variant) if variant else None,
        }

    return paginate(rows, args, view=view)


@resolves("FulfillmentOrder", "order")
def _fulfillment_order_order(source, info):
    return order_view(source["_order"])


@resolves("Fulfillment", "fulfillmentLineItems")
def _fulfillment_lines(source, info, **args):
    order: Order = source["_order"]
    fulfillment = source["_fulfillment"]
    rows = [
        _Single((line_item_id, quantity), line_id)
        for (line_item_id, quantity), line_id in zip(
            fulfillment.lines, fulfillment.line_ids, strict=True
        )
    ]

    def view(single):
        line_item_id, quantity = single.value
        line = order.line_item(line_item_id)
        return {
            "id": gid("FulfillmentLineItem", single.id),
            "quantity": quantity,
            "lineItem": line_item_view(order, line),
            "originalTotalSet": money_bag(line.price * quantity),
        }

    return paginate(rows, args, view=view)


@resolves("Fulfillment", "trackingInfo")
def _fulfillment_tracking(source, info, first=None):
    tracking = source["trackingInfo"]
    return tracking[:first] if first is not None else tracking


@resolves("InventoryAdjustmentGroup", "changes")
def _group_changes(source, info, inventoryItemIds=None, locationIds=None, quantityNames=None):
    sandbox = sandbox_of(info)
    item_ids = {parse_gid(i) for i in inventoryItemIds} if inventoryItemIds else None
    location_ids = {parse_gid(i) for i in locationIds} if locationIds else None
    result = []
    for change in source["_changes"]:
        if item_ids is not None and change["_item_id"] not in item_ids:
            continue
        if location_ids is not None and change["_location_id"] not in location_ids:
            continue
        if quantityNames is not None and change["name"] not in quantityNames:
            continue
        item = sandbox.items.get(change["_item_id"])
        location = sandbox.locations.get(change["_location_id"])
        result.append(
            {
                "name": change["name"],
                "delta": change["delta"],
                "quantityAfterChange": change["quantityAfterChange"],
                "ledgerDocumentUri": change["ledgerDocumentUri"],
                "item": item_view(sandbox, item) if item else None,
                "location": location_view(location) if location else None,
            }
        )
    return result
