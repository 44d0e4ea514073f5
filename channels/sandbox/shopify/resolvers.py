"""Resolvers that answer Admin API documents from the in-memory shop.

The official schema has no resolvers; one field resolver serves every field. It looks for a
registered resolver for (type, field), then for the key in a view dict, and otherwise returns a
harmless zero value of the declared type, so any valid document executes and non-null fields
the sandbox does not model never null out their parents.

While resolving it also counts the actual query cost: 1 per object returned, 2 per connection,
10 per mutation field (the mutation's payload is included in those 10).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLUnionType,
    OperationType,
    VariableNode,
    get_named_type,
    value_from_ast_untyped,
)

from .cost import MUTATION_FIELD_COST
from .model import SandboxError, ShopifySandbox
from .shop.records import (
    GID_RE,
    QUANTITY_NAMES,
    IdempotentRecord,
    InventoryItem,
    Level,
    LineItem,
    Location,
    Order,
    Product,
    Variant,
    gid,
    parse_gid,
)

MAX_PAGE = 250
MAX_INPUT_SIZE = 250


@dataclass
class RequestContext:
    sandbox: ShopifySandbox
    variables: dict[str, Any]
    lost_write: bool = False
    actual_cost: int = 0
    notes: list[str] = field(default_factory=list)


Resolver = Callable[..., Any]
RESOLVERS: dict[tuple[str, str], Resolver] = {}


def resolves(type_name: str, field_name: str) -> Callable[[Resolver], Resolver]:
    def register(fn: Resolver) -> Resolver:
        RESOLVERS[(type_name, field_name)] = fn
        return fn

    return register


def bad_request(message: str, code: str = "BAD_REQUEST", **extensions: Any) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code, **extensions})


# generic resolution ------------------------------------------------------------------------
def field_resolver(source: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    if info.operation.operation == OperationType.MUTATION and info.path.prev is None:
        # A mutation costs its 10 points even when it is refused with a top-level error.
        info.context.actual_cost += MUTATION_FIELD_COST
    custom = RESOLVERS.get((info.parent_type.name, info.field_name))
    if custom is not None:
        value = custom(source, info, **args)
    elif isinstance(source, dict) and info.field_name in source:
        value = source[info.field_name]
    else:
        value = zero_value(info.return_type, info.context)
    _count(info, value)
    return value


def _count(info: GraphQLResolveInfo, value: Any) -> None:
    context: RequestContext = info.context
    if info.operation.operation == OperationType.MUTATION:
        return
    if value is None:
        return
    named = get_named_type(info.return_type)
    if not isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType):
        return
    if named.name.endswith("Connection"):
        context.actual_cost += 2
    elif named.name.endswith("Edge") or named.name == "PageInfo":
        return
    elif isinstance(value, list):
        context.actual_cost += sum(1 for v in value if v is not None)
    else:
        context.actual_cost += 1


SCALAR_ZERO: dict[str, Any] = {
    "String": "",
    "ID": "",
    "Int": 0,
    "Float": 0.0,
    "Boolean": False,
    "Decimal": "0.0",
    "Money": "0.0",
    "UnsignedInt64": "0",
    "BigInt": "0",
    "URL": "https://sandbox.invalid/",
    "JSON": {},
    "HTML": "",
    "FormattedString": "",
    "Color": "#000000",
    "UtcOffset": "+00:00",
}


def zero_value(type_: Any, context: RequestContext) -> Any:
    """What an unmodelled field answers: null when allowed, else the emptiest valid value."""
    if not isinstance(type_, GraphQLNonNull):
        return None
    inner = type_.of_type
    if isinstance(inner, GraphQLList):
        return []
    if isinstance(inner, GraphQLEnumType):
        if inner.name == "CurrencyCode":
            return context.sandbox.config.currency
        return next(iter(inner.values))
    if isinstance(inner, GraphQLScalarType):
        if inner.name == "DateTime":
            return iso(context.sandbox.now())
        if inner.name == "Date":
            return context.sandbox.now().date().isoformat()
        return SCALAR_ZERO.get(inner.name, "")
    if isinstance(inner, GraphQLObjectType):
        if inner.name.endswith("Connection"):
            return empty_connection()
        return {"__typename": inner.name}
    # A non-null interface or union the sandbox does not model: let GraphQL report it.
    return None


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def money_bag(amount: Decimal, currency: str = "USD") -> dict:
    money = {"amount": f"{amount:.2f}", "currencyCode": currency}
    return {"shopMoney": dict(money), "presentmentMoney": dict(money)}


# pagination and search ---------------------------------------------------------------------
def empty_connection() -> dict:
    return {
        "nodes": [],
        "edges": [],
        "pageInfo": {
            "hasNextPage": False,
            "hasPreviousPage": False,
            "startCursor": None,
            "endCursor": None,
        },
    }


def _encode_cursor(key: tuple) -> str:
    raw = json.dumps({"last_id": key[1], "last_value": key[0]}, separators=(",", ":"))
    return base64.b64encode(raw.encode()).decode()


def _decode_cursor(cursor: str) -> tuple:
    try:
        data = json.loads(base64.b64decode(cursor.encode(), validate=True))
        return (data["last_value"], data["last_id"])
    except (ValueError, KeyError, TypeError) as exc:
        raise bad_request(f"Invalid cursor for current pagination sort: {cursor!r}") from exc


def paginate(
    items: Iterable[Any],
    args: dict,
    *,
    view: Callable[[Any], dict],
    sort_value: Callable[[Any], Any] = lambda item: 0,
) -> dict:
    """Keyset pagination on (sort value, id), Shopify's cursor model."""
    first, last = args.get("first"), args.get("last")
    if first is None and last is None:
        raise bad_request("you must provide one of first or last")
    for name, size in (("first", first), ("last", last)):
        if size is not None and not 0 <= size <= MAX_PAGE:
            raise bad_request(f"The value of `{name}` must be between 0 and {MAX_PAGE}.")
    reverse = bool(args.get("reverse"))
    keyed = sorted(((_sortable(sort_value(item)), item.id), item) for item in items)
    if reverse:
        keyed.reverse()

    def beyond(key: tuple, cursor: tuple) -> bool:
        return key < cursor if reverse else key > cursor

    if args.get("after"):
        cursor = _decode_cursor(args["after"])
        keyed = [(k, item) for k, item in keyed if beyond(k, cursor)]
    if args.get("before"):
        cursor = _decode_cursor(args["before"])
        keyed = [(k, item) for k, item in keyed if beyond(cursor, k)]
    has_next = bool(args.get("before"))
    has_previous = bool(args.get("after"))
    if first is not None:
        has_next = has_next or len(keyed) > first
        keyed = keyed[:first]
    if last is not None:
        has_previous = has_previous or len(keyed) > last
        keyed = keyed[-last:] if last else []
    nodes = [view(item) for _, item in keyed]
    cursors = [_encode_cursor(k) for k, _ in keyed]
    return {
        "nodes": nodes,
        "edges": [{"cursor": c, "node": n} for c, n in zip(cursors, nodes, strict=True)],
        "pageInfo": {
            "hasNextPage": has_next,
            "hasPreviousPage": has_previous,
            "startCursor": cursors[0] if cursors else None,
            "endCursor": cursors[-1] if cursors else None,
        },
    }


def _sortable(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if value is None:
        return ""
    return value


SEARCH_TERM = re.compile(
    r"""(?P<neg>-)?(?P<field>[A-Za-z_]+):(?P<op><=|>=|<|>)?(?P<value>"[^"]*"|'[^']*'|\S+)"""
)


def parse_search(query: str | None) -> list[tuple[str, str, str, bool]]:
    """Shopify search syntax, the part clients use: `field:value`, `field:>value`, `-field:x`.

    Terms are ANDed; OR, grouping and free text are not modelled and are ignored.
    """
    terms = []
    for match in SEARCH_TERM.finditer(query or ""):
        value = match["value"]
        if value[:1] in "'\"" and value[-1:] == value[:1] and len(value) >= 2:
            value = value[1:-1]
        terms.append((match["field"].lower(), match["op"] or "=", value, bool(match["neg"])))
    return terms


def _parse_time(text: str) -> datetime | None:
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _compare(actual: Any, op: str, wanted: str) -> bool:
    if isinstance(actual, list | tuple | set):
        return any(_compare(a, op, wanted) for a in actual)
    if actual is None:
        return False
    if isinstance(actual, datetime):
        target = _parse_time(wanted)
        if target is None:
            return False
        actual = actual.replace(microsecond=0)
    elif isinstance(actual, bool):
        target = wanted.lower() == "true"
    elif isinstance(actual, int):
        number = parse_gid(wanted) if wanted.startswith("gid://") else None
        if number is None:
            try:
                number = int(wanted)
            except ValueError:
                return False
        target = number
    else:
        actual = str(actual).casefold()
        target = wanted.casefold()
        if op == "=" and target.endswith("*"):
            return actual.startswith(target[:-1])
    return {
        "=": actual == target,
        ">": actual > target,
        ">=": actual >= target,
        "<": actual < target,
        "<=": actual <= target,
    }[op]


def search(items: Iterable[Any], query: str | None, getters: dict[str, Callable]) -> list[Any]:
    terms = [t for t in parse_search(query) if t[0] in getters]
    result = []
    for item in items:
        if all(_compare(getters[f](item), op, v) != neg for f, op, v, neg in terms):
            result.append(item)
    return result


# views ---------------------------------------------------------------------------------------
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
        "_order": order,
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


def _sandbox(info: GraphQLResolveInfo) -> ShopifySandbox:
    return info.context.sandbox


# QueryRoot -----------------------------------------------------------------------------------
ITEM_FILTERS = {
    "sku": lambda i: i.sku,
    "id": lambda i: i.id,
    "created_at": lambda i: i.created_at,
    "updated_at": lambda i: i.updated_at,
}


@resolves("QueryRoot", "inventoryItems")
def _inventory_items(_, info, **args):
    sandbox = _sandbox(info)
    items = search(sandbox.items.values(), args.get("query"), ITEM_FILTERS)
    return paginate(items, args, view=lambda i: item_view(sandbox, i))


@resolves("QueryRoot", "inventoryItem")
def _inventory_item(_, info, id):
    node = node_for(_sandbox(info), id)
    return node if node and node["__typename"] == "InventoryItem" else None


@resolves("QueryRoot", "inventoryLevel")
def _inventory_level(_, info, id):
    node = node_for(_sandbox(info), id)
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
    sandbox = _sandbox(info)
    variants = search(sandbox.variants.values(), args.get("query"), _variant_filters(sandbox))
    return paginate(
        variants,
        args,
        view=lambda v: variant_view(sandbox, v),
        sort_value=VARIANT_SORTS.get(args.get("sortKey") or "ID", lambda v: 0),
    )


@resolves("QueryRoot", "productVariant")
def _product_variant(_, info, id):
    node = node_for(_sandbox(info), id)
    return node if node and node["__typename"] == "ProductVariant" else None


@resolves("QueryRoot", "products")
def _products(_, info, **args):
    sandbox = _sandbox(info)
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
    node = node_for(_sandbox(info), id)
    return node if node and node["__typename"] == "Product" else None


@resolves("QueryRoot", "locations")
def _locations(_, info, **args):
    sandbox = _sandbox(info)
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
    sandbox = _sandbox(info)
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
    orders = search(_sandbox(info).orders.values(), args.get("query"), _order_filters())
    return paginate(
        orders,
        args,
        view=order_view,
        sort_value=ORDER_SORTS.get(args.get("sortKey") or "ID", lambda o: 0),
    )


@resolves("QueryRoot", "order")
def _order(_, info, id):
    node = node_for(_sandbox(info), id)
    return node if node and node["__typename"] == "Order" else None


@resolves("QueryRoot", "fulfillmentOrder")
def _fulfillment_order(_, info, id):
    node = node_for(_sandbox(info), id)
    return node if node and node["__typename"] == "FulfillmentOrder" else None


@resolves("QueryRoot", "job")
def _job(_, info, id):
    number = parse_gid(id, "Job")
    job = _sandbox(info).jobs.get(number) if number is not None else None
    return {"__typename": "Job", **job, "query": {}} if job else None


@resolves("QueryRoot", "node")
def _node(_, info, id):
    return node_for(_sandbox(info), id)


@resolves("QueryRoot", "nodes")
def _nodes(_, info, ids):
    if len(ids) > MAX_INPUT_SIZE:
        raise bad_request(
            f"The input array size of {len(ids)} is greater than the maximum allowed of "
            f"{MAX_INPUT_SIZE}.",
            code="MAX_INPUT_SIZE_EXCEEDED",
        )
    sandbox = _sandbox(info)
    return [node_for(sandbox, i) for i in ids]


@resolves("QueryRoot", "shop")
def _shop(_, info):
    config = _sandbox(info).config
    return {
        "__typename": "Shop",
        "id": gid("Shop", 1),
        "name": config.shop_name,
        "myshopifyDomain": config.shop_domain,
        "currencyCode": config.currency,
        "ianaTimezone": "Etc/UTC",
        "timezoneAbbreviation": "UTC",
    }


# object fields -------------------------------------------------------------------------------
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
    sandbox = _sandbox(info)
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
    level = _sandbox(info).levels.get((source["_item"].id, location_id))
    if level is None or (not level.is_active and not includeInactive):
        return None
    return level_view(level)


@resolves("InventoryItem", "variant")
def _item_variant(source, info):
    sandbox = _sandbox(info)
    return variant_view(sandbox, sandbox.variants[source["_item"].variant_id])


@resolves("InventoryItem", "variants")
def _item_variants(source, info, **args):
    sandbox = _sandbox(info)
    variant = sandbox.variants[source["_item"].variant_id]
    return paginate([variant], args, view=lambda v: variant_view(sandbox, v))


@resolves("InventoryItem", "measurement")
def _item_measurement(source, info):
    return {"id": gid("InventoryItemMeasurement", source["_item"].id), "weight": None}


@resolves("InventoryItem", "locationsCount")
def _item_locations_count(source, info):
    count = len(_levels_of_item(_sandbox(info), source["_item"], False))
    return {"count": count, "precision": "EXACT"}


@resolves("InventoryLevel", "item")
def _level_item(source, info):
    sandbox = _sandbox(info)
    return item_view(sandbox, sandbox.items[source["_level"].item_id])


@resolves("InventoryLevel", "location")
def _level_location(source, info):
    return location_view(_sandbox(info).locations[source["_level"].location_id])


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
    level = _sandbox(info).levels.get((item_id, source["_location"].id))
    if level is None or (not level.is_active and not includeInactive):
        return None
    return level_view(level)


@resolves("Location", "inventoryLevels")
def _location_levels(source, info, **args):
    sandbox = _sandbox(info)
    location = source["_location"]
    levels = [
        _LevelKey(level, "item")
        for (_, location_id), level in sandbox.levels.items()
        if location_id == location.id and (level.is_active or args.get("includeInactive"))
    ]
    return paginate(levels, args, view=lambda key: level_view(key.level))


@resolves("ProductVariant", "inventoryItem")
def _variant_item(source, info):
    sandbox = _sandbox(info)
    return item_view(sandbox, sandbox.items[source["_variant"].inventory_item_id])


@resolves("ProductVariant", "product")
def _variant_product(source, info):
    sandbox = _sandbox(info)
    return product_view(sandbox, sandbox.products[source["_variant"].product_id])


@resolves("Product", "variants")
def _product_variants_of(source, info, **args):
    sandbox = _sandbox(info)
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
    sandbox = _sandbox(info)
    order: Order = source["_order"]
    return paginate(
        [_Single(order, order.fulfillment_order_id)],
        args,
        view=lambda single: fulfillment_order_view(sandbox, single.value),
    )


@resolves("Order", "fulfillments")
def _order_fulfillments(source, info, first=None, query=None):
    sandbox = _sandbox(info)
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
    sandbox = _sandbox(info)
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
    sandbox = _sandbox(info)
    # A line whose variant id is hidden behaves like one whose variant was deleted.
    if line.hide_variant_id or line.variant_id not in sandbox.variants:
        return None
    return variant_view(sandbox, sandbox.variants[line.variant_id])


@resolves("LineItem", "product")
def _line_product(source, info):
    sandbox = _sandbox(info)
    product = sandbox.products.get(source["_line"].product_id)
    return product_view(sandbox, product) if product else None


@resolves("FulfillmentOrder", "lineItems")
def _fulfillment_order_lines(source, info, **args):
    sandbox = _sandbox(info)
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
    sandbox = _sandbox(info)
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


# Mutation ------------------------------------------------------------------------------------
IDEMPOTENT_MUTATIONS = ("inventorySetQuantities", "inventoryAdjustQuantities", "inventoryActivate")


def idempotency_key(info: GraphQLResolveInfo) -> str:
    """The key of the field's @idempotent directive; 2026-04 refuses these mutations without it.

    Shopify's exact error for a missing directive is not documented; the sandbox answers a
    top-level error with extensions.code BAD_REQUEST and this message, and the field is null.
    """
    node = info.field_nodes[0]
    for directive in node.directives or ():
        if directive.name.value != "idempotent":
            continue
        for argument in directive.arguments or ():
            if argument.name.value == "key":
                value = argument.value
                if isinstance(value, VariableNode):
                    key = info.context.variables.get(value.name.value)
                else:
                    key = value_from_ast_untyped(value)
                if not isinstance(key, str) or not key.strip():
                    raise bad_request(
                        "The @idempotent directive requires a non-empty key.",
                        problem="IDEMPOTENCY_KEY_BLANK",
                    )
                return key
    raise bad_request(
        f"The @idempotent directive is required for {info.field_name} "
        f'(API version 2026-04 and later): add @idempotent(key: "<unique key>") to the field.',
        problem="IDEMPOTENT_DIRECTIVE_MISSING",
        documentation="https://shopify.dev/docs/api/usage/idempotent-requests",
    )


def _fingerprint(field_name: str, args: dict) -> str:
    return field_name + ":" + json.dumps(args, sort_keys=True, default=str)


def run_idempotent(info: GraphQLResolveInfo, args: dict, run: Callable[[], dict]) -> dict:
    """Same key + same arguments replays the first answer; different arguments are refused."""
    sandbox = _sandbox(info)
    key = idempotency_key(info)
    fingerprint = _fingerprint(info.field_name, args)
    record = sandbox.idempotency.get(key)
    if record is not None:
        if record.fingerprint != fingerprint:
            return {
                "userErrors": [
                    {
                        "code": "IDEMPOTENCY_KEY_PARAMETER_MISMATCH",
                        "field": None,
                        "message": "The same idempotency key cannot be used with different "
                        "operation parameters.",
                    }
                ],
                "_mismatch": True,
            }
        info.context.notes.append("idempotent_replay")
        return record.result
    result = run()
    sandbox.idempotency[key] = IdempotentRecord(info.field_name, fingerprint, result)
    return result


def _require_change_from(rows: list[dict], path: str) -> None:
    if len(rows) > MAX_INPUT_SIZE:
        raise bad_request(
            f"The input array size of {len(rows)} is greater than the maximum allowed of "
            f"{MAX_INPUT_SIZE}.",
            code="MAX_INPUT_SIZE_EXCEEDED",
        )
    missing = [str(i) for i, row in enumerate(rows) if "changeFromQuantity" not in row]
    if missing:
        raise bad_request(
            f"changeFromQuantity is required on every {path} entry (API version 2026-04 and "
            f"later); pass null to skip the compare. Missing at index {', '.join(missing)}.",
            problem="CHANGE_FROM_QUANTITY_MISSING",
        )


def _inventory_payload(group: dict | None, errors: list[dict]) -> dict:
    return {
        "inventoryAdjustmentGroup": group_view(group) if group else None,
        "userErrors": errors,
    }


@resolves("Mutation", "inventorySetQuantities")
def _inventory_set_quantities(_, info, input):
    _require_change_from(input["quantities"], "quantities")

    def run() -> dict:
        group, errors = _sandbox(info).set_quantities(
            name=input["name"],
            reason=input["reason"],
            quantities=input["quantities"],
            reference_document_uri=input.get("referenceDocumentUri"),
            persist=not info.context.lost_write,
        )
        return _inventory_payload(group, errors)

    result = run_idempotent(info, {"input": input}, run)
    return {"inventoryAdjustmentGroup": None, **result} if result.get("_mismatch") else result


@resolves("Mutation", "inventoryAdjustQuantities")
def _inventory_adjust_quantities(_, info, input):
    _require_change_from(input["changes"], "changes")

    def run() -> dict:
        group, errors = _sandbox(info).adjust_quantities(
            name=input["name"],
            reason=input["reason"],
            changes=input["changes"],
            reference_document_uri=input.get("referenceDocumentUri"),
            persist=not info.context.lost_write,
        )
        return _inventory_payload(group, errors)

    result = run_idempotent(info, {"input": input}, run)
    return {"inventoryAdjustmentGroup": None, **result} if result.get("_mismatch") else result


@resolves("Mutation", "inventoryActivate")
def _inventory_activate(_, info, **args):
    def run() -> dict:
        sandbox = _sandbox(info)
        item_id = parse_gid(args["inventoryItemId"], "InventoryItem")
        location_id = parse_gid(args["locationId"], "Location")
        if item_id not in sandbox.items:
            return {
                "inventoryLevel": None,
                "userErrors": [_error(["inventoryItemId"], "Inventory item does not exist")],
            }
        if location_id not in sandbox.locations:
            return {
                "inventoryLevel": None,
                "userErrors": [_error(["locationId"], "Location does not exist")],
            }
        level = sandbox.activate(item_id, location_id)
        available = args.get("available")
        if available is not None and not info.context.lost_write:
            sandbox.admin_edit(item_id, location_id, available=available)
        return {"inventoryLevel": level_view(level), "userErrors": []}

    result = run_idempotent(info, dict(args), run)
    return {"inventoryLevel": None, **result} if result.get("_mismatch") else result


def _error(path: list[str] | None, message: str) -> dict:
    return {"field": path, "message": message}


@resolves("Mutation", "fulfillmentCreate")
def _fulfillment_create(_, info, fulfillment, message=None):
    sandbox = _sandbox(info)
    groups = fulfillment["lineItemsByFulfillmentOrder"]
    if not groups:
        return {
            "fulfillment": None,
            "userErrors": [
                _error(
                    ["fulfillment", "lineItemsByFulfillmentOrder"],
                    "must contain at least one fulfillment order",
                )
            ],
        }
    orders = []
    lines: list[dict] | None = []
    for index, group in enumerate(groups):
        number = parse_gid(group["fulfillmentOrderId"], "FulfillmentOrder")
        order = next((o for o in sandbox.orders.values() if o.fulfillment_order_id == number), None)
        path = ["fulfillment", "lineItemsByFulfillmentOrder", str(index), "fulfillmentOrderId"]
        if order is None:
            return {
                "fulfillment": None,
                "userErrors": [_error(path, "Fulfillment order does not exist.")],
            }
        if order.fulfillment_order_status not in ("OPEN", "IN_PROGRESS"):
            return {
                "fulfillment": None,
                "userErrors": [_error(path, "Fulfillment order is not in an open state.")],
            }
        orders.append(order)
        requested = group.get("fulfillmentOrderLineItems")
        if requested is None:
            lines = None
            continue
        by_fo_line = {v: k for k, v in order.fulfillment_order_line_ids.items()}
        for line_index, row in enumerate(requested):
            fo_line = parse_gid(row["id"], "FulfillmentOrderLineItem")
            if fo_line not in by_fo_line:
                return {
                    "fulfillment": None,
                    "userErrors": [
                        _error(
                            [
                                "fulfillment",
                                "lineItemsByFulfillmentOrder",
                                str(index),
                                "fulfillmentOrderLineItems",
                                str(line_index),
                                "id",
                            ],
                            "Fulfillment order line item does not exist.",
                        )
                    ],
                }
            if lines is not None:
                lines.append({"line_item_id": by_fo_line[fo_line], "quantity": row["quantity"]})
    if len({o.id for o in orders}) > 1:
        return {
            "fulfillment": None,
            "userErrors": [
                _error(
                    ["fulfillment"],
                    "All fulfillment orders must belong to the same order and location.",
                )
            ],
        }
    tracking = fulfillment.get("trackingInfo") or {}
    numbers = list(
        tracking.get("numbers") or ([tracking["number"]] if tracking.get("number") else [])
    )
    urls = list(tracking.get("urls") or ([tracking["url"]] if tracking.get("url") else []))
    try:
        created = sandbox.fulfill(
            orders[0],
            lines,
            tracking_company=tracking.get("company"),
            tracking_numbers=numbers,
            tracking_urls=urls,
        )
    except SandboxError as exc:
        return {"fulfillment": None, "userErrors": [_error(["fulfillment"], exc.message)]}
    return {"fulfillment": fulfillment_view(sandbox, orders[0], created), "userErrors": []}


@resolves("Mutation", "orderCancel")
def _order_cancel(
    _, info, orderId, reason, restock, refundMethod=None, notifyCustomer=None, staffNote=None
):
    sandbox = _sandbox(info)

    def refused(code: str, message: str) -> dict:
        return {
            "job": None,
            "orderCancelUserErrors": [{"code": code, "field": ["orderId"], "message": message}],
            "userErrors": [{"field": ["orderId"], "message": message}],
        }

    number = parse_gid(orderId, "Order")
    order = sandbox.orders.get(number) if number is not None else None
    if order is None:
        return refused("NOT_FOUND", "Order does not exist.")
    refund_money = bool(
        refundMethod
        and (
            refundMethod.get("originalPaymentMethodsRefund")
            or refundMethod.get("storeCreditRefund")
        )
    )
    try:
        sandbox.cancel(
            order, restock=restock, reason=reason.lower(), staff_note=staffNote, refund=refund_money
        )
    except SandboxError as exc:
        return refused("INVALID", exc.message)
    job = sandbox.create_job()
    # Shopify answers before its cancel job finishes; `job(id)` reports done afterwards.
    return {
        "job": {"__typename": "Job", "id": job["id"], "done": False, "query": None},
        "orderCancelUserErrors": [],
        "userErrors": [],
    }
