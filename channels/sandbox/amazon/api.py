"""The SP-API operations the sandbox serves: one handler per official operation.

A handler gets the authenticated seller, the matched operation (with its path parameters), the
query (every key a list of raw values) and the parsed JSON body, all already validated against
the model, and returns (HTTP status, JSON body or None). Handlers run with the sandbox lock held.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from . import feeds, payloads, reports
from .clock import iso, parse_iso
from .spec import Match

if TYPE_CHECKING:
    from .model import AmazonSandbox

Answer = tuple[int, dict | None]
TWO_MINUTES = timedelta(minutes=2)


@dataclass
class Call:
    sandbox: AmazonSandbox
    seller_id: str
    match: Match
    query: dict[str, list[str]]
    body: dict | None
    base_url: str

    @property
    def path(self) -> dict[str, str]:
        return self.match.path_params

    def array(self, name: str) -> list[str]:
        values: list[str] = []
        for value in self.query.get(name, []):
            values += [v for v in value.split(",") if v]
        return values

    def one(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def integer(self, name: str, default: int) -> int:
        value = self.one(name)
        return int(value) if value is not None else default


def _not_found(what: str) -> Answer:
    return 404, payloads.errors("NotFound", f"{what} was not found.")


def _bad(message: str) -> Answer:
    return 400, payloads.errors("InvalidInput", message)


def _forbidden() -> Answer:
    return 403, payloads.errors(
        "Unauthorized",
        "Access to requested resource is denied.",
        "The access token you provided is not authorized for this seller.",
    )


def _own_seller(call: Call) -> bool:
    return call.path.get("sellerId") == call.seller_id


def _page_token(call: Call, state: dict, ttl: float | None = None) -> str:
    token = uuid.uuid4().hex + uuid.uuid4().hex[:12]
    if ttl is not None:
        state["expires"] = call.sandbox.config.clock() + ttl
    state["seller_id"] = call.seller_id
    call.sandbox.page_tokens[token] = state
    return token


def _take_token(call: Call, token: str, kind: str) -> dict | None:
    state = call.sandbox.page_tokens.get(token)
    if state is None or state.get("kind") != kind or state["seller_id"] != call.seller_id:
        return None
    if "expires" in state and state["expires"] <= call.sandbox.config.clock():
        return None
    return state


# Listings Items 2021-08-01 ------------------------------------------------------------------------
def get_listings_item(call: Call) -> Answer:
    if not _own_seller(call):
        return _forbidden()
    sandbox = call.sandbox
    sku = call.path["sku"]
    included = set(call.array("includedData") or ["summaries"])
    listings = [
        sandbox.listings[(call.seller_id, sku, mp)]
        for mp in call.array("marketplaceIds")
        if (call.seller_id, sku, mp) in sandbox.listings
    ]
    if not listings:
        return 404, payloads.errors(
            "NOT_FOUND", f"SKU '{sku}' not found in marketplace(s) {call.array('marketplaceIds')}."
        )
    return 200, payloads.listing_item(sandbox, listings, included, call.one("issueLocale"))


def patch_listings_item(call: Call) -> Answer:
    if not _own_seller(call):
        return _forbidden()
    body = call.body or {}
    preview = call.one("mode") == "VALIDATION_PREVIEW"
    answer = call.sandbox.submit_patches(
        call.seller_id,
        call.path["sku"],
        call.array("marketplaceIds"),
        body["productType"],
        body["patches"],
        preview=preview,
    )
    return 200, _submission(call, answer, preview)


def _submission(call: Call, answer: dict, preview: bool) -> dict:
    included = set(call.array("includedData") or ["issues"])
    response: dict = {
        "sku": call.path["sku"],
        "status": answer["status"],
        "submissionId": answer["submission_id"],
    }
    if "issues" in included:
        response["issues"] = answer["issues"]
    if "identifiers" in included and preview:
        response["identifiers"] = [
            {"marketplaceId": mp, "asin": listing.asin}
            for mp in call.array("marketplaceIds")
            if (listing := call.sandbox.listings.get((call.seller_id, call.path["sku"], mp)))
            and listing.asin
        ]
    return response


def put_listings_item(call: Call) -> Answer:
    """Modelled as creating the listing if needed, then replacing each attribute given."""
    if not _own_seller(call):
        return _forbidden()
    sandbox = call.sandbox
    body = call.body or {}
    sku = call.path["sku"]
    preview = call.one("mode") == "VALIDATION_PREVIEW"
    attributes = body.get("attributes") or {}
    marketplace_ids = call.array("marketplaceIds")
    if not preview:
        for marketplace_id in marketplace_ids:
            if (call.seller_id, sku, marketplace_id) in sandbox.listings:
                continue
            channel = "DEFAULT"
            for value in attributes.get("fulfillment_availability") or []:
                channel = value.get("fulfillment_channel_code") or channel
            names = attributes.get("item_name") or [{}]
            suggested = attributes.get("merchant_suggested_asin") or [{}]
            sandbox.add_listing(
                sku,
                seller_id=call.seller_id,
                marketplace_id=marketplace_id,
                channel=channel,
                quantity=0,
                asin=suggested[0].get("value"),
                product_type=body["productType"],
                title=names[0].get("value"),
            )
    patches = [
        {"op": "replace", "path": f"/attributes/{name}", "value": value}
        for name, value in attributes.items()
        if isinstance(value, list)
    ]
    answer = sandbox.submit_patches(
        call.seller_id,
        sku,
        marketplace_ids,
        body["productType"],
        patches,
        preview=preview,
        source="putListingsItem",
    )
    return 200, _submission(call, answer, preview)


def delete_listings_item(call: Call) -> Answer:
    if not _own_seller(call):
        return _forbidden()
    sandbox = call.sandbox
    sku = call.path["sku"]
    for marketplace_id in call.array("marketplaceIds"):
        sandbox.listings.pop((call.seller_id, sku, marketplace_id), None)
    return 200, {"sku": sku, "status": "ACCEPTED", "submissionId": uuid.uuid4().hex, "issues": []}


def search_listings_items(call: Call) -> Answer:
    if not _own_seller(call):
        return _forbidden()
    sandbox = call.sandbox
    if call.array("identifiers") and not call.one("identifiersType"):
        return _bad("identifiersType is required when identifiers are given.")
    page_size = call.integer("pageSize", 10)
    token = call.one("pageToken")
    groups = _listing_groups(call)
    groups = _listing_groups_within_dates(call, groups)
    groups = _listing_groups_with_status(call, groups)
    sort_by = call.one("sortBy", "lastUpdatedDate")
    key = {
        "sku": lambda g: g[0].sku,
        "createdDate": lambda g: (g[0].created, g[0].sku),
        "lastUpdatedDate": lambda g: (max(x.updated for x in g), g[0].sku),
    }[sort_by]
    groups.sort(key=key, reverse=call.one("sortOrder", "DESC") == "DESC")
    offset = 0
    if token:
        state = _take_token(call, token, "listings")
        if state is None:
            return _bad("The pageToken is invalid or expired.")
        offset = state["offset"]
    page = groups[offset : offset + page_size]
    included = set(call.array("includedData") or ["summaries"])
    response: dict = {
        "numberOfResults": len(groups),
        "items": [
            payloads.listing_item(sandbox, group, included, call.one("issueLocale"))
            for group in page
        ],
    }
    pagination: dict = {}
    if offset + page_size < len(groups):
        pagination["nextToken"] = _page_token(
            call, {"kind": "listings", "offset": offset + page_size}
        )
    if offset > 0:
        pagination["previousToken"] = _page_token(
            call, {"kind": "listings", "offset": max(0, offset - page_size)}
        )
    if pagination:
        response["pagination"] = pagination
    return 200, response


def _listing_groups(call: Call) -> list[list]:
    """The seller's listings in the asked marketplaces, one group per SKU, by identifier."""
    marketplace_ids = call.array("marketplaceIds")
    by_sku: dict[str, list] = {}
    for (seller_id, sku, marketplace_id), listing in call.sandbox.listings.items():
        if seller_id == call.seller_id and marketplace_id in marketplace_ids:
            by_sku.setdefault(sku, []).append(listing)
    groups = list(by_sku.values())
    identifiers = call.array("identifiers")
    if identifiers:
        wanted = set(identifiers)
        field = {"SKU": "sku", "ASIN": "asin", "FNSKU": "fn_sku"}.get(
            call.one("identifiersType") or ""
        )
        if field is None:
            groups = []  # EAN/UPC/... are catalogue identifiers the sandbox does not model
        else:
            groups = [g for g in groups if any(getattr(x, field) in wanted for x in g)]
    return groups


def _listing_groups_within_dates(call: Call, groups: list[list]) -> list[list]:
    for name, attr, after in (
        ("createdAfter", "created", True),
        ("createdBefore", "created", False),
        ("lastUpdatedAfter", "updated", True),
        ("lastUpdatedBefore", "updated", False),
    ):
        bound = call.one(name)
        if bound:
            moment = parse_iso(bound)
            groups = [
                g
                for g in groups
                if (getattr(g[0], attr) >= moment if after else getattr(g[0], attr) <= moment)
            ]
    return groups


def _listing_groups_with_status(call: Call, groups: list[list]) -> list[list]:
    with_status = set(call.array("withStatus"))
    without_status = set(call.array("withoutStatus"))
    if not (with_status or without_status):
        return groups

    def statuses(group: list) -> set[str]:
        found = set()
        for listing in group:
            found.update(payloads.summary(call.sandbox, listing)["status"])
        return found

    return [g for g in groups if with_status <= statuses(g) and not (without_status & statuses(g))]


# Orders 2026-01-01 and v0 confirmShipment ---------------------------------------------------------
ORDER_FILTERS = (
    "createdAfter",
    "createdBefore",
    "lastUpdatedAfter",
    "lastUpdatedBefore",
    "fulfillmentStatuses",
    "marketplaceIds",
    "fulfilledBy",
)


@dataclass
class _OrderWindow:
    """The time range a first search of orders asks for, on creation or last update."""

    attr: str  # created | updated
    bound_name: str  # the answer's createdBefore | lastUpdatedBefore
    after: datetime
    before: datetime


@dataclass
class _OrderResults:
    """A search's result set, fixed when its first page is asked for, and the page offset."""

    order_ids: list[str]
    offset: int
    bound_name: str
    bound: str | None


def search_orders(call: Call) -> Answer:
    sandbox = call.sandbox
    now = sandbox.now()
    filters = {name: sorted(call.array(name)) for name in ORDER_FILTERS}
    included = set(call.array("includedData"))
    page_size = call.integer("maxResultsPerPage", 100)
    if not 1 <= page_size <= 100:
        return _bad("maxResultsPerPage must be between 1 and 100.")
    token = call.one("paginationToken")
    found = _resume_orders(call, token, filters) if token else _find_orders(call, filters, now)
    if not isinstance(found, _OrderResults):
        return found
    page = found.order_ids[found.offset : found.offset + page_size]
    response: dict = {
        "orders": [sandbox.order_json(sandbox.orders[oid], included) for oid in page],
        found.bound_name: found.bound,
    }
    if found.offset + page_size < len(found.order_ids):
        response["pagination"] = {
            "nextToken": _page_token(
                call,
                {
                    "kind": "orders",
                    "filters": filters,
                    "order_ids": found.order_ids,
                    "offset": found.offset + page_size,
                    "bound_name": found.bound_name,
                    "bound": found.bound,
                },
                ttl=sandbox.config.orders_token_ttl,
            )
        }
    return 200, response


def _resume_orders(call: Call, token: str, filters: dict) -> _OrderResults | Answer:
    state = _take_token(call, token, "orders")
    if state is None:
        return _bad("The paginationToken is invalid or expired.")
    # Amazon: every parameter but maxResultsPerPage and includedData must be repeated as is.
    if state["filters"] != filters:
        return _bad(
            "The paginationToken was issued for different parameters: repeat the original "
            "parameters (only maxResultsPerPage and includedData may change)."
        )
    return _OrderResults(state["order_ids"], state["offset"], state["bound_name"], state["bound"])


def _find_orders(call: Call, filters: dict, now: datetime) -> _OrderResults | Answer:
    window = _order_window(call, now)
    if not isinstance(window, _OrderWindow):
        return window
    attr = window.attr
    statuses = set(filters["fulfillmentStatuses"])
    marketplaces = set(filters["marketplaceIds"])
    fulfilled_by = set(filters["fulfilledBy"])
    matching = [
        order
        for order in call.sandbox.orders.values()
        if order.seller_id == call.seller_id
        and window.after <= getattr(order, attr) <= window.before
        and (not statuses or order.status in statuses)
        and (not marketplaces or order.marketplace_id in marketplaces)
        and (not fulfilled_by or order.fulfilled_by in fulfilled_by)
    ]
    matching.sort(key=lambda o: (getattr(o, attr), o.order_id))
    # The result set is fixed when the first page is asked for; later pages show the
    # orders' current state.
    return _OrderResults([o.order_id for o in matching], 0, window.bound_name, iso(window.before))


def _order_window(call: Call, now: datetime) -> _OrderWindow | Answer:
    created_after, updated_after = call.one("createdAfter"), call.one("lastUpdatedAfter")
    created_before, updated_before = call.one("createdBefore"), call.one("lastUpdatedBefore")
    if bool(created_after) == bool(updated_after):
        return _bad("Exactly one of createdAfter and lastUpdatedAfter is required.")
    if created_after and updated_before:
        return _bad("lastUpdatedBefore cannot be combined with createdAfter.")
    if updated_after and created_before:
        return _bad("createdBefore cannot be combined with lastUpdatedAfter.")
    after = parse_iso(created_after or updated_after)  # type: ignore[arg-type]
    before_raw = created_before or updated_before
    before = parse_iso(before_raw) if before_raw else now
    if before_raw:
        if before < after:
            name = "createdBefore" if created_before else "lastUpdatedBefore"
            return _bad(f"{name} must be equal to or after the matching After date.")
        if before > now - TWO_MINUTES:
            name = "createdBefore" if created_before else "lastUpdatedBefore"
            return _bad(f"{name} must be at least two minutes before the time of the request.")
    return _OrderWindow(
        attr="created" if created_after else "updated",
        bound_name="createdBefore" if created_after else "lastUpdatedBefore",
        after=after,
        before=before,
    )


def get_order(call: Call) -> Answer:
    order = call.sandbox.orders.get(call.path["orderId"])
    if order is None or order.seller_id != call.seller_id:
        return _not_found(f"Order {call.path['orderId']}")
    return 200, {"order": call.sandbox.order_json(order, set(call.array("includedData")))}


def confirm_shipment(call: Call) -> Answer:
    return call.sandbox.confirm_shipment(call.seller_id, call.path["orderId"], call.body or {})


# FBA inventory v1 ---------------------------------------------------------------------------------
INVENTORY_PAGE = 50


def get_inventory_summaries(call: Call) -> Answer:
    sandbox = call.sandbox
    marketplace_id = call.array("marketplaceIds")[0]
    if call.one("granularityId") != marketplace_id:
        return _bad("granularityId must be the marketplace in marketplaceIds.")
    details = call.one("details") == "true"
    token = call.one("nextToken")
    start = call.one("startDateTime")
    if token:
        state = _take_token(call, token, "inventory")
        if state is None:
            return _bad("The nextToken is invalid or has expired (tokens live 30 seconds).")
        offset, skus = state["offset"], state["skus"]
    else:
        offset = 0
        stocks = [
            s
            for s in sandbox.fba.values()
            if s.seller_id == call.seller_id and s.marketplace_id == marketplace_id
        ]
        if start:
            # With startDateTime, sellerSkus is ignored (Amazon's use case guide).
            moment = parse_iso(start)
            stocks = [s for s in stocks if s.updated >= moment]
        else:
            wanted = set(call.array("sellerSkus"))
            if call.one("sellerSku"):
                wanted.add(call.one("sellerSku"))  # type: ignore[arg-type]
            if wanted:
                stocks = [s for s in stocks if s.sku in wanted]
        skus = sorted(s.sku for s in stocks)
    page = skus[offset : offset + INVENTORY_PAGE]
    summaries = [
        payloads.inventory_summary(sandbox.fba[(call.seller_id, sku, marketplace_id)], details)
        for sku in page
        if (call.seller_id, sku, marketplace_id) in sandbox.fba
    ]
    response: dict = {
        "payload": {
            "granularity": {"granularityType": "Marketplace", "granularityId": marketplace_id},
            "inventorySummaries": summaries,
        }
    }
    if offset + INVENTORY_PAGE < len(skus):
        response["pagination"] = {
            "nextToken": _page_token(
                call,
                {"kind": "inventory", "offset": offset + INVENTORY_PAGE, "skus": skus},
                ttl=sandbox.config.inventory_token_ttl,
            )
        }
    return 200, response


# Feeds 2021-06-30 ---------------------------------------------------------------------------------
def create_feed_document(call: Call) -> Answer:
    document = call.sandbox.new_document(
        call.seller_id, "feed_input", (call.body or {})["contentType"]
    )
    return 201, {"feedDocumentId": document.document_id, "url": _document_url(call, document)}


def _document_url(call: Call, document) -> str:
    return f"{call.base_url}/_sandbox/documents/{document.token}"


def create_feed(call: Call) -> Answer:
    return call.sandbox.create_feed(call.seller_id, call.body or {})


def get_feed(call: Call) -> Answer:
    feed = call.sandbox.feeds.get(call.path["feedId"])
    if feed is None or feed.seller_id != call.seller_id:
        return _not_found(f"Feed {call.path['feedId']}")
    return 200, payloads.feed_json(feed)


def get_feeds(call: Call) -> Answer:
    return _listing_page(
        call,
        "feeds",
        call.sandbox.feeds.values(),
        "feedTypes",
        lambda f: f.feed_type,
        payloads.feed_json,
    )


def cancel_feed(call: Call) -> Answer:
    return feeds.cancel_feed(call.sandbox, call.seller_id, call.path["feedId"])


def get_feed_document(call: Call) -> Answer:
    return _document_answer(
        call, call.path["feedDocumentId"], "feedDocumentId", ("feed_input", "feed_result")
    )


def _document_answer(call: Call, document_id: str, id_field: str, kinds: tuple) -> Answer:
    document = call.sandbox.documents.get(document_id)
    if document is None or document.seller_id != call.seller_id or document.kind not in kinds:
        return _not_found(f"Document {document_id}")
    answer = {id_field: document.document_id, "url": _document_url(call, document)}
    if document.gzip:
        answer["compressionAlgorithm"] = "GZIP"
    return 200, answer


# Reports 2021-06-30 -------------------------------------------------------------------------------
def create_report(call: Call) -> Answer:
    return call.sandbox.create_report(call.seller_id, call.body or {})


def get_report(call: Call) -> Answer:
    report = call.sandbox.reports.get(call.path["reportId"])
    if report is None or report.seller_id != call.seller_id:
        return _not_found(f"Report {call.path['reportId']}")
    return 200, payloads.report_json(report)


def get_reports(call: Call) -> Answer:
    if not call.one("nextToken") and not call.array("reportTypes"):
        return _bad("reportTypes is required when nextToken is not given.")
    return _listing_page(
        call,
        "reports",
        call.sandbox.reports.values(),
        "reportTypes",
        lambda r: r.report_type,
        payloads.report_json,
    )


def cancel_report(call: Call) -> Answer:
    return reports.cancel_report(call.sandbox, call.seller_id, call.path["reportId"])


def get_report_document(call: Call) -> Answer:
    return _document_answer(call, call.path["reportDocumentId"], "reportDocumentId", ("report",))


def _listing_page(call: Call, name: str, items, type_param: str, type_of, render) -> Answer:
    """getFeeds / getReports: newest first, filters, pageSize (1-100), nextToken."""
    token = call.one("nextToken")
    if token:
        state = _take_token(call, token, name)
        if state is None:
            return _bad("The nextToken is invalid or expired.")
        ids, offset, page_size = state["ids"], state["offset"], state["page_size"]
    else:
        types = set(call.array(type_param))
        statuses = set(call.array("processingStatuses"))
        marketplaces = set(call.array("marketplaceIds"))
        since = call.one("createdSince")
        until = call.one("createdUntil")
        chosen = [
            item
            for item in items
            if item.seller_id == call.seller_id
            and (not types or type_of(item) in types)
            and (not statuses or item.status in statuses)
            and (not marketplaces or marketplaces & set(item.marketplace_ids))
            and (not since or item.created >= parse_iso(since))
            and (not until or item.created <= parse_iso(until))
        ]
        chosen.sort(key=lambda i: i.created, reverse=True)
        ids = [getattr(i, f"{name[:-1]}_id") for i in chosen]
        offset, page_size = 0, call.integer("pageSize", 10)
    store = call.sandbox.feeds if name == "feeds" else call.sandbox.reports
    page = [render(store[i]) for i in ids[offset : offset + page_size]]
    response: dict = {name: page}
    if offset + page_size < len(ids):
        response["nextToken"] = _page_token(
            call, {"kind": name, "ids": ids, "offset": offset + page_size, "page_size": page_size}
        )
    return 200, response


HANDLERS: dict[str, Callable[[Call], Answer]] = {
    "listingsItems_2021-08-01.getListingsItem": get_listings_item,
    "listingsItems_2021-08-01.patchListingsItem": patch_listings_item,
    "listingsItems_2021-08-01.putListingsItem": put_listings_item,
    "listingsItems_2021-08-01.deleteListingsItem": delete_listings_item,
    "listingsItems_2021-08-01.searchListingsItems": search_listings_items,
    "orders_2026-01-01.searchOrders": search_orders,
    "orders_2026-01-01.getOrder": get_order,
    "ordersV0.confirmShipment": confirm_shipment,
    "fbaInventory.getInventorySummaries": get_inventory_summaries,
    "feeds_2021-06-30.createFeedDocument": create_feed_document,
    "feeds_2021-06-30.createFeed": create_feed,
    "feeds_2021-06-30.getFeed": get_feed,
    "feeds_2021-06-30.getFeeds": get_feeds,
    "feeds_2021-06-30.cancelFeed": cancel_feed,
    "feeds_2021-06-30.getFeedDocument": get_feed_document,
    "reports_2021-06-30.createReport": create_report,
    "reports_2021-06-30.getReport": get_report,
    "reports_2021-06-30.getReports": get_reports,
    "reports_2021-06-30.cancelReport": cancel_report,
    "reports_2021-06-30.getReportDocument": get_report_document,
}
