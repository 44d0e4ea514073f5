"""QueryRoot: the top-level reads (inventory items and levels, variants, products, locations,
orders, jobs, nodes, the shop)."""

from __future__ import annotations

from channels.sandbox.shopify.model import ShopifySandbox
from channels.sandbox.shopify.shop.records import gid, parse_gid

from .base import MAX_INPUT_SIZE, bad_request, resolves, sandbox_of
from .pagination import paginate
from .search import search
from .views import item_view, location_view, node_for, order_view, product_view, variant_view

ITEM_FILTERS = {
    "sku": lambda i: i.sku,
    "id": lambda i: i.id,
    "created_at": lambda i: i.created_at,
    "updated_at": lambda i: i.updated_at,
}


@resolves("QueryRoot", "inventoryItems")
def _inventory_items(_, info, **args):
    sandbox = sandbox_of(info)
    items = search(sandbox.items.values(), args.get("query"), ITEM_FILTERS)
    return paginate(items, args, view=lambda i: item_view(sandbox, i))


@resolves("QueryRoot", "inventoryItem")
def _inventory_item(_, info, id):
    node = node_for(sandbox_of(info), id)
    return node if node and node["__typename"] == "InventoryItem" else None


@resolves("QueryRoot", "inventoryLevel")
def _inventory_level(_, info, id):
    node = node_for(sandbox_of(info), id)
    return node if node and node["__typename"] == "InventoryLevel" else None


def _variant_filters(sandbox: ShopifySandbox) -> dict:
    return {
        "sku": lambda v: v.sku,
        "barcode": lambda v: v.barcode,
        "id": lambda v: v.id,
        "product_id": lambda v: v.product_id,
        "title": lambda v: v.title,
        "created_at": lambda v: v.created_at,
        "updated_at": lambda v: v.updated_at,
        "inventory_item_id": lambda v: v.inventory_item_id,
        "location_id": lambda v: [
            loc for (item_id, loc) in sandbox.levels if item_id == v.inventory_item_id
        ],
    }


VARIANT_SORTS = {"SKU": lambda v: v.sku, "TITLE": lambda v: v.title}


@resolves("QueryRoot", "productVariants")
def _product_variants(_, info, **args):
    sandbox = sandbox_of(info)
    variants = search(sandbox.variants.values(), args.get("query"), _variant_filters(sandbox))
    return paginate(
        variants,
        args,
        view=lambda v: variant_view(sandbox, v),
        sort_value=VARIANT_SORTS.get(args.get("sortKey") or "ID", lambda v: 0),
    )


@resolves("QueryRoot", "productVariant")
def _product_variant(_, info, id):
    node = node_for(sandbox_of(info), id)
    return node if node and node["__typename"] == "ProductVariant" else None


@resolves("QueryRoot", "products")
def _products(_, info, **args):
    sandbox = sandbox_of(info)
    filters = {
        "title": lambda p: p.title,
        "id": lambda p: p.id,
        "updated_at": lambda p: p.updated_at,
        "created_at": lambda p: p.created_at,
        "sku": lambda p: [sandbox.variants[v].sku for v in p.variant_ids],
    }
    products = search(sandbox.products.values(), args.get("query"), filters)
    sorts = {"TITLE": lambda p: p.title, "UPDATED_AT": lambda p: p.updated_at}
    return paginate(
        products,
        args,
        view=lambda p: product_view(sandbox, p),
        sort_value=sorts.get(args.get("sortKey") or "ID", lambda p: 0),
    )


@resolves("QueryRoot", "product")
def _product(_, info, id):
    node = node_for(sandbox_of(info), id)
    return node if node and node["__typename"] == "Product" else None


@resolves("QueryRoot", "locations")
def _locations(_, info, **args):
    sandbox = sandbox_of(info)
    locations = [
        loc for loc in sandbox.locations.values() if loc.is_active or args.get("includeInactive")
    ]
    filters = {
        "name": lambda loc: loc.name,
        "id": lambda loc: loc.id,
        "active": lambda loc: loc.is_active,
    }
    locations = search(locations, args.get("query"), filters)
    sort = args.get("sortKey") or "NAME"
    return paginate(
        locations,
        args,
        view=location_view,
        sort_value=(lambda loc: loc.name) if sort == "NAME" else (lambda loc: 0),
    )


@resolves("QueryRoot", "location")
def _location(_, info, id=None):
    sandbox = sandbox_of(info)
    if id is None:
        return location_view(sandbox.primary_location())
    node = node_for(sandbox, id)
    return node if node and node["__typename"] == "Location" else None


def _order_filters() -> dict:
    return {
        "id": lambda o: o.id,
        "name": lambda o: o.name,
        "created_at": lambda o: o.created_at,
        "updated_at": lambda o: o.updated_at,
        "processed_at": lambda o: o.created_at,
        "status": lambda o: "cancelled" if o.cancelled_at else "closed" if o.closed_at else "open",
        "financial_status": lambda o: o.financial_status,
        "fulfillment_status": lambda o: {
            None: "unshipped",
            "partial": "partial",
            "fulfilled": "shipped",
        }[o.fulfillment_status],
        "sku": lambda o: [line.sku for line in o.line_items],
        "location_id": lambda o: o.location_id,
    }


ORDER_SORTS = {
    "UPDATED_AT": lambda o: o.updated_at,
    "CREATED_AT": lambda o: o.created_at,
    "PROCESSED_AT": lambda o: o.created_at,
    "ORDER_NUMBER": lambda o: o.number,
}


@resolves("QueryRoot", "orders")
def _orders(_, info, **args):
    orders = search(sandbox_of(info).orders.values(), args.get("query"), _order_filters())
    return paginate(
        orders,
        args,
        view=order_view,
        sort_value=ORDER_SORTS.get(args.get("sortKey") or "ID", lambda o: 0),
    )


@resolves("QueryRoot", "order")
def _order(_, info, id):
    node = node_for(sandbox_of(info), id)
    return node if node and node["__typename"] == "Order" else None


@resolves("QueryRoot", "fulfillmentOrder")
def _fulfillment_order(_, info, id):
    node = node_for(sandbox_of(info), id)
    return node if node and node["__typename"] == "FulfillmentOrder" else None


@resolves("QueryRoot", "job")
def _job(_, info, id):
    number = parse_gid(id, "Job")
    job = sandbox_of(info).jobs.get(number) if number is not None else None
    return {"__typename": "Job", **job, "query": {}} if job else None


@resolves("QueryRoot", "node")
def _node(_, info, id):
    return node_for(sandbox_of(info), id)


@resolves("QueryRoot", "nodes")
def _nodes(_, info, ids):
    if len(ids) > MAX_INPUT_SIZE:
        raise bad_request(
            f"The input array size of {len(ids)} is greater than the maximum allowed of "
            f"{MAX_INPUT_SIZE}.",
            code="MAX_INPUT_SIZE_EXCEEDED",
        )
    sandbox = sandbox_of(info)
    return [node_for(sandbox, i) for i in ids]


@resolves("QueryRoot", "shop")
def _shop(_, info):
    config = sandbox_of(info).config
    return {
        "__typename": "Shop",
        "id": gid("Shop", 1),
        "name": config.shop_name,
        "myshopifyDomain": config.shop_domain,
        "currencyCode": config.currency,
        "ianaTimezone": "Etc/UTC",
        "timezoneAbbreviation": "UTC",
    }
