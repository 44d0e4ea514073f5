"""Shopify Admin GraphQL client (API 2026-04) for the Shopify channel lane.

A plain module: no Django models, no database. Celery tasks and services build a
`ShopifyClient` from a channel's credentials and store what it reports (every call returns a
`CallRecord` with the raw request body, raw answer, attempts, cost, HTTP status and latency).

Retry rules (all attempts share `max_attempts`; the request body is encoded once, so every retry
sends byte-identical bytes, including the idempotency key):

- THROTTLED (HTTP 200, `errors[].extensions.code == "THROTTLED"`): wait
  (requestedQueryCost - currentlyAvailable) / restoreRate, then retry. Never executed, so this is
  safe for every operation.
- HTTP 429: wait `Retry-After` (seconds or HTTP date; falling back to the THROTTLED arithmetic or
  the backoff), then retry.
- HTTP 5xx, GraphQL INTERNAL_SERVER_ERROR, an unparseable answer, connection errors, timeouts:
  jittered exponential backoff, capped. For mutations that are not idempotent
  (fulfillmentCreate, orderCancel) only failures that prove the request never left are retried;
  anything that may have been applied raises `ShopifyUnavailable(maybe_applied=True)` so the
  caller re-reads instead of doing it twice.
- 401/403/ACCESS_DENIED, other 4xx, GraphQL validation errors, MAX_COST_EXCEEDED and userErrors
  are never retried blindly: they raise typed errors (or, for `set_available`, come back in the
  `SetResult` because a stale compare-and-set is an expected outcome).
- A wait longer than `max_wait` is not slept: `ShopifyThrottled(retry_after=...)` is raised so a
  task can reschedule itself instead of holding a worker.
"""

from __future__ import annotations

import functools
import json
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, ClassVar

import requests
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    parse,
)
from graphql.utilities import value_from_ast_untyped

from channels.lanes.base import ChannelError
from channels.lanes.throttle import NoThrottle, Throttle, ThrottleStatus

API_VERSION = "2026-04"
DOCUMENTS_DIR = Path(__file__).with_name("graphql")
# Shopify rejects any single query whose requested cost exceeds 1000 (MAX_COST_EXCEEDED). Our
# estimate follows the published rules but is not Shopify's own, so pages aim below it.
MAX_QUERY_COST = 1000
COST_TARGET = 900
MAX_INPUT_ITEMS = 250
MAX_PAGE_SIZE = 250
QUANTITY_NAMES = ("available", "on_hand", "committed")
ORDER_CANCEL_REASONS = frozenset({"CUSTOMER", "DECLINED", "FRAUD", "INVENTORY", "STAFF", "OTHER"})
ORDER_LINE_ITEMS_PAGE = 25
FULFILLMENT_ORDERS_PAGE = 25
FULFILLMENT_ORDER_LINES_PAGE = 20
SKUS_PER_SEARCH = 50


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class ShopifyError(ChannelError):
    """Base error. `retryable` tells a task whether trying again later can help."""

    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        call: CallRecord | None = None,
        code: str | None = None,
        errors: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.call = call
        self.code = code
        self.errors = tuple(errors)


class ShopifyAuthError(ShopifyError):
    """401/403 or ACCESS_DENIED: the token is wrong, revoked or lacks a scope."""


class ShopifyQueryError(ShopifyError):
    """The request itself is wrong (GraphQL validation, MAX_COST_EXCEEDED, other 4xx)."""


class ShopifyUserError(ShopifyError):
    """The mutation ran and refused the input (`userErrors`)."""

    def __init__(
        self, message: str, *, user_errors: Sequence[UserError], call: CallRecord | None = None
    ) -> None:
        code = user_errors[0].code if user_errors else None
        super().__init__(message, call=call, code=code)
        self.user_errors = tuple(user_errors)


class ShopifyThrottled(ShopifyError):
    """Still throttled after every attempt, or asked to wait longer than `max_wait`."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float, call: CallRecord | None = None):
        super().__init__(message, call=call, code="THROTTLED")
        self.retry_after = retry_after


class ShopifyUnavailable(ShopifyError):
    """5xx, timeouts, connection errors after every attempt, or a shop that is locked.

    `maybe_applied` is True when a mutation may have run although no answer came back: the
    caller must re-read the channel before deciding to send it again.
    """

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        maybe_applied: bool = False,
        call: CallRecord | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, call=call, code=code)
        self.maybe_applied = maybe_applied


# --------------------------------------------------------------------------------------------
# Records of what happened on the wire
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cost:
    requested: float | None
    actual: float | None
    throttle_status: ThrottleStatus | None

    @classmethod
    def from_payload(cls, payload: Any) -> Cost | None:
        if not isinstance(payload, dict):
            return None
        raw = (payload.get("extensions") or {}).get("cost")
        if not isinstance(raw, dict):
            return None
        return cls(
            requested=_number(raw.get("requestedQueryCost")),
            actual=_number(raw.get("actualQueryCost")),
            throttle_status=ThrottleStatus.from_json(raw.get("throttleStatus")),
        )


@dataclass(frozen=True, slots=True)
class Attempt:
    number: int
    # ok | throttled | rate_limited | server_error | timeout | connection_error | connect_error
    # | bad_answer | graphql_error | user_error_retry | auth_error | client_error
    outcome: str
    http_status: int | None
    latency_s: float
    waited_s: float  # slept before this attempt (backoff, THROTTLED wait, local budget)
    response_body: bytes | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One logical call: what a PushAttempt row stores (request and answer, raw)."""

    operation: str
    url: str
    request_body: bytes
    started_at: datetime
    attempts: tuple[Attempt, ...]
    cost: Cost | None
    api_version: str | None  # X-Shopify-API-Version: the version actually served
    deprecation: str | None  # X-Shopify-API-Deprecated-Reason

    @property
    def http_status(self) -> int | None:
        return self.attempts[-1].http_status if self.attempts else None

    @property
    def response_body(self) -> bytes | None:
        return self.attempts[-1].response_body if self.attempts else None

    @property
    def latency_s(self) -> float:
        return sum(a.latency_s for a in self.attempts)

    @property
    def waited_s(self) -> float:
        return sum(a.waited_s for a in self.attempts)


@dataclass(frozen=True, slots=True)
class Answer:
    data: dict[str, Any]
    call: CallRecord

    @property
    def cost(self) -> Cost | None:
        return self.call.cost


@dataclass(slots=True)
class _CallBuilder:
    operation: str
    url: str
    request_body: bytes
    started_at: datetime
    attempts: list[Attempt] = field(default_factory=list)
    cost: Cost | None = None
    api_version: str | None = None
    deprecation: str | None = None

    def build(self) -> CallRecord:
        return CallRecord(
            operation=self.operation,
            url=self.url,
            request_body=self.request_body,
            started_at=self.started_at,
            attempts=tuple(self.attempts),
            cost=self.cost,
            api_version=self.api_version,
            deprecation=self.deprecation,
        )


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetQuantity:
    inventory_item_id: str  # gid://shopify/InventoryItem/…
    location_id: str  # gid://shopify/Location/…
    quantity: int
    # The quantity we believe Shopify holds now; None sends an explicit null (no compare).
    change_from: int | None


@dataclass(frozen=True, slots=True)
class UserError:
    code: str | None
    field: tuple[str, ...] | None
    message: str

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> UserError:
        field_path = raw.get("field")
        return cls(
            code=raw.get("code"),
            field=tuple(str(p) for p in field_path) if field_path is not None else None,
            message=str(raw.get("message") or ""),
        )


@dataclass(frozen=True, slots=True)
class InventoryChange:
    name: str
    delta: int
    quantity_after_change: int | None
    inventory_item_id: str | None
    location_id: str | None


@dataclass(frozen=True, slots=True)
class SetResult:
    applied: bool
    stale: bool  # some quantity failed its compare-and-set: re-read, do not overwrite
    user_errors: tuple[UserError, ...]
    changes: tuple[InventoryChange, ...]
    adjustment_group_id: str | None
    cost: Cost | None
    attempts: int
    call: CallRecord


@dataclass(frozen=True, slots=True)
class Level:
    available: int
    on_hand: int
    committed: int
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class Variant:
    variant_gid: str
    variant_id: str  # numeric legacy id as a string (UnsignedInt64 arrives as a JSON string)
    inventory_item_gid: str | None
    sku: str | None
    barcode: str | None
    title: str


@dataclass(frozen=True, slots=True)
class ShopLocation:
    gid: str
    legacy_id: str
    name: str
    is_active: bool
    fulfills_online_orders: bool
    has_active_inventory: bool
    is_fulfillment_service: bool


@dataclass(frozen=True, slots=True)
class Tracking:
    company: str | None
    number: str | None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class CreatedFulfillment:
    id: str
    status: str
    location_id: str | None
    fulfillment_order_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FulfillmentResult:
    # One fulfillment per assigned location (Shopify requires one location per call); empty when
    # nothing was left to fulfil, which makes a repeated confirmation harmless.
    fulfillments: tuple[CreatedFulfillment, ...]
    calls: tuple[CallRecord, ...]

    @property
    def fulfillment_id(self) -> str | None:
        return self.fulfillments[0].id if self.fulfillments else None

    @property
    def status(self) -> str | None:
        return self.fulfillments[0].status if self.fulfillments else None


@dataclass(frozen=True, slots=True)
class CancelResult:
    job_id: str | None
    job_done: bool
    call: CallRecord


# --------------------------------------------------------------------------------------------
# GraphQL documents and their cost
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Document:
    name: str
    text: str
    operation_name: str
    operation: OperationDefinitionNode
    fragments: Mapping[str, FragmentDefinitionNode]


def document_names() -> list[str]:
    return sorted(p.stem for p in DOCUMENTS_DIR.glob("*.graphql"))


@functools.cache
def load_document(name: str) -> Document:
    text = (DOCUMENTS_DIR / f"{name}.graphql").read_text(encoding="utf-8")
    ast: DocumentNode = parse(text)
    operations = [d for d in ast.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1 or operations[0].name is None:
        raise ValueError(f"{name}.graphql must hold exactly one named operation")
    fragments = {d.name.value: d for d in ast.definitions if isinstance(d, FragmentDefinitionNode)}
    return Document(name, text, operations[0].name.value, operations[0], fragments)


def estimate_cost(document: Document, variables: Mapping[str, Any]) -> int:
    """Requested cost by Shopify's published rules: scalars 0, objects 1, connections
    2 + first × node, `nodes(ids:)` one node per id, interfaces the dearest branch, mutations 10.

    Used to reserve budget before sending and to size pages below the 1000-point cap.
    """

    def argument(node: FieldNode, name: str) -> Any:
        for arg in node.arguments or ():
            if arg.name.value == name:
                return value_from_ast_untyped(arg.value, dict(variables))
        return None

    def selection(sel: SelectionSetNode | None) -> int:
        if sel is None:
            return 0
        plain, branches = 0, [0]
        for item in sel.selections:
            if isinstance(item, FieldNode):
                plain += field_cost(item)
            elif isinstance(item, InlineFragmentNode):
                branches.append(selection(item.selection_set))
            elif isinstance(item, FragmentSpreadNode):
                branches.append(selection(document.fragments[item.name.value].selection_set))
        return plain + max(branches)

    def per_node(connection: SelectionSetNode) -> int:
        cost = 0
        for item in connection.selections:
            if not isinstance(item, FieldNode) or item.selection_set is None:
                continue
            if item.name.value == "nodes":
                cost = max(cost, 1 + selection(item.selection_set))
            elif item.name.value == "edges":
                for inner in item.selection_set.selections:
                    if isinstance(inner, FieldNode) and inner.name.value == "node":
                        cost = max(cost, 1 + selection(inner.selection_set))
        return cost

    def field_cost(node: FieldNode) -> int:
        if node.selection_set is None or node.name.value == "pageInfo":
            return 0
        size = argument(node, "first") or argument(node, "last")
        if isinstance(size, int):
            return 2 + size * per_node(node.selection_set)
        ids = argument(node, "ids")
        if isinstance(ids, list):
            return len(ids) * (1 + selection(node.selection_set))
        return 1 + selection(node.selection_set)

    op = document.operation
    if op.operation == OperationType.MUTATION:
        fields = [f for f in op.selection_set.selections if isinstance(f, FieldNode)]
        return sum(10 + selection(f.selection_set) for f in fields)
    return selection(op.selection_set)


def largest_batch(
    document: Document, make_variables: Callable[[int], Mapping[str, Any]], ceiling: int
) -> int:
    """The biggest n ≤ ceiling whose estimated cost stays under COST_TARGET (cost is linear)."""
    one = estimate_cost(document, make_variables(1))
    two = estimate_cost(document, make_variables(2))
    slope = max(1, two - one)
    fixed = one - slope
    return max(1, min(ceiling, (COST_TARGET - fixed) // slope))


# --------------------------------------------------------------------------------------------
# Variable builders (pure; the schema test coerces their output)
# --------------------------------------------------------------------------------------------


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
    fulfillment_order_ids: Sequence[str], tracking: Tracking | None, *, notify_customer: bool
) -> dict[str, Any]:
    if not fulfillment_order_ids:
        raise ValueError("at least one fulfillment order is required")
    fulfillment: dict[str, Any] = {
        # No line items listed: Shopify fulfils everything that remains on each order.
        "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": i} for i in fulfillment_order_ids],
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


# --------------------------------------------------------------------------------------------
# Parsers (pure)
# --------------------------------------------------------------------------------------------


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
    return {
        "id": legacy_id(node["id"]),
        "admin_graphql_api_id": node["id"],
        "variant_id": _legacy(node.get("variant")),
        "sku": node.get("sku"),
        "title": node.get("title"),
        "quantity": node.get("quantity"),
        "current_quantity": current,
        "fulfillable_quantity": fulfillable if fulfillable is not None else current,
    }


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
    }


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


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _dig(data: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


# --------------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------------

_RETRY_ON_GRAPHQL_CODES = frozenset({"INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE"})
_AUTH_GRAPHQL_CODES = frozenset({"ACCESS_DENIED", "UNAUTHORIZED", "FORBIDDEN"})
# The answer proves nothing ran: retrying cannot apply a mutation twice.
_NOT_EXECUTED = frozenset({"throttled", "rate_limited", "connect_error", "user_error_retry"})


class ShopifyClient:
    def __init__(
        self,
        shop_url: str,
        access_token: str,
        api_version: str = API_VERSION,
        *,
        throttle: Throttle | None = None,
        timeout: float = 10,
        max_attempts: int = 6,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        max_wait: float = 60.0,
        on_call: Callable[[CallRecord], None] | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        base = shop_url.rstrip("/")
        if "://" not in base:
            base = f"https://{base}"
        self.url = f"{base}/admin/api/{api_version}/graphql.json"
        self.api_version = api_version
        self._headers = {
            "X-Shopify-Access-Token": access_token,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "inventory-sync (+shopify-admin-graphql)",
        }
        self._throttle: Throttle = throttle if throttle is not None else NoThrottle()
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._session = session if session is not None else requests.Session()
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._max_wait = max_wait
        self._on_call = on_call

    # ---- transport ------------------------------------------------------------------------

    def execute(
        self, name: str, variables: Mapping[str, Any], *, idempotent: bool = True
    ) -> Answer:
        """Send one document from `graphql/`. `idempotent=False` for mutations that
        must not be repeated after an answer that may have been lost."""
        return self._execute(name, variables, retry_ambiguous=idempotent)

    def _execute(
        self,
        name: str,
        variables: Mapping[str, Any],
        *,
        retry_ambiguous: bool = True,
        user_errors_at: tuple[str, ...] | None = None,
        retry_user_codes: frozenset[str] = frozenset(),
    ) -> Answer:
        doc = load_document(name)
        # Encoded once: every retry sends these exact bytes (Shopify compares an idempotent
        # retry's parameters with the first request's).
        body = json.dumps(
            {"query": doc.text, "variables": dict(variables), "operationName": doc.operation_name},
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode("utf-8")
        record = _CallBuilder(doc.operation_name, self.url, body, datetime.now(UTC))
        cost_guess = float(estimate_cost(doc, variables))
        pause = 0.0
        last_outcome = ""
        last_wait = 0.0
        for number in range(1, self._max_attempts + 1):
            waited = pause
            if pause > 0:
                self._sleep(pause)
            waited += self._wait_for_budget(cost_guess, record)
            started = time.perf_counter()
            try:
                response = self._session.post(
                    self.url, data=body, headers=self._headers, timeout=self._timeout
                )
            except (requests.Timeout, requests.ConnectionError) as exc:
                latency = time.perf_counter() - started
                never_sent = _never_sent(exc)
                if isinstance(exc, requests.Timeout) and not never_sent:
                    outcome = "timeout"
                else:
                    outcome = "connect_error" if never_sent else "connection_error"
                if never_sent:
                    self._throttle.refund(cost_guess, 0)
                record.attempts.append(
                    Attempt(number, outcome, None, latency, waited, None, repr(exc))
                )
                last_outcome = outcome
                if not never_sent and not retry_ambiguous:
                    raise self._fail(
                        ShopifyUnavailable(
                            f"{doc.operation_name}: {outcome}, the mutation may have been applied",
                            maybe_applied=True,
                            code=outcome.upper(),
                        ),
                        record,
                    ) from exc
                pause = self._backoff(number)
                continue
            except requests.RequestException as exc:
                record.attempts.append(
                    Attempt(
                        number,
                        "client_error",
                        None,
                        time.perf_counter() - started,
                        waited,
                        None,
                        repr(exc),
                    )
                )
                raise self._fail(
                    ShopifyError(f"{doc.operation_name}: {exc}", code="REQUEST"), record
                ) from exc

            latency = time.perf_counter() - started
            raw = response.content
            status = response.status_code
            record.api_version = response.headers.get("X-Shopify-API-Version")
            record.deprecation = response.headers.get("X-Shopify-API-Deprecated-Reason")
            payload = _json_or_none(raw)
            cost = Cost.from_payload(payload)
            if cost is not None:
                record.cost = cost
                if cost.throttle_status is not None:
                    self._throttle.observe(cost.throttle_status)
                elif cost.actual is not None:
                    self._throttle.refund(cost_guess, cost.actual)
                if cost.requested:
                    cost_guess = cost.requested

            attempt = functools.partial(_add_attempt, record, number, status, latency, waited, raw)
            errors = payload.get("errors") if isinstance(payload, dict) else None
            codes = _error_codes(errors)
            # REST-style answers (some 4xx/429) carry a bare string instead of a list.
            error_list = errors if isinstance(errors, list) else ()

            if status == 429 or "THROTTLED" in codes:
                outcome = "rate_limited" if status == 429 else "throttled"
                attempt(outcome, "THROTTLED")
                wait = _throttled_wait(cost)
                if status == 429:
                    wait = _retry_after(response.headers.get("Retry-After"), wait)
                if wait is None or wait <= 0:
                    wait = self._backoff(number)
                last_outcome, last_wait = outcome, wait
                if wait > self._max_wait:
                    raise self._fail(
                        ShopifyThrottled(
                            f"{doc.operation_name}: throttled for {wait:.1f}s",
                            retry_after=wait,
                        ),
                        record,
                    )
                pause = wait
                continue

            if status in (401, 403) or codes & _AUTH_GRAPHQL_CODES:
                attempt("auth_error", _first_message(errors) or f"HTTP {status}")
                code = next(iter(codes & _AUTH_GRAPHQL_CODES), f"HTTP_{status}")
                raise self._fail(
                    ShopifyAuthError(
                        f"{doc.operation_name}: {_first_message(errors) or f'HTTP {status}'}",
                        code=code,
                        errors=error_list,
                    ),
                    record,
                )

            if status in (402, 423):
                # Shop frozen for billing (402) or locked (423): no retry inside this call helps.
                attempt("client_error", f"HTTP {status}")
                raise self._fail(
                    ShopifyUnavailable(
                        f"{doc.operation_name}: shop unavailable (HTTP {status})",
                        code=f"HTTP_{status}",
                    ),
                    record,
                )

            no_data = not errors and not isinstance(_dig(payload, ("data",)), dict)
            server_side = status >= 500 or (
                200 <= status < 300 and (no_data or bool(codes & _RETRY_ON_GRAPHQL_CODES))
            )
            if server_side:
                outcome = "server_error" if status >= 500 or codes else "bad_answer"
                attempt(outcome, _first_message(errors) or f"HTTP {status}")
                last_outcome = outcome
                if not retry_ambiguous:
                    raise self._fail(
                        ShopifyUnavailable(
                            f"{doc.operation_name}: HTTP {status}, the mutation may have been "
                            "applied",
                            maybe_applied=True,
                            code=f"HTTP_{status}",
                        ),
                        record,
                    )
                pause = self._backoff(number)
                continue

            if not 200 <= status < 300:
                attempt("client_error", f"HTTP {status}")
                raise self._fail(
                    ShopifyQueryError(
                        f"{doc.operation_name}: HTTP {status}: {raw[:300]!r}",
                        code=f"HTTP_{status}",
                    ),
                    record,
                )

            if errors:
                message = _first_message(errors) or "GraphQL error"
                attempt("graphql_error", message)
                raise self._fail(
                    ShopifyQueryError(
                        f"{doc.operation_name}: {message}",
                        code=next(iter(sorted(codes)), "GRAPHQL_ERROR"),
                        errors=error_list,
                    ),
                    record,
                )

            data = payload["data"]
            if user_errors_at and retry_user_codes:
                found = {e.get("code") for e in (_dig(data, user_errors_at) or [])}
                if found and found <= retry_user_codes:
                    # IDEMPOTENCY_CONCURRENT_REQUEST: our own first request still runs under
                    # this key; asking again with the same key returns its result.
                    attempt("user_error_retry", ",".join(sorted(str(c) for c in found)))
                    last_outcome = "user_error_retry"
                    pause = self._backoff(number)
                    continue

            attempt("ok")
            call = record.build()
            self._report(call)
            return Answer(data=data, call=call)

        if last_outcome in ("throttled", "rate_limited"):
            raise self._fail(
                ShopifyThrottled(
                    f"{doc.operation_name}: still throttled after {self._max_attempts} attempts",
                    retry_after=last_wait,
                ),
                record,
            )
        maybe_applied = any(a.outcome not in _NOT_EXECUTED for a in record.attempts)
        raise self._fail(
            ShopifyUnavailable(
                f"{doc.operation_name}: {last_outcome} after {self._max_attempts} attempts",
                maybe_applied=maybe_applied and doc.operation.operation == OperationType.MUTATION,
                code=last_outcome.upper(),
            ),
            record,
        )

    def _wait_for_budget(self, cost: float, record: _CallBuilder) -> float:
        waited = 0.0
        wait = 0.0
        # Bounded so a throttle whose clock does not move (or a broken one) cannot spin forever.
        for _ in range(20):
            wait = self._throttle.acquire(cost)
            if wait <= 0:
                return waited
            if wait > self._max_wait:
                break
            self._sleep(wait)
            waited += wait
        raise self._fail(
            ShopifyThrottled(
                f"{record.operation}: the shared budget needs {wait:.1f}s", retry_after=wait
            ),
            record,
        )

    def _backoff(self, attempt: int) -> float:
        # Equal jitter: at least half the exponential step, so retries never stampede at 0.
        step = min(self._backoff_cap, self._backoff_base * 2 ** (attempt - 1))
        return step / 2 + self._rng.uniform(0, step / 2)

    def _fail(self, error: ShopifyError, record: _CallBuilder) -> ShopifyError:
        error.call = record.build()
        self._report(error.call)
        return error

    def _report(self, call: CallRecord) -> None:
        if self._on_call is not None:
            self._on_call(call)

    def _paginate(
        self,
        name: str,
        make_variables: Callable[[int, str | None], Mapping[str, Any]],
        connection: tuple[str, ...],
        first: int,
        after: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        while True:
            try:
                answer = self._execute(name, make_variables(first, after))
            except ShopifyQueryError as exc:
                # Our estimate is not Shopify's: a page it still finds too dear is halved.
                if exc.code == "MAX_COST_EXCEEDED" and first > 1:
                    first = max(1, first // 2)
                    continue
                raise
            page = _dig(answer.data, connection)
            if not isinstance(page, dict):
                return
            yield from page.get("nodes") or []
            info = page.get("pageInfo") or {}
            if not info.get("hasNextPage") or not info.get("endCursor"):
                return
            after = info["endCursor"]

    # ---- operations -----------------------------------------------------------------------

    def set_available(
        self,
        quantities: Sequence[SetQuantity],
        *,
        idempotency_key: str,
        reference_uri: str,
        reason: str = "correction",
    ) -> SetResult:
        """Compare-and-set `available` for up to 250 item/location pairs (invariant I6).

        Idempotency: `idempotency_key` identifies this push; persist it before calling and pass
        the same key when re-sending the same push, a fresh one for a new push. A stale
        compare comes back as `stale=True`, never raised: re-read, then recompute.
        """
        variables = set_quantities_variables(
            quantities, idempotency_key=idempotency_key, reference_uri=reference_uri, reason=reason
        )
        answer = self._execute(
            "inventory_set_quantities",
            variables,
            retry_ambiguous=True,
            user_errors_at=("inventorySetQuantities", "userErrors"),
            retry_user_codes=frozenset({"IDEMPOTENCY_CONCURRENT_REQUEST"}),
        )
        payload = answer.data.get("inventorySetQuantities")
        if not isinstance(payload, dict):
            raise ShopifyError(
                "inventorySetQuantities returned no payload", call=answer.call, code="NO_PAYLOAD"
            )
        return set_result_from_payload(payload, answer.call)

    def read_levels(
        self,
        inventory_item_ids: Sequence[str],
        location_id: str,
        *,
        names: Sequence[str] = QUANTITY_NAMES,
    ) -> dict[str, Level]:
        """Levels of many items at one location. Items that are unknown or not stocked at the
        location are absent from the result."""
        ids = list(dict.fromkeys(inventory_item_ids))
        if not ids:
            return {}
        doc = load_document("inventory_levels")
        batch = largest_batch(
            doc,
            lambda n: inventory_levels_variables(["gid://shopify/InventoryItem/0"] * n, "", names),
            MAX_INPUT_ITEMS,
        )
        levels: dict[str, Level] = {}
        start = 0
        while start < len(ids):
            chunk = ids[start : start + batch]
            try:
                answer = self._execute(
                    "inventory_levels", inventory_levels_variables(chunk, location_id, names)
                )
            except ShopifyQueryError as exc:
                if exc.code == "MAX_COST_EXCEEDED" and batch > 1:
                    batch = max(1, batch // 2)
                    continue
                raise
            for node in answer.data.get("nodes") or []:
                if not node or not node.get("id") or not node.get("inventoryLevel"):
                    continue
                levels[node["id"]] = level_from_graphql(node["inventoryLevel"])
            start += len(chunk)
        return levels

    def iter_variants(self, query: str | None = None) -> Iterator[Variant]:
        doc = load_document("product_variants")
        first = largest_batch(
            doc, lambda n: product_variants_variables(n, None, query), MAX_PAGE_SIZE
        )
        for node in self._paginate(
            "product_variants",
            lambda size, after: product_variants_variables(size, after, query),
            ("productVariants",),
            first,
        ):
            yield variant_from_graphql(node)

    def variants_by_sku(self, skus: Iterable[str]) -> dict[str, list[Variant]]:
        """Every variant whose SKU equals each wanted SKU exactly (case-sensitive).

        Shopify's search matches loosely and SKUs are not unique, so each wanted SKU maps to a
        list that may be empty or hold several variants (a mapping conflict to show an operator).
        """
        wanted = list(dict.fromkeys(s for s in skus if s))
        found: dict[str, list[Variant]] = {sku: [] for sku in wanted}
        seen: set[str] = set()
        for start in range(0, len(wanted), SKUS_PER_SEARCH):
            chunk = wanted[start : start + SKUS_PER_SEARCH]
            for variant in self.iter_variants(sku_search_query(chunk)):
                if variant.sku in found and variant.variant_gid not in seen:
                    seen.add(variant.variant_gid)
                    found[variant.sku].append(variant)
        return found

    def locations(self, *, include_inactive: bool = False) -> list[ShopLocation]:
        doc = load_document("locations")
        first = largest_batch(doc, lambda n: locations_variables(n), MAX_PAGE_SIZE)
        return [
            location_from_graphql(node)
            for node in self._paginate(
                "locations",
                lambda size, after: locations_variables(
                    size, after, include_inactive=include_inactive
                ),
                ("locations",),
                first,
            )
        ]

    def iter_orders_updated_since(self, since: datetime) -> Iterator[dict[str, Any]]:
        """Orders updated after `since` (oldest first), each in the webhook payload's shape.

        Pass `since` a little before the last poll's newest `updated_at`: the filter is strict
        and ingestion deduplicates on order id + updated_at anyway.
        """
        doc = load_document("orders_updated_since")
        first = largest_batch(doc, lambda n: orders_variables(since, n), MAX_PAGE_SIZE)
        for node in self._paginate(
            "orders_updated_since",
            lambda size, after: orders_variables(since, size, after),
            ("orders",),
            first,
        ):
            yield order_from_graphql(self._with_all_lines(node))

    def get_order(self, order_gid: str) -> dict[str, Any] | None:
        """One order in the webhook payload's shape, or None when Shopify does not know it."""
        doc = load_document("order")
        first = largest_batch(doc, lambda n: order_variables(order_gid, line_items_first=n), 250)
        answer = self._execute("order", order_variables(order_gid, line_items_first=first))
        node = answer.data.get("order")
        return order_from_graphql(self._with_all_lines(node)) if node else None

    def _with_all_lines(self, node: dict[str, Any]) -> dict[str, Any]:
        lines = node.get("lineItems") or {}
        info = lines.get("pageInfo") or {}
        if not info.get("hasNextPage"):
            return node
        rest = list(self._more_line_items(node["id"], info.get("endCursor")))
        return {**node, "lineItems": {"nodes": [*(lines.get("nodes") or []), *rest]}}

    def _more_line_items(self, order_gid: str, after: str | None) -> Iterator[dict[str, Any]]:
        doc = load_document("order_line_items")
        first = largest_batch(
            doc, lambda n: order_line_items_variables(order_gid, n), MAX_PAGE_SIZE
        )
        yield from self._paginate(
            "order_line_items",
            lambda size, page_after: order_line_items_variables(order_gid, size, page_after),
            ("order", "lineItems"),
            first,
            after,
        )

    def create_fulfillment(
        self, order_gid: str, tracking: Tracking | None, notify_customer: bool = False
    ) -> FulfillmentResult:
        """Fulfil everything still open on an order, one fulfillment per assigned location.

        Not idempotent on Shopify's side: an ambiguous failure raises
        `ShopifyUnavailable(maybe_applied=True)`; calling again is safe because fulfilled
        fulfillment orders are no longer open (the result is then empty).
        """
        answer = self._execute(
            "order_fulfillment_orders", order_fulfillment_orders_variables(order_gid)
        )
        calls = [answer.call]
        order = answer.data.get("order")
        if not order:
            raise ShopifyUserError(
                f"order {order_gid} not found",
                user_errors=[UserError("NOT_FOUND", ("id",), "Order does not exist")],
                call=answer.call,
            )
        groups: dict[str | None, list[str]] = {}
        for fo in (order.get("fulfillmentOrders") or {}).get("nodes") or []:
            if not _can_fulfil(fo):
                continue
            location = _dig(fo, ("assignedLocation", "location", "id"))
            groups.setdefault(location, []).append(fo["id"])

        created = []
        for location, fo_ids in groups.items():
            result = self._execute(
                "fulfillment_create",
                fulfillment_create_variables(fo_ids, tracking, notify_customer=notify_customer),
                retry_ambiguous=False,
            )
            calls.append(result.call)
            payload = result.data.get("fulfillmentCreate") or {}
            errors = [UserError.from_json(e) for e in payload.get("userErrors") or []]
            fulfillment = payload.get("fulfillment")
            if errors or not fulfillment:
                raise ShopifyUserError(
                    "fulfillmentCreate: "
                    + ("; ".join(e.message for e in errors) or "no fulfillment returned"),
                    user_errors=errors,
                    call=result.call,
                )
            created.append(
                CreatedFulfillment(
                    id=fulfillment["id"],
                    status=fulfillment.get("status") or "",
                    location_id=location,
                    fulfillment_order_ids=tuple(fo_ids),
                )
            )
        return FulfillmentResult(fulfillments=tuple(created), calls=tuple(calls))

    def cancel_order(
        self,
        order_gid: str,
        reason: str = "OTHER",
        restock: bool = True,
        notify_customer: bool = False,
        staff_note: str | None = None,
    ) -> CancelResult:
        """Cancel an order (Shopify runs it as a job). Not idempotent on Shopify's side; an
        ambiguous failure raises `ShopifyUnavailable(maybe_applied=True)`."""
        answer = self._execute(
            "order_cancel",
            order_cancel_variables(
                order_gid,
                reason=reason,
                restock=restock,
                notify_customer=notify_customer,
                staff_note=staff_note,
            ),
            retry_ambiguous=False,
        )
        payload = answer.data.get("orderCancel") or {}
        errors = [UserError.from_json(e) for e in payload.get("orderCancelUserErrors") or []]
        if errors:
            raise ShopifyUserError(
                "orderCancel: " + "; ".join(e.message for e in errors),
                user_errors=errors,
                call=answer.call,
            )
        job = payload.get("job") or {}
        return CancelResult(job_id=job.get("id"), job_done=bool(job.get("done")), call=answer.call)


def _can_fulfil(fo: Mapping[str, Any]) -> bool:
    if fo.get("status") not in ("OPEN", "IN_PROGRESS"):
        return False
    actions = fo.get("supportedActions")
    if actions is not None and not any(a.get("action") == "CREATE_FULFILLMENT" for a in actions):
        return False
    lines = fo.get("lineItems")
    if lines and not (lines.get("pageInfo") or {}).get("hasNextPage"):
        return any((line.get("remainingQuantity") or 0) > 0 for line in lines.get("nodes") or [])
    return True


def _add_attempt(
    record: _CallBuilder,
    number: int,
    status: int | None,
    latency: float,
    waited: float,
    raw: bytes | None,
    outcome: str,
    error: str | None = None,
) -> None:
    record.attempts.append(Attempt(number, outcome, status, latency, waited, raw, error))


def _json_or_none(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _error_codes(errors: Any) -> set[str]:
    if not isinstance(errors, list):
        return set()
    codes = set()
    for error in errors:
        if isinstance(error, dict):
            code = (error.get("extensions") or {}).get("code")
            if code:
                codes.add(str(code))
    return codes


def _first_message(errors: Any) -> str | None:
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("message") or "") or None
    if isinstance(errors, str):  # REST-style {"errors": "..."} on some 4xx/429 answers
        return errors
    return None


def _throttled_wait(cost: Cost | None) -> float | None:
    if cost is None or cost.requested is None or cost.throttle_status is None:
        return None
    status = cost.throttle_status
    if status.restore_rate <= 0:
        return None
    wait = (cost.requested - status.currently_available) / status.restore_rate
    return wait if wait > 0 else None


def _retry_after(header: str | None, fallback: float | None) -> float | None:
    if not header:
        return fallback
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return fallback
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


_NO_CONNECTION = ("NewConnectionError", "NameResolutionError", "ConnectTimeoutError")


def _never_sent(exc: BaseException) -> bool:
    """True when the request cannot have reached Shopify: no connection was ever made.

    requests wraps urllib3's error as ConnectionError(MaxRetryError(reason=...)); a reset or a
    read timeout after connecting is ambiguous and does not count.
    """
    if isinstance(exc, requests.ConnectTimeout):
        return True
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if type(current).__name__ in _NO_CONNECTION:
            return True
        linked = [*current.args, getattr(current, "reason", None), current.__cause__]
        pending.extend(e for e in linked if isinstance(e, BaseException))
    return False
