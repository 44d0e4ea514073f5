"""Amazon Selling Partner API client for the Amazon channel lane, on python-amazon-sp-api.

A plain module: no Django models, no database. Celery tasks and services build an
`AmazonClient` from a channel's (decrypted) credentials and its seller and marketplace ids; the
same code talks to Amazon or to the sandbox because the SP-API endpoint and the LWA token URL
are both arguments. Every logical call can be reported through `on_call` as an `AmazonCall`
(what was sent, every attempt, statuses, latency) for PushAttempt rows.

How the library is used, and where we step around it (see the contract note, §1):

- Requests are built and sent by the library's own API classes (`ListingsItemsV20210801`,
  `FeedsV20210630`, `OrdersV20260101`, `OrdersV0`, `Inventories`, `Reports`), subclassed so that
  `endpoint` is ours, the Host header is right for `http://` endpoints (the library cuts 8
  characters off the endpoint), and the raw HTTP answer comes back to us: the library's
  `ApiResponse` has no status code and an error status without an `errors` body does not raise,
  so a 429 with an empty body or a 503 HTML page would look like an empty success.
- Where a library method sends something the model does not declare (`create_feed` and
  `create_feed_document` put a stray `path` key and two marketplace keys in the body, `get_report`
  adds four marketplace query keys), the same path is called through the library's generic
  `_request` with exactly the model's parameters. The marketplace is always passed explicitly.
- Credentials are always passed with `credentials=` and only the in-code provider, so stray
  environment variables or `~/.config/python-sp-api` are never read.
- LWA: a token client subclass posts to our `token_url`, with our timeout, and caches tokens per
  (token URL, app, refresh token) until `expires_in` minus a margin. The library's module-global
  cache is keyed by the refresh token alone and ignores `expires_in`, so Amazon and the sandbox
  would share tokens. A 401/403 from SP-API drops the cached token.
- The library's retry decorators (which sleep 5 s, 6.5 s, ... for minutes) are never used.
- Feed and report documents are uploaded and downloaded by us (with timeouts, retries and GZIP
  handling); the library does it with a bare `httpx.Client()` and Latin-1 encoding.

Rate limits: each (seller or `region_key`, operation) has a token bucket sized from the
operation's usage plan (`USAGE_PLANS`: burst = capacity, rate = refill per second), held in
Redis by `channels.lanes.throttle` so every worker shares it (a process-local bucket without
Redis). Each request takes one token first. An answer whose `x-amzn-RateLimit-Limit` is lower
than the table's rate re-tunes the shared bucket to it (never above the table).

Retry rules (all attempts share `max_attempts`):

- HTTP 429: the shared bucket is emptied (Amazon says it is) and the call waits at least
  1/rate seconds, jittered (×1–1.5, growing with the attempt), then retries. After the last
  attempt, `AmazonThrottled`.
- 5xx, timeouts, connection errors, LWA 5xx/429, and a 2xx whose body is not what the
  operation returns (empty, not JSON, required keys missing) on a read: jittered exponential
  backoff (`backoff` × 2^(n-1), capped), then retry. After the last attempt, a retryable
  `AmazonError`. A write (patch, createFeedDocument, createFeed, confirmShipment, createReport)
  that got such a 2xx is not sent again: it raises with `maybe_applied=True`.
- 401/403 to a token taken from the cache: the token is dropped and the request sent once
  more under a fresh one (a refused request changed nothing; cached tokens go stale when the
  app is re-authorised or the seller revokes it). A fresh token refused is raised as below.
- Any other 4xx (400, 401, 403, 404, 409, 413, 415, ...) and LWA 4xx (`invalid_grant`,
  `invalid_client`) are never retried: a non-retryable `AmazonError`. If an earlier attempt of
  the same call may have reached Amazon, `maybe_applied` is True (a confirmShipment answered
  400 after a timed-out first attempt may already be confirmed: re-read the order).
- A wait longer than `max_wait` (the shared bucket is empty for a slow operation such as
  createFeed, or a 429 on one) is not slept: `AmazonThrottled(retry_after=...)` is raised so a
  task can reschedule itself instead of holding a worker.

Orders API 2026-01-01 — the keys of an order (`search_orders` yields and `get_order` returns
them exactly as Amazon sends them; model `orders_2026-01-01.json`, `Order`):

- `orderId` (str, 3-7-7 like "902-1845936-5435065"), `createdTime`, `lastUpdatedTime` (ISO 8601
  UTC strings; `lastUpdatedTime` moves on every change by Amazon or the seller, so
  `orderId` + `lastUpdatedTime` is the idempotency key of an order version),
  `salesChannel` {`channelName` AMAZON|NON_AMAZON, `marketplaceId`, `marketplaceName`},
  `programs` [PRIME, PREORDER, AMAZON_BUSINESS, ...], `orderAliases` [{`aliasId`,
  `aliasType` SELLER_ORDER_ID}], `associatedOrders` [{`orderId`, `associationType`}].
- `fulfillment` (present because we ask for includedData FULFILLMENT): `fulfillmentStatus` —
  PENDING_AVAILABILITY (pre-order, not yet payable), PENDING (placed, not ready to ship; no
  stock commitment from Amazon yet), UNSHIPPED, PARTIALLY_SHIPPED, SHIPPED, CANCELLED,
  UNFULFILLABLE (Amazon-fulfilled orders not placed on Amazon's site) — and `fulfilledBy`
  AMAZON (AFN/FBA) | MERCHANT (MFN), `fulfillmentServiceLevel`, `shipByWindow`,
  `deliverByWindow` ({`earliestDateTime`, `latestDateTime`}).
- `orderItems` [ (always present)
    `orderItemId` (str; what confirmShipment takes), `quantityOrdered` (int),
    `product` {`sellerSku` (our listing's SKU), `asin`, `title`, `condition`,
    `price` {`unitPrice` {`amount` (decimal string), `currencyCode`}}, `serialNumbers`},
    `fulfillment` (includedData FULFILLMENT) {`quantityFulfilled` (shipped units),
    `quantityUnfulfilled` (units still to ship)},
    `cancellation` (includedData CANCELLATION) {`cancellationRequest` {`requester` BUYER,
    `cancelReason`}, `cancellationExecution` {`cancelledBy` BUYER|MERCHANT|AMAZON,
    `cancelReason`}}, `programs`, `proceeds`, `promotion`, `expense`, `tax` ]
  The model has no per-item cancelled quantity: a cancelled order has `fulfillmentStatus`
  CANCELLED; for a partly cancelled item, quantityOrdered − quantityFulfilled −
  quantityUnfulfilled is the best available inference.
- `packages` (includedData PACKAGES, merchant-fulfilled only) [{`packageReferenceId`,
  `carrier`, `trackingNumber`, `shipTime`, `packageStatus` {`status`}, `packageItems`
  [{`orderItemId`, `quantity`}]}]. `buyer`, `recipient` (PII), `proceeds`, `payment`, `tax`
  come only when asked for.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
from sp_api.api import (
    FeedsV20210630,
    Inventories,
    ListingsItemsV20210801,
    OrdersV0,
    OrdersV20260101,
    Reports,
)
from sp_api.auth import AccessTokenClient, AccessTokenResponse
from sp_api.auth.credentials import Credentials
from sp_api.auth.exceptions import AuthorizationError
from sp_api.base import Marketplaces, fill_query_params, sp_endpoint
from sp_api.base.credential_provider import FromCodeCredentialProvider

from channels.lanes.base import ChannelError, CredentialsError
from channels.lanes.throttle import Throttle, ThrottleStatus, throttle_for

USER_AGENT = "inventory-sync/0.1 (Language=Python; python-amazon-sp-api)"
JSON_LISTINGS_FEED = "JSON_LISTINGS_FEED"
FEED_CONTENT_TYPE = "application/json; charset=UTF-8"
MFN_CHANNEL = "DEFAULT"  # fulfillment_channel_code of merchant-fulfilled stock
MAX_FEED_MESSAGES = 25_000
# Submission quotas per feed type, on top of createFeed's usage plan (burst, refill per second):
# 5 JSON_LISTINGS_FEED submissions per 5 minutes per region, however much createFeed budget is
# left. Shared through the same buckets as the usage plans.
FEED_TYPE_QUOTAS: dict[str, tuple[int, float]] = {JSON_LISTINGS_FEED: (5, 5 / 300)}
SEARCH_LISTINGS_PAGE = 20  # searchListingsItems pageSize maximum and identifiers maxItems
INVENTORY_SKUS_PER_CALL = 50  # getInventorySummaries sellerSkus maxItems
ORDERS_PAGE = 100  # searchOrders maxResultsPerPage maximum
ORDERS_INCLUDED_DATA = ("FULFILLMENT", "CANCELLATION")
LISTING_INCLUDED_DATA = ("summaries", "fulfillmentAvailability", "issues")
# Amazon refuses a *Before bound later than two minutes before the request.
ORDERS_BEFORE_LAG = timedelta(minutes=2)
# An access token is refreshed this long before Amazon says it expires (it lives 3600 s).
TOKEN_MARGIN_SECONDS = 120.0
FEED_STATUSES_FINISHED = frozenset({"DONE", "CANCELLED", "FATAL"})


# --------------------------------------------------------------------------------------------
# Usage plans (generated from contracts/amazon/usage_plans.json, Amazon's model descriptions)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UsagePlan:
    operation: str  # our name for the operation (operationId; getOrder is the 2026-01-01 one)
    model: str
    method: str
    path: str
    rate: float  # requests per second (token refill)
    burst: int  # bucket size
    success_status: int
    write: bool  # changes something at Amazon: a doubtful 2xx is not sent again


def _plan(
    operation: str,
    model: str,
    method: str,
    path: str,
    rate: float,
    burst: int,
    success: int,
    write: bool = False,
) -> UsagePlan:
    return UsagePlan(operation, model, method, path, rate, burst, success, write)


USAGE_PLANS: dict[str, UsagePlan] = {
    p.operation: p
    for p in (
        _plan(
            "getListingsItem",
            "listingsItems_2021-08-01",
            "GET",
            "/listings/2021-08-01/items/{sellerId}/{sku}",
            5.0,
            10,
            200,
        ),
        _plan(
            "patchListingsItem",
            "listingsItems_2021-08-01",
            "PATCH",
            "/listings/2021-08-01/items/{sellerId}/{sku}",
            5.0,
            5,
            200,
            write=True,
        ),
        _plan(
            "searchListingsItems",
            "listingsItems_2021-08-01",
            "GET",
            "/listings/2021-08-01/items/{sellerId}",
            5.0,
            5,
            200,
        ),
        _plan(
            "createFeedDocument",
            "feeds_2021-06-30",
            "POST",
            "/feeds/2021-06-30/documents",
            0.5,
            15,
            201,
            write=True,
        ),
        _plan(
            "createFeed",
            "feeds_2021-06-30",
            "POST",
            "/feeds/2021-06-30/feeds",
            0.0083,
            15,
            202,
            write=True,
        ),
        _plan(
            "getFeed", "feeds_2021-06-30", "GET", "/feeds/2021-06-30/feeds/{feedId}", 2.0, 15, 200
        ),
        _plan(
            "getFeedDocument",
            "feeds_2021-06-30",
            "GET",
            "/feeds/2021-06-30/documents/{feedDocumentId}",
            0.0222,
            10,
            200,
        ),
        _plan(
            "searchOrders", "orders_2026-01-01", "GET", "/orders/2026-01-01/orders", 0.0056, 20, 200
        ),
        _plan(
            "getOrder",
            "orders_2026-01-01",
            "GET",
            "/orders/2026-01-01/orders/{orderId}",
            0.5,
            30,
            200,
        ),
        _plan(
            "confirmShipment",
            "ordersV0",
            "POST",
            "/orders/v0/orders/{orderId}/shipmentConfirmation",
            2.0,
            10,
            204,
            write=True,
        ),
        _plan(
            "getInventorySummaries",
            "fbaInventory",
            "GET",
            "/fba/inventory/v1/summaries",
            2.0,
            2,
            200,
        ),
        _plan(
            "createReport",
            "reports_2021-06-30",
            "POST",
            "/reports/2021-06-30/reports",
            0.0167,
            15,
            202,
            write=True,
        ),
        _plan(
            "getReport",
            "reports_2021-06-30",
            "GET",
            "/reports/2021-06-30/reports/{reportId}",
            2.0,
            15,
            200,
        ),
        _plan(
            "getReportDocument",
            "reports_2021-06-30",
            "GET",
            "/reports/2021-06-30/documents/{reportDocumentId}",
            0.0167,
            15,
            200,
        ),
    )
}


# --------------------------------------------------------------------------------------------
# Credentials
# --------------------------------------------------------------------------------------------

CREDENTIAL_KEYS = ("refresh_token", "lwa_app_id", "lwa_client_secret")


@dataclass(frozen=True, slots=True)
class AmazonCredentials:
    """LWA credentials of one selling partner authorisation. The repr hides the secrets."""

    refresh_token: str
    lwa_app_id: str
    lwa_client_secret: str

    def __repr__(self) -> str:
        return f"AmazonCredentials(lwa_app_id={self.lwa_app_id!r}, refresh_token=…, secret=…)"

    def as_library_dict(self) -> dict[str, str]:
        return {
            "refresh_token": self.refresh_token,
            "lwa_app_id": self.lwa_app_id,
            "lwa_client_secret": self.lwa_client_secret,
        }


class AmazonCredentialsError(CredentialsError):
    """A channel's credential mapping lacks a key, or a value is not a non-blank string."""


def credentials_from(mapping: Mapping[str, Any] | None) -> AmazonCredentials:
    """Build credentials from a channel's decrypted credential mapping.

    Needs `refresh_token`, `lwa_app_id` and `lwa_client_secret` as non-blank strings; other keys
    are ignored. The error names the bad keys, never their values.
    """
    if not isinstance(mapping, Mapping):
        raise AmazonCredentialsError(
            f"Amazon credentials must be a mapping with {', '.join(CREDENTIAL_KEYS)}"
        )
    missing = [k for k in CREDENTIAL_KEYS if k not in mapping or mapping[k] in (None, "")]
    bad = [
        k
        for k in CREDENTIAL_KEYS
        if k not in missing and (not isinstance(mapping[k], str) or not mapping[k].strip())
    ]
    if missing or bad:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing))
        if bad:
            parts.append("not a non-blank string: " + ", ".join(bad))
        raise AmazonCredentialsError(
            f"Amazon credentials are incomplete ({'; '.join(parts)}); "
            f"expected keys: {', '.join(CREDENTIAL_KEYS)}"
        )
    return AmazonCredentials(
        refresh_token=mapping["refresh_token"].strip(),
        lwa_app_id=mapping["lwa_app_id"].strip(),
        lwa_client_secret=mapping["lwa_client_secret"].strip(),
    )


# --------------------------------------------------------------------------------------------
# Records of what happened on the wire
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attempt:
    number: int
    # ok | throttled | server_error | bad_answer | timeout | connection_error | connect_error
    # | auth_error | client_error
    outcome: str
    http_status: int | None
    latency_s: float
    waited_s: float  # slept before this attempt (backoff, 429 wait, shared bucket)
    response_body: bytes | None
    request_id: str | None = None  # x-amzn-RequestId, what Amazon support asks for
    error: str | None = None


@dataclass(frozen=True, slots=True)
class AmazonCall:
    """One logical call: what a PushAttempt row stores (request and answers, raw)."""

    operation: str
    method: str | None
    url: str | None
    request_body: bytes | None
    started_at: datetime
    attempts: tuple[Attempt, ...]

    @property
    def http_status(self) -> int | None:
        return self.attempts[-1].http_status if self.attempts else None

    @property
    def response_body(self) -> bytes | None:
        return self.attempts[-1].response_body if self.attempts else None

    @property
    def request_id(self) -> str | None:
        return self.attempts[-1].request_id if self.attempts else None

    @property
    def latency_s(self) -> float:
        return sum(a.latency_s for a in self.attempts)

    @property
    def waited_s(self) -> float:
        return sum(a.waited_s for a in self.attempts)


@dataclass(slots=True)
class _CallBuilder:
    operation: str
    started_at: datetime
    method: str | None = None
    url: str | None = None
    request_body: bytes | None = None
    attempts: list[Attempt] = field(default_factory=list)

    def note_request(self, request: httpx.Request | None) -> None:
        if request is None:
            return
        self.method = request.method
        self.url = str(request.url)
        try:
            self.request_body = request.content or None
        except httpx.RequestNotRead:
            self.request_body = None

    def add(self, *args: Any, **kwargs: Any) -> None:
        self.attempts.append(Attempt(len(self.attempts) + 1, *args, **kwargs))

    def build(self) -> AmazonCall:
        return AmazonCall(
            operation=self.operation,
            method=self.method,
            url=self.url,
            request_body=self.request_body,
            started_at=self.started_at,
            attempts=tuple(self.attempts),
        )


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class AmazonError(ChannelError):
    """A call that did not succeed. `retryable` tells a task whether trying later can help.

    `status` is the HTTP status (None for timeouts and connection errors), `code` Amazon's
    `errors[0].code` (or `HTTP_<status>`, `TIMEOUT`, `lwa_<error>`...), `errors` the whole
    ErrorList. `maybe_applied` is True when a write may have reached Amazon although the call
    failed: re-read before sending it again.
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str,
        status: int | None = None,
        code: str = "",
        retryable: bool = False,
        errors: Sequence[Mapping[str, Any]] = (),
        maybe_applied: bool = False,
        call: AmazonCall | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.status = status
        self.code = code
        self.retryable = retryable
        self.errors = tuple(errors)
        self.maybe_applied = maybe_applied
        self.call = call

    def __str__(self) -> str:
        status = f" HTTP {self.status}" if self.status is not None else ""
        return f"{self.operation}:{status} {self.code}: {self.message}".replace("  ", " ")


class AmazonThrottled(AmazonError):
    """Still throttled after every attempt, or asked to wait longer than `max_wait`:
    try again after `retry_after` seconds."""

    def __init__(self, message: str, *, operation: str, retry_after: float, **kwargs: Any):
        kwargs.setdefault("code", "QuotaExceeded")
        kwargs.setdefault("status", 429)
        super().__init__(message, operation=operation, retryable=True, **kwargs)
        self.retry_after = retry_after


class _BadAnswer(ValueError):
    """A 2xx whose body is not what the operation returns."""


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListingSubmission:
    """patchListingsItem's answer. ACCEPTED means queued, not applied (invariant I6)."""

    sku: str
    status: str  # ACCEPTED | INVALID (VALID only in VALIDATION_PREVIEW mode)
    submission_id: str
    issues: list[dict[str, Any]]
    call: AmazonCall | None = field(default=None, compare=False)

    @property
    def accepted(self) -> bool:
        return self.status == "ACCEPTED"

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [i for i in self.issues if i.get("severity") == "ERROR"]


@dataclass(frozen=True, slots=True)
class Document:
    """A feed or report document: a presigned URL, maybe GZIP-compressed."""

    document_id: str
    url: str
    compression_algorithm: str | None = None


@dataclass(frozen=True, slots=True)
class FeedStatus:
    feed_id: str
    feed_type: str | None
    processing_status: str  # IN_QUEUE | IN_PROGRESS | DONE | CANCELLED | FATAL
    result_feed_document_id: str | None
    created_time: str | None
    processing_end_time: str | None
    raw: dict[str, Any] = field(compare=False, repr=False)

    @property
    def finished(self) -> bool:
        return self.processing_status in FEED_STATUSES_FINISHED

    @property
    def done(self) -> bool:
        return self.processing_status == "DONE"


@dataclass(frozen=True, slots=True)
class FeedIssue:
    message_id: int | None  # our messageId (1-based position in the submitted quantities)
    sku: str | None
    code: str | None
    severity: str  # ERROR | WARNING | INFO
    message: str
    attribute_name: str | None = None


@dataclass(frozen=True, slots=True)
class FeedReport:
    """A JSON_LISTINGS_FEED processing report (schema v2)."""

    feed_id: str | None
    messages_processed: int
    messages_accepted: int
    messages_invalid: int
    errors: int
    warnings: int
    issues: tuple[FeedIssue, ...]
    raw: dict[str, Any] = field(compare=False, repr=False)

    def issues_for(self, sku: str) -> list[FeedIssue]:
        return [i for i in self.issues if i.sku == sku]

    @property
    def rejected_skus(self) -> set[str]:
        """SKUs with at least one ERROR: their message was not applied."""
        return {i.sku for i in self.issues if i.severity == "ERROR" and i.sku}

    @property
    def rejected_message_ids(self) -> set[int]:
        return {i.message_id for i in self.issues if i.severity == "ERROR" and i.message_id}


@dataclass(frozen=True, slots=True)
class OrdersPage:
    orders: list[dict[str, Any]]
    next_token: str | None
    last_updated_before: str | None  # Amazon's end of the searched window, when it says


@dataclass(frozen=True, slots=True)
class ListingSummary:
    """What a mapping import needs from one listings item."""

    sku: str
    asin: str | None
    fulfillment_channel: str | None  # MFN | AFN | None (no fulfillment availability)
    quantity: int | None  # MFN quantity (DEFAULT channel); None for AFN or when absent
    product_type: str | None
    status: tuple[str, ...]  # BUYABLE, DISCOVERABLE
    item_name: str | None


# --------------------------------------------------------------------------------------------
# Request builders (pure; the tests validate them against Amazon's schemas)
# --------------------------------------------------------------------------------------------


def _check_quantity(sku: str, quantity: Any) -> None:
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
        _check_quantity(sku, quantity)
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


# --------------------------------------------------------------------------------------------
# Parsers (pure). PARSERS maps each operation to the function the client applies to its answer.
# --------------------------------------------------------------------------------------------


def _require(body: Any, *keys: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _BadAnswer(f"expected a JSON object, got {type(body).__name__}")
    missing = [k for k in keys if body.get(k) in (None, "")]
    if missing:
        raise _BadAnswer(f"answer lacks {', '.join(missing)}")
    return body


def listing_from_json(body: Any) -> dict[str, Any]:
    return _require(body, "sku")


def submission_from_json(body: Any) -> ListingSubmission:
    body = _require(body, "sku", "status", "submissionId")
    issues = body.get("issues") or []
    if not isinstance(issues, list):
        raise _BadAnswer("issues is not a list")
    return ListingSubmission(
        sku=str(body["sku"]),
        status=str(body["status"]),
        submission_id=str(body["submissionId"]),
        issues=[dict(i) for i in issues if isinstance(i, dict)],
    )


def listings_page_from_json(body: Any) -> tuple[list[dict[str, Any]], str | None]:
    body = _require(body)
    items = body.get("items")
    if not isinstance(items, list):
        raise _BadAnswer("answer lacks items")
    return items, (body.get("pagination") or {}).get("nextToken") or None


def document_from_json(body: Any) -> Document:
    """createFeedDocument, getFeedDocument and getReportDocument answers."""
    body = _require(body, "url")
    document_id = body.get("feedDocumentId") or body.get("reportDocumentId")
    if not document_id:
        raise _BadAnswer("answer lacks feedDocumentId/reportDocumentId")
    return Document(str(document_id), str(body["url"]), body.get("compressionAlgorithm"))


def feed_id_from_json(body: Any) -> str:
    return str(_require(body, "feedId")["feedId"])


def feed_status_from_json(body: Any) -> FeedStatus:
    body = _require(body, "feedId", "processingStatus")
    return FeedStatus(
        feed_id=str(body["feedId"]),
        feed_type=body.get("feedType"),
        processing_status=str(body["processingStatus"]),
        result_feed_document_id=body.get("resultFeedDocumentId") or None,
        created_time=body.get("createdTime"),
        processing_end_time=body.get("processingEndTime"),
        raw=body,
    )


def feed_report_from_json(
    body: Any, skus_by_message_id: Mapping[int, str] | None = None
) -> FeedReport:
    """Parse a JSON_LISTINGS_FEED processing report. An issue without `sku` gets it from
    `skus_by_message_id` when given (messageId → SKU of the submitted feed)."""
    body = _require(body)
    summary = body.get("summary") or {}
    if not isinstance(summary, dict):
        raise _BadAnswer("summary is not an object")
    issues = []
    for raw in body.get("issues") or []:
        if not isinstance(raw, dict):
            continue
        message_id = raw.get("messageId")
        message_id = message_id if isinstance(message_id, int) else None
        sku = raw.get("sku")
        if not sku and message_id is not None and skus_by_message_id:
            sku = skus_by_message_id.get(message_id)
        issues.append(
            FeedIssue(
                message_id=message_id,
                sku=sku or None,
                code=raw.get("code"),
                severity=str(raw.get("severity") or "ERROR"),
                message=str(raw.get("message") or ""),
                attribute_name=raw.get("attributeName"),
            )
        )
    header = body.get("header") or {}
    return FeedReport(
        feed_id=header.get("feedId") if isinstance(header, dict) else None,
        messages_processed=int(summary.get("messagesProcessed") or 0),
        messages_accepted=int(summary.get("messagesAccepted") or 0),
        messages_invalid=int(summary.get("messagesInvalid") or 0),
        errors=int(summary.get("errors") or 0),
        warnings=int(summary.get("warnings") or 0),
        issues=tuple(issues),
        raw=body,
    )


def orders_page_from_json(body: Any) -> OrdersPage:
    body = _require(body)
    orders = body.get("orders")
    if not isinstance(orders, list):
        raise _BadAnswer("answer lacks orders")
    for order in orders:
        _require(order, "orderId", "lastUpdatedTime")
    return OrdersPage(
        orders=orders,
        next_token=(body.get("pagination") or {}).get("nextToken") or None,
        last_updated_before=body.get("lastUpdatedBefore"),
    )


def order_from_json(body: Any) -> dict[str, Any]:
    order = _require(body, "order")["order"]
    return _require(order, "orderId", "lastUpdatedTime")


def inventory_page_from_json(body: Any) -> tuple[list[dict[str, Any]], str | None]:
    body = _require(body, "payload")
    summaries = (
        body["payload"].get("inventorySummaries") if isinstance(body["payload"], dict) else None
    )
    if not isinstance(summaries, list):
        raise _BadAnswer("answer lacks payload.inventorySummaries")
    return summaries, (body.get("pagination") or {}).get("nextToken") or None


def report_id_from_json(body: Any) -> str:
    return str(_require(body, "reportId")["reportId"])


def report_from_json(body: Any) -> dict[str, Any]:
    return _require(body, "reportId", "processingStatus")


def _no_body(body: Any) -> None:
    return None


PARSERS: dict[str, Callable[[Any], Any]] = {
    "getListingsItem": listing_from_json,
    "patchListingsItem": submission_from_json,
    "searchListingsItems": listings_page_from_json,
    "createFeedDocument": document_from_json,
    "createFeed": feed_id_from_json,
    "getFeed": feed_status_from_json,
    "getFeedDocument": document_from_json,
    "searchOrders": orders_page_from_json,
    "getOrder": order_from_json,
    "confirmShipment": _no_body,
    "getInventorySummaries": inventory_page_from_json,
    "createReport": report_id_from_json,
    "getReport": report_from_json,
    "getReportDocument": document_from_json,
}


def mfn_quantity(item: Mapping[str, Any]) -> int | None:
    """The merchant-fulfilled quantity of a listings item (getListingsItem with
    fulfillmentAvailability): the DEFAULT channel's quantity; None for AFN or when absent."""
    for entry in item.get("fulfillmentAvailability") or []:
        if isinstance(entry, dict) and entry.get("fulfillmentChannelCode") == MFN_CHANNEL:
            quantity = entry.get("quantity")
            return int(quantity) if isinstance(quantity, int) else None
    return None


def availability_errors(item: Mapping[str, Any]) -> tuple[str, ...]:
    """ERROR issues on a listings item's fulfillment_availability (`includedData=issues`), as
    "code: message": what Amazon found processing a quantity it had answered ACCEPTED."""
    found = []
    for issue in item.get("issues") or []:
        if not isinstance(issue, dict) or issue.get("severity") != "ERROR":
            continue
        if "fulfillment_availability" in (issue.get("attributeNames") or []):
            found.append(f"{issue.get('code', '')}: {issue.get('message', '')}".strip(": "))
    return tuple(found)


@dataclass(frozen=True, slots=True)
class ListingLevel:
    quantity: int | None  # the merchant (DEFAULT) quantity shown; None: no MFN offer
    errors: tuple[str, ...] = ()  # ERROR issues on fulfillment_availability


def fulfillment_channel(item: Mapping[str, Any]) -> str | None:
    """MFN when the item has the DEFAULT channel, AFN when only AMAZON_* channels."""
    codes = {
        str(e.get("fulfillmentChannelCode"))
        for e in item.get("fulfillmentAvailability") or []
        if isinstance(e, dict) and e.get("fulfillmentChannelCode")
    }
    if MFN_CHANNEL in codes:
        return "MFN"
    if any(code.startswith("AMAZON") for code in codes):
        return "AFN"
    return None


def listing_summary(item: Mapping[str, Any], marketplace_id: str | None = None) -> ListingSummary:
    summaries = [s for s in item.get("summaries") or [] if isinstance(s, dict)]
    summary = next(
        (s for s in summaries if marketplace_id and s.get("marketplaceId") == marketplace_id),
        summaries[0] if summaries else {},
    )
    return ListingSummary(
        sku=str(item.get("sku") or ""),
        asin=summary.get("asin"),
        fulfillment_channel=fulfillment_channel(item),
        quantity=mfn_quantity(item),
        product_type=summary.get("productType"),
        status=tuple(summary.get("status") or ()),
        item_name=summary.get("itemName"),
    )


def decompress_document(content: bytes, compression_algorithm: str | None) -> bytes:
    """GZIP-aware: decompress when Amazon says GZIP and the bytes are gzip (an HTTP layer that
    honoured Content-Encoding may already have inflated them)."""
    if compression_algorithm and compression_algorithm.upper() == "GZIP":
        if content[:2] == b"\x1f\x8b":
            return gzip.decompress(content)
    elif content[:2] == b"\x1f\x8b":
        return gzip.decompress(content)
    return content


def _errors_of(body: bytes) -> list[dict[str, Any]]:
    try:
        payload = json.loads(body) if body else None
    except ValueError:
        return []
    errors = payload.get("errors") if isinstance(payload, dict) else None
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


# --------------------------------------------------------------------------------------------
# The library, pointed at our endpoint
# --------------------------------------------------------------------------------------------

# Access tokens per (token URL, app id, refresh token): {key: (token, expires at, monotonic)}.
_tokens: dict[str, tuple[str, float]] = {}
_tokens_lock = threading.Lock()


def clear_token_cache() -> None:
    with _tokens_lock:
        _tokens.clear()


def _token_key(token_url: str, client_id: str, refresh_token: str) -> str:
    raw = "\x00".join((token_url, client_id or "", refresh_token or ""))
    return hashlib.sha256(raw.encode()).hexdigest()


def _level(bucket: Throttle) -> float:
    available = getattr(bucket, "available", None)
    return float(available) if available is not None else float("inf")


def _empty(bucket: Throttle, burst: int, rate: float) -> None:
    bucket.observe(
        ThrottleStatus(maximum_available=float(burst), currently_available=0.0, restore_rate=rate)
    )


class _LwaTokenClient(AccessTokenClient):
    """The library's LWA client aimed at `token_url`, with our timeout and token cache."""

    token_url: ClassVar[str] = "https://api.amazon.com/auth/o2/token"
    timeout: ClassVar[float] = 10.0

    def __init__(
        self,
        refresh_token: str | None = None,
        credentials: Any = None,
        proxies: Any = None,
        verify: bool = True,
    ) -> None:
        # As the library's, minus the transport it would open: _request brings its own.
        self.cred = Credentials(refresh_token, credentials)
        self.proxies = proxies
        self.verify = verify
        # Whether the last token handed out came from the cache, where it may have gone stale
        # (the app re-authorised, the seller revoked it, another process's LWA reset).
        self.served_cached = False

    def _request(self, url: str, data: Mapping[str, Any], headers: Mapping[str, str]) -> dict:
        with httpx.Client(timeout=self.timeout, verify=self.verify) as client:
            response = client.post(url, data=dict(data), headers=dict(headers))
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            body = body if isinstance(body, dict) else {}
            raise AuthorizationError(
                body.get("error") or "invalid_response",
                body.get("error_description") or response.text[:200],
                response.status_code,
            )
        return body

    @property
    def cache_key(self) -> str:
        return _token_key(self.token_url, self.cred.client_id, self.cred.refresh_token)

    def get_auth(self) -> AccessTokenResponse:
        key = self.cache_key
        now = time.monotonic()
        with _tokens_lock:
            cached = _tokens.get(key)
        if cached and cached[1] > now:
            self.served_cached = True
            return AccessTokenResponse(access_token=cached[0], token_type="bearer")
        self.served_cached = False
        body = self._request(self.token_url, self.data, self.headers)
        token = body.get("access_token")
        if not token:
            raise AuthorizationError("invalid_response", "LWA answered without access_token", 200)
        try:
            lifetime = float(body.get("expires_in") or 3600)
        except (TypeError, ValueError):
            lifetime = 3600.0
        with _tokens_lock:
            _tokens[key] = (token, now + max(0.0, lifetime - TOKEN_MARGIN_SECONDS))
        return AccessTokenResponse(**body)

    def forget(self) -> None:
        with _tokens_lock:
            _tokens.pop(self.cache_key, None)


@functools.lru_cache(maxsize=64)
def _token_client_class(token_url: str, timeout: float) -> type[_LwaTokenClient]:
    parts = urlsplit(token_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"token_url must be an http(s) URL, got {token_url!r}")
    return type(
        "LwaTokenClient",
        (_LwaTokenClient,),
        {
            # The library builds scheme + host + path; keep them coherent with token_url.
            "scheme": f"{parts.scheme}://",
            "host": parts.netloc,
            "path": parts.path or "/auth/o2/token",
            "token_url": token_url,
            "timeout": timeout,
        },
    )


class _HttpFailure(Exception):
    """A non-2xx answer, raised from inside the library before it can parse it away."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


class _Reply:
    """A 2xx answer as it came."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.status = response.status_code
        self.headers = response.headers
        self.body = response.content

    def json(self) -> Any:
        if not self.body:
            raise _BadAnswer(f"HTTP {self.status} with an empty body")
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise _BadAnswer(f"HTTP {self.status} with a body that is not JSON") from exc


class _Pointed:
    """Mixin for a library API class: our endpoint, a correct Host header, raw answers."""

    endpoint: str
    marketplace_id: str

    @property
    def headers(self) -> dict[str, str]:
        headers = super().headers  # type: ignore[misc]
        # The library sets host = endpoint[8:], which assumes "https://".
        headers["host"] = urlsplit(self.endpoint).netloc
        headers["user-agent"] = USER_AGENT
        return headers

    def _check_response(
        self,
        res: httpx.Response,
        res_no_data: bool = False,
        bulk: bool = False,
        wrap_list: bool = False,
    ) -> _Reply:
        if not 200 <= res.status_code < 300:
            raise _HttpFailure(res)
        return _Reply(res)


class _ListingsApi(_Pointed, ListingsItemsV20210801):
    pass


class _FeedsApi(_Pointed, FeedsV20210630):
    # The library's create_feed/create_feed_document put `path` and two marketplace keys into
    # the body; these send exactly CreateFeedDocumentSpecification / CreateFeedSpecification.
    @sp_endpoint("/feeds/2021-06-30/documents", method="POST")
    def create_document(self, content_type: str, **kwargs: Any) -> _Reply:
        return self._request(
            kwargs.pop("path"),
            params=kwargs,
            data={"contentType": content_type},
            add_marketplace=False,
        )

    @sp_endpoint("/feeds/2021-06-30/feeds", method="POST")
    def create_feed_exactly(
        self, feed_type: str, input_feed_document_id: str, **kwargs: Any
    ) -> _Reply:
        return self._request(
            kwargs.pop("path"),
            params=kwargs,
            data={
                "feedType": feed_type,
                "marketplaceIds": [self.marketplace_id],
                "inputFeedDocumentId": input_feed_document_id,
            },
            add_marketplace=False,
        )

    # The library's get_feed_document downloads too (no timeout, Latin-1); we want the URL.
    @sp_endpoint("/feeds/2021-06-30/documents/{}", method="GET")
    def feed_document(self, feed_document_id: str, **kwargs: Any) -> _Reply:
        return self._request(
            fill_query_params(kwargs.pop("path"), feed_document_id),
            params=kwargs,
            add_marketplace=False,
        )


class _OrdersApi(_Pointed, OrdersV20260101):
    pass


class _OrdersV0Api(_Pointed, OrdersV0):
    pass


class _InventoryApi(_Pointed, Inventories):
    pass


class _ReportsApi(_Pointed, Reports):
    # The library's get_report adds four marketplace query keys getReport does not declare.
    @sp_endpoint("/reports/2021-06-30/reports/{}", method="GET")
    def report_exactly(self, report_id: str, **kwargs: Any) -> _Reply:
        return self._request(
            fill_query_params(kwargs.pop("path"), report_id),
            params=kwargs,
            add_marketplace=False,
        )


def _marketplace_enum(marketplace_id: str) -> Marketplaces:
    for member in Marketplaces:
        if member.marketplace_id == marketplace_id:
            return member
    return Marketplaces.US  # only its endpoint is used by the library, and we replace it


# --------------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------------

ThrottleFactory = Callable[[str, float, float], Throttle]


def default_throttle_factory(key: str, capacity: float, restore_rate: float) -> Throttle:
    """Redis-shared bucket when Redis is configured, else one per process."""
    return throttle_for(key, capacity=capacity, restore_rate=restore_rate)


def default_options() -> dict[str, Any]:
    """AMAZON_TIMEOUT, AMAZON_MAX_ATTEMPTS and AMAZON_BACKOFF from Django settings."""
    from django.conf import settings

    return {
        "timeout": float(getattr(settings, "AMAZON_TIMEOUT", 10.0)),
        "max_attempts": int(getattr(settings, "AMAZON_MAX_ATTEMPTS", 5)),
        "backoff": float(getattr(settings, "AMAZON_BACKOFF", 0.5)),
    }


_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class AmazonClient:
    """SP-API calls for one seller in one marketplace. Not shared between threads.

    `endpoint` is the SP-API base URL (https://sellingpartnerapi-na.amazon.com, or the
    sandbox's URL) and `token_url` the LWA token endpoint (https://api.amazon.com/auth/o2/token
    or the sandbox's). `region_key` names the rate-limit buckets when the seller id alone is
    not enough (a seller with several regions: pass e.g. "<seller>:<region>").
    `throttle_factory(key, capacity, rate)` builds a bucket (default: Redis-shared through
    `throttle_for`). `timeout` is per request, `max_attempts` counts every try of one call,
    `backoff` is the first step of the jittered exponential backoff (seconds). `sleep`, `rng`
    and `on_call` (every finished call's AmazonCall) are for tests and PushAttempt rows.
    """

    def __init__(
        self,
        *,
        endpoint: str,
        token_url: str,
        credentials: AmazonCredentials,
        seller_id: str,
        marketplace_id: str,
        region_key: str | None = None,
        throttle_factory: ThrottleFactory | None = None,
        timeout: float = 10.0,
        max_attempts: int = 5,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        backoff_cap: float = 30.0,
        max_wait: float = 60.0,
        on_call: Callable[[AmazonCall], None] | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not isinstance(credentials, AmazonCredentials):
            raise TypeError("credentials must be AmazonCredentials (see credentials_from())")
        # Checked here: the library would otherwise go looking in the environment for them.
        credentials_from(credentials.as_library_dict())
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"endpoint must be an http(s) URL, got {endpoint!r}")
        if not seller_id or not marketplace_id:
            raise ValueError("seller_id and marketplace_id are required")
        self.endpoint = endpoint.rstrip("/")
        self.token_url = token_url
        self.seller_id = seller_id
        self.marketplace_id = marketplace_id
        # Amazon's buckets are per selling partner and application (and region): two channels
        # of one seller share them, so the key is the seller, not the channel row.
        self.bucket_key = region_key or seller_id
        self._credentials = credentials
        self._token_class = _token_client_class(token_url, float(timeout))
        self._throttle_factory = throttle_factory or default_throttle_factory
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._backoff_cap = backoff_cap
        self._max_wait = max_wait
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()
        self.on_call = on_call
        self._apis: dict[type, Any] = {}
        self._buckets: dict[str, Throttle] = {}
        self._rates: dict[str, float] = {}
        self._documents: httpx.Client | None = None

    # ---- plumbing ---------------------------------------------------------------------------

    def __enter__(self) -> AmazonClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for api in self._apis.values():
            api.close()
        self._apis.clear()
        if self._documents is not None:
            self._documents.close()
            self._documents = None

    def _api(self, cls: type) -> Any:
        api = self._apis.get(cls)
        if api is None:
            api = cls(
                _marketplace_enum(self.marketplace_id),
                credentials=self._credentials.as_library_dict(),
                credential_providers=(FromCodeCredentialProvider,),
                timeout=self._timeout,
                auth_token_client_class=self._token_class,
            )
            api.endpoint = self.endpoint
            api.marketplace_id = self.marketplace_id
            self._apis[cls] = api
        return api

    def rate(self, operation: str) -> float:
        """Requests per second we allow ourselves for `operation` now."""
        return self._rates.get(operation, USAGE_PLANS[operation].rate)

    def _bucket(self, operation: str) -> Throttle:
        return self._shared(operation, USAGE_PLANS[operation].burst, self.rate(operation))

    def _shared(self, name: str, burst: int, rate: float) -> Throttle:
        """The bucket every worker of this seller and region shares for `name`."""
        bucket = self._buckets.get(name)
        if bucket is None:
            key = f"amazon:{self.bucket_key}:{name}"
            bucket = self._buckets[name] = self._throttle_factory(key, float(burst), rate)
        return bucket

    def budget(self, operation: str) -> float:
        """Calls `operation` may make now without waiting (the shared bucket's level)."""
        return _level(self._bucket(operation))

    def _feed_quota(self, feed_type: str) -> Throttle:
        burst, rate = FEED_TYPE_QUOTAS[feed_type]
        return self._shared(f"feedType:{feed_type}", burst, rate)

    def feed_budget(self, feed_type: str = JSON_LISTINGS_FEED) -> float:
        """Feeds of `feed_type` that may be submitted now: createFeed's budget, capped by the
        feed type's own submission quota."""
        return min(self.budget("createFeed"), _level(self._feed_quota(feed_type)))

    def _observe_rate_limit(self, operation: str, header: str | None) -> None:
        if not header:
            return
        try:
            reported = float(header)
        except ValueError:
            return
        if reported <= 0:
            return
        plan = USAGE_PLANS[operation]
        # Amazon's number wins when it is lower than the table; never go above the table.
        effective = min(plan.rate, reported)
        if abs(effective - self.rate(operation)) < 1e-9:
            return
        self._rates[operation] = effective
        retune = getattr(self._bucket(operation), "retune", None)
        if retune is not None:
            retune(float(plan.burst), effective)

    def _drain(self, operation: str) -> None:
        # Amazon says its bucket is empty: tell every worker sharing ours.
        _empty(self._bucket(operation), USAGE_PLANS[operation].burst, self.rate(operation))
        if operation == "createFeed":
            # Which limit refused it, the usage plan's or a feed type's, is not said: both are
            # taken as spent.
            for feed_type, (burst, rate) in FEED_TYPE_QUOTAS.items():
                _empty(self._feed_quota(feed_type), burst, rate)

    def _wait_for_budget(self, operation: str, record: _CallBuilder) -> float:
        bucket = self._bucket(operation)
        waited = 0.0
        wait = 0.0
        # Bounded so a throttle whose clock does not move cannot spin forever.
        for _ in range(20):
            wait = bucket.acquire(1.0)
            if wait <= 0:
                return waited
            if wait > self._max_wait:
                break
            self._sleep(wait)
            waited += wait
        raise self._fail(
            AmazonThrottled(
                f"the shared budget needs {wait:.1f}s",
                operation=operation,
                retry_after=wait,
                status=None,
            ),
            record,
        )

    def _backoff_wait(self, attempt: int) -> float:
        # Equal jitter: at least half the exponential step, so retries never stampede at 0.
        step = min(self._backoff_cap, self._backoff * 2 ** (attempt - 1))
        return step / 2 + self._rng.uniform(0, step / 2)

    def _throttled_wait(self, operation: str, attempt: int) -> float:
        floor = 1.0 / self.rate(operation)
        step = max(floor, min(self._backoff_cap, self._backoff * 2 ** (attempt - 1)))
        return step * (1.0 + self._rng.uniform(0.0, 0.5))

    def _fail(self, error: AmazonError, record: _CallBuilder) -> AmazonError:
        error.call = record.build()
        self._report(error.call)
        return error

    def _report(self, call: AmazonCall) -> None:
        if self.on_call is not None:
            self.on_call(call)

    def _forget_token(self, cls: type) -> bool:
        """Drop the cached token; True when the refused token had come from the cache."""
        api = self._apis.get(cls)
        if api is None:
            return False
        stale = bool(getattr(api._auth, "served_cached", False))
        api._auth.forget()
        return stale

    # ---- the retry loop ---------------------------------------------------------------------

    def _call(
        self,
        operation: str,
        cls: type,
        send: Callable[[Any], _Reply],
        *,
        parse: Callable[[Any], Any] | None = None,
        not_found_ok: bool = False,
        with_call: bool = False,
    ) -> Any:
        """Send one operation with retries. `send(api)` makes the library call; `parse` turns
        the JSON body into the result (default: PARSERS[operation]). With `not_found_ok` a 404
        returns None; with `with_call` the answer is (result, AmazonCall)."""
        plan = USAGE_PLANS[operation]
        parse = parse or PARSERS[operation]
        record = _CallBuilder(operation, datetime.now(UTC))
        ambiguous = False  # an earlier attempt may have reached Amazon
        token_renewed = False
        pause = 0.0
        last: AmazonError | None = None
        for number in range(1, self._max_attempts + 1):
            waited = 0.0
            if pause > 0:
                self._sleep(pause)
                waited = pause
            # Built before the budget is taken: its first construction takes tens of ms, which
            # would otherwise put our bucket's clock ahead of Amazon's (a 429 in a burst).
            api = self._api(cls)
            waited += self._wait_for_budget(operation, record)
            started = time.perf_counter()
            try:
                reply = send(api)
            except _HttpFailure as failure:
                response = failure.response
                latency = time.perf_counter() - started
                record.note_request(response.request)
                status = response.status_code
                raw = response.content
                request_id = response.headers.get("x-amzn-RequestId")
                errors = _errors_of(raw)
                code = str(errors[0].get("code") or "") if errors else ""
                message = str(errors[0].get("message") or "") if errors else ""
                details = str(errors[0].get("details") or "") if errors else ""
                if details and details != message:
                    message = f"{message} ({details})" if message else details
                code = code or f"HTTP_{status}"
                message = message or (raw[:200].decode("utf-8", "replace") or f"HTTP {status}")
                self._observe_rate_limit(operation, response.headers.get("x-amzn-RateLimit-Limit"))
                if status == 429:
                    record.add("throttled", status, latency, waited, raw, request_id, message)
                    self._drain(operation)
                    wait = self._throttled_wait(operation, number)
                    last = AmazonThrottled(
                        message, operation=operation, retry_after=wait, code=code, errors=errors
                    )
                    if wait > self._max_wait:
                        raise self._fail(last, record) from None
                    pause = wait
                    continue
                if status >= 500:
                    record.add("server_error", status, latency, waited, raw, request_id, message)
                    ambiguous = True
                    last = AmazonError(
                        message,
                        operation=operation,
                        status=status,
                        code=code,
                        retryable=True,
                        errors=errors,
                    )
                    pause = self._backoff_wait(number)
                    continue
                outcome = "auth_error" if status in (401, 403) else "client_error"
                record.add(outcome, status, latency, waited, raw, request_id, message)
                if status in (401, 403) and self._forget_token(cls) and not token_renewed:
                    # A cached token Amazon no longer takes: a refused request changed nothing,
                    # so it is sent once more under a fresh token. A fresh token refused is a
                    # real authorisation problem (a missing role, a revoked app) and is raised.
                    token_renewed = True
                    last = AmazonError(message, operation=operation, status=status, code=code)
                    pause = 0.0
                    continue
                if status == 404 and not_found_ok:
                    call = record.build()
                    self._report(call)
                    return (None, call) if with_call else None
                raise self._fail(
                    AmazonError(
                        message,
                        operation=operation,
                        status=status,
                        code=code,
                        errors=errors,
                        maybe_applied=plan.write and ambiguous,
                    ),
                    record,
                ) from None
            except AuthorizationError as exc:
                latency = time.perf_counter() - started
                self._bucket(operation).refund(1.0, 0.0)  # no SP-API request left
                status = exc.status_code
                message = f"LWA token: {exc.message or exc.error_code}"
                code = f"lwa_{exc.error_code or 'error'}"
                transient = status is None or status >= 500 or status == 429
                outcome = "server_error" if transient else "auth_error"
                record.add(outcome, status, latency, waited, None, None, message)
                if not transient:
                    raise self._fail(
                        AmazonError(
                            message,
                            operation=operation,
                            status=status,
                            code=code,
                            maybe_applied=plan.write and ambiguous,
                        ),
                        record,
                    ) from exc
                last = AmazonError(
                    message, operation=operation, status=status, code=code, retryable=True
                )
                pause = self._backoff_wait(number)
                continue
            except httpx.HTTPError as exc:  # transport errors, and an undecodable answer
                latency = time.perf_counter() - started
                request = None
                with contextlib.suppress(RuntimeError):  # an error raised before sending
                    request = exc.request
                # A failure while fetching the LWA token: the SP-API request never left, and
                # the token request (its form carries the client secret) is never recorded.
                token_phase = request is not None and not str(request.url).startswith(self.endpoint)
                if request is not None and not token_phase:
                    record.note_request(request)
                never_sent = token_phase or isinstance(exc, _NEVER_SENT)
                if never_sent:
                    outcome = "connect_error"
                    self._bucket(operation).refund(1.0, 0.0)
                elif isinstance(exc, httpx.TimeoutException):
                    outcome = "timeout"
                else:
                    outcome = "connection_error"
                ambiguous = ambiguous or not never_sent
                record.add(outcome, None, latency, waited, None, None, repr(exc))
                last = AmazonError(
                    f"{outcome}: {exc}",
                    operation=operation,
                    code=outcome.upper(),
                    retryable=True,
                )
                pause = self._backoff_wait(number)
                continue

            latency = time.perf_counter() - started
            record.note_request(reply.response.request)
            request_id = reply.headers.get("x-amzn-RequestId")
            self._observe_rate_limit(operation, reply.headers.get("x-amzn-RateLimit-Limit"))
            try:
                result = None if parse is _no_body else parse(reply.json())
            except (_BadAnswer, ValueError, KeyError, TypeError) as exc:
                record.add(
                    "bad_answer", reply.status, latency, waited, reply.body, request_id, str(exc)
                )
                last = AmazonError(
                    f"unexpected answer: {exc}",
                    operation=operation,
                    status=reply.status,
                    code="BAD_ANSWER",
                    retryable=True,
                    maybe_applied=plan.write,
                )
                if plan.write:
                    # It was applied, or not; sending it again could apply it twice.
                    raise self._fail(last, record) from exc
                ambiguous = True
                pause = self._backoff_wait(number)
                continue
            record.add("ok", reply.status, latency, waited, reply.body, request_id)
            call = record.build()
            self._report(call)
            return (result, call) if with_call else result

        assert last is not None
        if isinstance(last, AmazonThrottled):
            last.message = f"still throttled after {self._max_attempts} attempts: {last.message}"
            last.args = (last.message,)
        elif plan.write and ambiguous:
            last.maybe_applied = True
        raise self._fail(last, record)

    # ---- presigned documents ----------------------------------------------------------------

    def _transfer(
        self,
        operation: str,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        """PUT or GET a presigned document URL (not SP-API: no bucket, no token)."""
        if self._documents is None:
            self._documents = httpx.Client(timeout=self._timeout)
        record = _CallBuilder(operation, datetime.now(UTC))
        pause = 0.0
        last: AmazonError | None = None
        for number in range(1, self._max_attempts + 1):
            if pause > 0:
                self._sleep(pause)
            started = time.perf_counter()
            try:
                response = self._documents.request(
                    method, url, content=content, headers=dict(headers or {})
                )
            except httpx.HTTPError as exc:
                outcome = (
                    "timeout" if isinstance(exc, httpx.TimeoutException) else "connection_error"
                )
                record.add(
                    outcome, None, time.perf_counter() - started, pause, None, None, repr(exc)
                )
                last = AmazonError(
                    f"{outcome}: {exc}", operation=operation, code=outcome.upper(), retryable=True
                )
                pause = self._backoff_wait(number)
                continue
            latency = time.perf_counter() - started
            record.note_request(response.request)
            status = response.status_code
            body = response.content if method == "GET" else response.content[:2000]
            if 200 <= status < 300:
                record.add("ok", status, latency, pause, None if method == "GET" else body)
                self._report(record.build())
                return response.content
            message = response.text[:200] or f"HTTP {status}"
            if status >= 500 or status == 429:
                record.add("server_error", status, latency, pause, body, None, message)
                last = AmazonError(
                    message,
                    operation=operation,
                    status=status,
                    code=f"HTTP_{status}",
                    retryable=True,
                )
                pause = self._backoff_wait(number)
                continue
            record.add("client_error", status, latency, pause, body, None, message)
            # A presigned URL that expired or was refused: start over with a new document.
            raise self._fail(
                AmazonError(message, operation=operation, status=status, code=f"HTTP_{status}"),
                record,
            )
        assert last is not None
        raise self._fail(last, record)

    # ---- Listings Items 2021-08-01 ----------------------------------------------------------

    def get_listing(self, sku: str) -> dict[str, Any] | None:
        """The listings item (summaries, fulfillmentAvailability, issues), or None when Amazon
        does not know the SKU (404)."""
        return self._call(
            "getListingsItem",
            _ListingsApi,
            lambda api: api.get_listings_item(
                self.seller_id,
                sku,
                marketplaceIds=self.marketplace_id,
                includedData=list(LISTING_INCLUDED_DATA),
            ),
            not_found_ok=True,
        )

    def listing_quantities(self, skus: Iterable[str]) -> dict[str, int | None]:
        """MFN quantity per SKU as Amazon shows it now (DEFAULT channel of
        fulfillmentAvailability); None when the SKU is unknown, AFN or has no MFN quantity."""
        return {sku: level.quantity for sku, level in self.listing_levels(skus).items()}

    def listing_levels(self, skus: Iterable[str]) -> dict[str, ListingLevel]:
        """Per SKU, the MFN quantity Amazon shows now and the ERROR issues on its
        fulfillment_availability (a quantity it accepted, then refused in processing).

        Reads 20 SKUs per searchListingsItems call (identifiersType=SKU); a SKU containing a
        comma cannot travel in that CSV list and is read alone with getListingsItem.
        """
        wanted = list(dict.fromkeys(s for s in skus if s))
        found: dict[str, ListingLevel] = {sku: ListingLevel(None) for sku in wanted}
        batchable = [s for s in wanted if "," not in s]
        for start in range(0, len(batchable), SEARCH_LISTINGS_PAGE):
            chunk = batchable[start : start + SEARCH_LISTINGS_PAGE]
            for item in self._search_listings(
                identifiers=chunk,
                page_size=SEARCH_LISTINGS_PAGE,
                included=("fulfillmentAvailability", "issues"),
            ):
                sku = item.get("sku")
                if sku in found:
                    found[sku] = ListingLevel(mfn_quantity(item), availability_errors(item))
        for sku in wanted:
            if "," in sku:
                item = self.get_listing(sku)
                if item:
                    found[sku] = ListingLevel(mfn_quantity(item), availability_errors(item))
        return found

    def patch_quantity(
        self, sku: str, quantity: int, *, product_type: str = "PRODUCT"
    ) -> ListingSubmission:
        """Set the MFN quantity with a `merge` patch of fulfillment_availability (quantity only).

        ACCEPTED means queued: the push counts as applied only once a read-back shows it (I6).
        INVALID comes back as a result, not an exception. Idempotent: the quantity is absolute,
        so sending the same patch twice leaves the same listing.
        """
        _check_quantity(sku, quantity)
        submission, call = self._call(
            "patchListingsItem",
            _ListingsApi,
            lambda api: api.patch_listings_item(
                self.seller_id,
                sku,
                marketplaceIds=self.marketplace_id,
                body=listing_patch_body(quantity, product_type=product_type),
            ),
            with_call=True,
        )
        return ListingSubmission(
            sku=submission.sku,
            status=submission.status,
            submission_id=submission.submission_id,
            issues=submission.issues,
            call=call,
        )

    def search_listings(self, *, page_size: int = SEARCH_LISTINGS_PAGE) -> Iterator[dict[str, Any]]:
        """Every listings item of the seller in the marketplace (summaries and
        fulfillmentAvailability), all pages. `listing_summary(item)` gives what a mapping import
        needs: SKU, ASIN, MFN/AFN."""
        yield from self._search_listings(
            page_size=page_size, included=("summaries", "fulfillmentAvailability")
        )

    def _search_listings(
        self,
        *,
        page_size: int,
        included: Sequence[str],
        identifiers: Sequence[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        if not 1 <= page_size <= SEARCH_LISTINGS_PAGE:
            raise ValueError(f"page_size must be 1..{SEARCH_LISTINGS_PAGE}")
        params: dict[str, Any] = {
            "marketplaceIds": self.marketplace_id,
            "includedData": list(included),
            "pageSize": page_size,
        }
        if identifiers:
            params["identifiersType"] = "SKU"
            params["identifiers"] = ",".join(identifiers)
        token: str | None = None
        seen: set[str] = set()
        while True:
            page_params = dict(params, pageToken=token) if token else dict(params)
            items, token = self._call(
                "searchListingsItems",
                _ListingsApi,
                lambda api, p=page_params: api.search_listings_items(self.seller_id, **p),
            )
            yield from items
            if not token or token in seen:
                return
            seen.add(token)

    # ---- Feeds 2021-06-30 (JSON_LISTINGS_FEED) ----------------------------------------------

    def submit_quantity_feed(
        self,
        quantities: Sequence[tuple[str, int]],
        *,
        product_type: str = "PRODUCT",
        product_types: Mapping[str, str] | None = None,
    ) -> str:
        """Submit MFN quantities as one JSON_LISTINGS_FEED and return the feed id.

        createFeedDocument → PUT the document to its presigned URL → createFeed. messageId is
        the 1-based position in `quantities` (see `quantity_feed_document`). Amazon allows
        5 JSON_LISTINGS_FEED submissions per 5 minutes per region: batch, do not trickle.
        """
        document = quantity_feed_document(
            self.seller_id, quantities, product_type=product_type, product_types=product_types
        )
        content = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        # Taken before the document is made: a submission the quota refuses would waste it. The
        # wait (a minute per submission) is never slept; the caller patches or tries later.
        wait = self._feed_quota(JSON_LISTINGS_FEED).acquire(1.0)
        if wait > 0:
            raise self._fail(
                AmazonThrottled(
                    f"{JSON_LISTINGS_FEED} allows 5 submissions per 5 minutes; "
                    f"the next one in {wait:.0f}s",
                    operation="createFeed",
                    retry_after=wait,
                    status=None,
                ),
                _CallBuilder("createFeed", datetime.now(UTC)),
            )
        target: Document = self._call(
            "createFeedDocument",
            _FeedsApi,
            lambda api: api.create_document(FEED_CONTENT_TYPE),
        )
        self._transfer(
            "uploadFeedDocument",
            "PUT",
            target.url,
            content=content,
            headers={"Content-Type": FEED_CONTENT_TYPE},
        )
        return self._call(
            "createFeed",
            _FeedsApi,
            lambda api: api.create_feed_exactly(JSON_LISTINGS_FEED, target.document_id),
        )

    def feed(self, feed_id: str) -> FeedStatus:
        return self._call("getFeed", _FeedsApi, lambda api: api.get_feed(feed_id))

    def feed_report(
        self, feed_document_id: str, *, skus_by_message_id: Mapping[int, str] | None = None
    ) -> FeedReport:
        """Download (GZIP aware) and parse a feed's processing report (`resultFeedDocumentId`)."""
        document: Document = self._call(
            "getFeedDocument", _FeedsApi, lambda api: api.feed_document(feed_document_id)
        )
        content = decompress_document(
            self._transfer("downloadFeedDocument", "GET", document.url),
            document.compression_algorithm,
        )
        try:
            return feed_report_from_json(json.loads(content), skus_by_message_id)
        except (ValueError, _BadAnswer) as exc:
            raise AmazonError(
                f"the processing report is not a JSON listings feed report: {exc}",
                operation="getFeedDocument",
                code="BAD_DOCUMENT",
            ) from exc

    # ---- Orders 2026-01-01 and v0 confirmShipment ---------------------------------------------

    def search_orders(
        self,
        *,
        last_updated_after: datetime,
        last_updated_before: datetime | None = None,
        fulfillment_statuses: Sequence[str] | None = None,
        included_data: Sequence[str] = ORDERS_INCLUDED_DATA,
        page_size: int = ORDERS_PAGE,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> OrderSearch:
        """Orders updated at or after `last_updated_after` (never by creation time), all pages.

        Each order is the dict Amazon sends (keys in the module docstring). The result iterates
        like a generator; once the first page is read its `last_updated_before` holds Amazon's
        end of the window: the next poll can start there (minus an overlap — ingestion dedupes
        on orderId + lastUpdatedTime). `last_updated_before`, when given, must be at least two
        minutes in the past (Amazon refuses later ones).
        """
        if last_updated_after.tzinfo is None:
            raise ValueError("last_updated_after must be timezone-aware")
        params: dict[str, Any] = {
            "lastUpdatedAfter": iso_datetime(last_updated_after),
            "marketplaceIds": [self.marketplace_id],
            "maxResultsPerPage": page_size,
        }
        if not 1 <= page_size <= ORDERS_PAGE:
            raise ValueError(f"page_size must be 1..{ORDERS_PAGE}")
        if last_updated_before is not None:
            if last_updated_before.tzinfo is None:
                raise ValueError("last_updated_before must be timezone-aware")
            if last_updated_before > now() - ORDERS_BEFORE_LAG:
                raise ValueError("last_updated_before must be at least two minutes in the past")
            if last_updated_before < last_updated_after:
                raise ValueError("last_updated_before is earlier than last_updated_after")
            params["lastUpdatedBefore"] = iso_datetime(last_updated_before)
        if fulfillment_statuses:
            params["fulfillmentStatuses"] = list(fulfillment_statuses)
        if included_data:
            params["includedData"] = list(included_data)
        return OrderSearch(self, params)

    def _orders_page(self, params: Mapping[str, Any]) -> OrdersPage:
        return self._call("searchOrders", _OrdersApi, lambda api: api.search_orders(**dict(params)))

    def get_order(
        self, order_id: str, *, included_data: Sequence[str] = ORDERS_INCLUDED_DATA
    ) -> dict[str, Any]:
        """One order (the `order` of getOrder, keys in the module docstring)."""
        params = {"includedData": list(included_data)} if included_data else {}
        return self._call("getOrder", _OrdersApi, lambda api: api.get_order(order_id, **params))

    def confirm_shipment(
        self,
        order_id: str,
        *,
        items: Sequence[tuple[str, int]],
        carrier: str,
        tracking_number: str,
        ship_date: datetime,
        shipping_method: str | None = None,
        carrier_name: str | None = None,
        package_reference_id: str = "1",
    ) -> None:
        """Confirm a merchant-fulfilled shipment (Orders v0; 204). `items` are
        (orderItemId, quantity). Use `carrier="Other"` with `carrier_name` for a carrier Amazon
        has no code for. Not idempotent at Amazon: an AmazonError with `maybe_applied` means
        re-read the order (fulfillmentStatus, packages) before confirming again."""
        body = confirm_shipment_body(
            self.marketplace_id,
            items=items,
            carrier=carrier,
            tracking_number=tracking_number,
            ship_date=ship_date,
            shipping_method=shipping_method,
            carrier_name=carrier_name,
            package_reference_id=package_reference_id,
        )
        self._call(
            "confirmShipment",
            _OrdersV0Api,
            lambda api: api.confirm_shipment(order_id, **body),
        )

    # ---- FBA Inventory v1 -------------------------------------------------------------------

    def inventory_summaries(
        self, *, skus: Sequence[str] | None = None, since: datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        """FBA inventory summaries with details (granularity Marketplace), all pages, as Amazon
        sends them (`sellerSku`, `fnSku`, `asin`, `totalQuantity`, `inventoryDetails`
        {fulfillableQuantity, inboundWorking/Shipped/ReceivingQuantity, reservedQuantity{...},
        researchingQuantity{...}, unfulfillableQuantity{...}}, `lastUpdatedTime`). `skus` are
        asked 50 per call; `since` is startDateTime (changes since, inbound excluded)."""
        base: dict[str, Any] = {
            "details": "true",
            "granularityType": "Marketplace",
            "granularityId": self.marketplace_id,
            "marketplaceIds": self.marketplace_id,
        }
        if since is not None:
            base["startDateTime"] = iso_datetime(since)
        chunks: list[list[str] | None]
        if skus:
            wanted = list(dict.fromkeys(skus))
            chunks = [
                wanted[i : i + INVENTORY_SKUS_PER_CALL]
                for i in range(0, len(wanted), INVENTORY_SKUS_PER_CALL)
            ]
        else:
            chunks = [None]
        for chunk in chunks:
            params = dict(base)
            if chunk:
                params["sellerSkus"] = list(chunk)
            token: str | None = None
            seen: set[str] = set()
            while True:
                page_params = dict(params, nextToken=token) if token else dict(params)
                summaries, token = self._call(
                    "getInventorySummaries",
                    _InventoryApi,
                    lambda api, p=page_params: api.get_inventory_summary_marketplace(**p),
                )
                yield from summaries
                if not token or token in seen:
                    break
                seen.add(token)

    # ---- Reports 2021-06-30 -----------------------------------------------------------------

    def request_report(
        self,
        report_type: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        options: Mapping[str, str] | None = None,
    ) -> str:
        """createReport for our marketplace; returns the report id (poll `report()`)."""
        body: dict[str, Any] = {"reportType": report_type, "marketplaceIds": [self.marketplace_id]}
        if start is not None:
            body["dataStartTime"] = iso_datetime(start)
        if end is not None:
            body["dataEndTime"] = iso_datetime(end)
        if options:
            body["reportOptions"] = dict(options)
        return self._call("createReport", _ReportsApi, lambda api: api.create_report(**body))

    def report(self, report_id: str) -> dict[str, Any]:
        """The Report: `processingStatus` IN_QUEUE|IN_PROGRESS|DONE|CANCELLED|FATAL and, when
        DONE, `reportDocumentId`."""
        return self._call("getReport", _ReportsApi, lambda api: api.report_exactly(report_id))

    def download_report(self, report_document_id: str) -> bytes:
        """The report document's bytes, decompressed when GZIP (decode them per report type:
        flat files are tab-separated UTF-8 or the marketplace's legacy charset)."""
        document: Document = self._call(
            "getReportDocument",
            _ReportsApi,
            lambda api: api.get_report_document(report_document_id),
        )
        return decompress_document(
            self._transfer("downloadReportDocument", "GET", document.url),
            document.compression_algorithm,
        )


class OrderSearch(Iterator[dict[str, Any]]):
    """The orders of one searchOrders query, page after page (filters repeated with the
    paginationToken). `last_updated_before` is Amazon's window end once a page was read."""

    def __init__(self, client: AmazonClient, params: Mapping[str, Any]) -> None:
        self._client = client
        self._params = dict(params)
        self._buffer: list[dict[str, Any]] = []
        self._token: str | None = None
        self._started = False
        self._seen: set[str] = set()
        self.last_updated_before: str | None = None
        self.pages = 0

    def __iter__(self) -> OrderSearch:
        return self

    def __next__(self) -> dict[str, Any]:
        while not self._buffer:
            if self._started and not self._token:
                raise StopIteration
            params = dict(self._params)
            if self._token:
                params["paginationToken"] = self._token
            page = self._client._orders_page(params)
            self._started = True
            self.pages += 1
            self.last_updated_before = page.last_updated_before or self.last_updated_before
            token = page.next_token
            # A token seen before would loop forever: stop instead.
            self._token = token if token and token not in self._seen else None
            if token:
                self._seen.add(token)
            self._buffer = list(page.orders)
        return self._buffer.pop(0)
