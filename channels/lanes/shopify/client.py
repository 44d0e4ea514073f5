"""Shopify Admin GraphQL client (API 2026-04) for the Shopify channel lane.

A plain module: no Django models, no database. Celery tasks and services build a
`ShopifyClient` from a channel's credentials and store what it reports (every call returns a
`CallRecord` with the raw request body, raw answer, attempts, cost, HTTP status and latency).

The package, one thing per module: `errors` (typed errors, retryable or not), `values` (what
the client takes and returns), `documents` (the GraphQL documents and their cost), `variables`
and `parsers` (pure builders and readers), `answers` (what each answer means), and this
module: the client's operations. Every public name of those modules is importable from here.

Retry rules (all attempts share `max_attempts`; the request body is encoded once, so every retry
sends byte-identical bytes, including the idempotency key). The shared loop in
`channels.lanes.calls` runs them; `answers` classifies each answer:

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

import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import requests

from channels.lanes.calls import Attempt, CallRecord, RetryPolicy, call_with_retries
from channels.lanes.throttle import NoThrottle, Throttle

from .answers import ShopifyExchange
from .documents import (
    COST_TARGET,
    DOCUMENTS_DIR,
    MAX_QUERY_COST,
    Document,
    document_names,
    estimate_cost,
    largest_batch,
    load_document,
)
from .errors import (
    ShopifyAuthError,
    ShopifyError,
    ShopifyQueryError,
    ShopifyThrottled,
    ShopifyUnavailable,
    ShopifyUserError,
)
from .parsers import (
    dig,
    legacy_id,
    level_from_graphql,
    location_from_graphql,
    order_from_graphql,
    order_line_from_graphql,
    set_result_from_payload,
    variant_from_graphql,
)
from .values import (
    Answer,
    CancelResult,
    Cost,
    CreatedFulfillment,
    FulfillmentResult,
    InventoryChange,
    Level,
    SetQuantity,
    SetResult,
    ShopLocation,
    Tracking,
    UserError,
    Variant,
)
from .variables import (
    FULFILLMENT_ORDER_LINES_PAGE,
    FULFILLMENT_ORDERS_PAGE,
    MAX_INPUT_ITEMS,
    MAX_PAGE_SIZE,
    ORDER_CANCEL_REASONS,
    ORDER_LINE_ITEMS_PAGE,
    QUANTITY_NAMES,
    fulfillment_create_variables,
    inventory_levels_variables,
    locations_variables,
    order_cancel_variables,
    order_fulfillment_orders_variables,
    order_line_items_variables,
    order_variables,
    orders_search_query,
    orders_variables,
    product_variants_variables,
    search_value,
    set_quantities_variables,
    sku_search_query,
)

__all__ = [
    "API_VERSION",
    "COST_TARGET",
    "DOCUMENTS_DIR",
    "FULFILLMENT_ORDERS_PAGE",
    "FULFILLMENT_ORDER_LINES_PAGE",
    "MAX_INPUT_ITEMS",
    "MAX_PAGE_SIZE",
    "MAX_QUERY_COST",
    "ORDER_CANCEL_REASONS",
    "ORDER_LINE_ITEMS_PAGE",
    "QUANTITY_NAMES",
    "SKUS_PER_SEARCH",
    "Answer",
    "Attempt",
    "CallRecord",
    "CancelResult",
    "Cost",
    "CreatedFulfillment",
    "Document",
    "FulfillmentResult",
    "InventoryChange",
    "Level",
    "SetQuantity",
    "SetResult",
    "ShopLocation",
    "ShopifyAuthError",
    "ShopifyClient",
    "ShopifyError",
    "ShopifyQueryError",
    "ShopifyThrottled",
    "ShopifyUnavailable",
    "ShopifyUserError",
    "Tracking",
    "UserError",
    "Variant",
    "document_names",
    "estimate_cost",
    "fulfillment_create_variables",
    "inventory_levels_variables",
    "largest_batch",
    "legacy_id",
    "level_from_graphql",
    "load_document",
    "location_from_graphql",
    "locations_variables",
    "order_cancel_variables",
    "order_from_graphql",
    "order_fulfillment_orders_variables",
    "order_line_from_graphql",
    "order_line_items_variables",
    "order_variables",
    "orders_search_query",
    "orders_variables",
    "product_variants_variables",
    "search_value",
    "set_quantities_variables",
    "set_result_from_payload",
    "sku_search_query",
    "variant_from_graphql",
]

API_VERSION = "2026-04"
SKUS_PER_SEARCH = 50


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
        self._policy = RetryPolicy(
            max_attempts=max_attempts,
            max_wait=max_wait,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
            sleep=sleep,
            rng=rng if rng is not None else random.Random(),
            report=self._report,
        )
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
        self._session = session if session is not None else requests.Session()
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
        exchange = ShopifyExchange(
            load_document(name),
            variables,
            url=self.url,
            post=self._post,
            throttle=self._throttle,
            policy=self._policy,
            retry_ambiguous=retry_ambiguous,
            user_errors_at=user_errors_at,
            retry_user_codes=retry_user_codes,
        )
        data, call = call_with_retries(exchange, self._policy)
        return Answer(data=data, call=call)

    def _post(self, body: bytes) -> requests.Response:
        return self._session.post(self.url, data=body, headers=self._headers, timeout=self._timeout)

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
            page = dig(answer.data, connection)
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
        self,
        order_gid: str,
        tracking: Tracking | None,
        notify_customer: bool = False,
        *,
        lines: Mapping[str, int] | None = None,
    ) -> FulfillmentResult:
        """Fulfil an order, one fulfillment per assigned location: everything still open, or
        only `lines` (order line id, legacy or gid -> items) for a partial shipment.

        Not idempotent on Shopify's side: an ambiguous failure raises
        `ShopifyUnavailable(maybe_applied=True)`. Calling again is safe: with `lines` and a
        tracking number, a fulfillment already made with that number and that many items is
        answered instead of a second one; without `lines`, fulfilled fulfillment orders are
        no longer open (the result is then empty). Lines that are no longer open (fulfilled or
        cancelled meanwhile) raise ShopifyUserError before anything is sent.
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
        if lines is not None:
            earlier = _earlier_fulfillment(order, tracking, sum(lines.values()))
            if earlier is not None:
                return FulfillmentResult(fulfillments=(earlier,), calls=tuple(calls))
            plan = _plan_lines(order, lines, answer.call)
        else:
            plan = _plan_open(order)
        created = []
        for location, by_fo in plan.items():
            fo_ids = list(by_fo)
            line_items = None if lines is None else {fo: by_fo[fo] or [] for fo in fo_ids}
            result = self._execute(
                "fulfillment_create",
                fulfillment_create_variables(
                    fo_ids, tracking, notify_customer=notify_customer, line_items=line_items
                ),
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


# A fulfillment in these states never shipped: it is no earlier confirmation of ours.
_NOT_SHIPPED = ("CANCELLED", "ERROR", "FAILURE")


def _earlier_fulfillment(
    order: Mapping[str, Any], tracking: Tracking | None, items: int
) -> CreatedFulfillment | None:
    """A fulfillment of the order already carrying this tracking number and this many items:
    the same shipment confirmed before an answer was lost."""
    if tracking is None or not tracking.number:
        return None
    for fulfillment in order.get("fulfillments") or ():
        numbers = {info.get("number") for info in fulfillment.get("trackingInfo") or ()}
        if (
            tracking.number in numbers
            and fulfillment.get("status") not in _NOT_SHIPPED
            and fulfillment.get("totalQuantity") == items
        ):
            return CreatedFulfillment(
                id=fulfillment["id"],
                status=fulfillment.get("status") or "",
                location_id=None,
                fulfillment_order_ids=(),
            )
    return None


def _plan_open(order: Mapping[str, Any]) -> dict[str | None, dict[str, None]]:
    """Every open fulfillment order by location, to fulfil what remains on each."""
    plan: dict[str | None, dict[str, None]] = {}
    for fo in (order.get("fulfillmentOrders") or {}).get("nodes") or []:
        if _can_fulfil(fo):
            plan.setdefault(dig(fo, ("assignedLocation", "location", "id")), {})[fo["id"]] = None
    return plan


def _plan_lines(
    order: Mapping[str, Any], lines: Mapping[str, int], call: CallRecord
) -> dict[str | None, dict[str, list[tuple[str, int]]]]:
    """Where the wanted items are open: location -> fulfillment order -> [(its line, items)],
    each order line taken from its open fulfillment orders in Shopify's order. Raises
    ShopifyUserError (nothing sent) when a line has fewer items open than wanted."""
    wanted = {str(legacy_id(key) if str(key).startswith("gid://") else key): items
              for key, items in lines.items()}  # fmt: skip
    plan: dict[str | None, dict[str, list[tuple[str, int]]]] = {}
    for fo in (order.get("fulfillmentOrders") or {}).get("nodes") or []:
        if not _can_fulfil(fo):
            continue
        location = dig(fo, ("assignedLocation", "location", "id"))
        for fo_line in (fo.get("lineItems") or {}).get("nodes") or []:
            line_gid = dig(fo_line, ("lineItem", "id"))
            line_id = str(legacy_id(line_gid)) if line_gid else ""
            take = min(wanted.get(line_id, 0), fo_line.get("remainingQuantity") or 0)
            if take > 0:
                plan.setdefault(location, {}).setdefault(fo["id"], []).append((fo_line["id"], take))
                wanted[line_id] -= take
    short = {line_id: items for line_id, items in wanted.items() if items > 0}
    if short:
        message = "; ".join(
            f"line {line_id}: {items} item(s) more than Shopify has open"
            for line_id, items in sorted(short.items())
        )
        raise ShopifyUserError(
            f"fulfillmentCreate: {message}",
            user_errors=[UserError("NOT_OPEN", ("lineItems",), message)],
            call=call,
        )
    return plan


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
