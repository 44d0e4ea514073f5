"""Amazon Selling Partner API client for the Amazon channel lane, on python-amazon-sp-api.

A plain module: no Django models, no database. Celery tasks and services build an
`AmazonClient` from a channel's (decrypted) credentials and its seller and marketplace ids; the
same code talks to Amazon or to the sandbox because the SP-API endpoint and the LWA token URL
are both arguments. Every logical call can be reported through `on_call` as an `AmazonCall`
(what was sent, every attempt, statuses, latency) for PushAttempt rows.

The package, one thing per module: `usage_plans` (the operations' rate limits and the shared
buckets), `credentials`, `lwa` (access tokens), `library` (the library's API classes pointed at
our endpoint), `errors`, `values`, `bodies` and `parsers` (pure request builders and answer
readers), `answers` (what each answer means), and this module: the client's operations. Every
public name of those modules is importable from here.

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

Rate limits: each request first takes one token from its operation's bucket, shared by every
worker of the seller and sized from the operation's usage plan (see `usage_plans`).

Retry rules (all attempts share `max_attempts`; the shared loop in `channels.lanes.calls` runs
them, `answers` classifies each answer):

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

import functools
import json
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sp_api.base.credential_provider import FromCodeCredentialProvider

from channels.lanes.calls import Attempt, CallBuilder, CallRecord, RetryPolicy, call_with_retries
from channels.lanes.throttle import Throttle, throttle_for

from .answers import DocumentTransfer, SpApiExchange
from .bodies import (
    MAX_FEED_MESSAGES,
    check_quantity,
    confirm_shipment_body,
    iso_datetime,
    listing_patch_body,
    quantity_feed_document,
    quantity_patches,
)
from .cancellation import ACKNOWLEDGEMENT_FEED, XML_CONTENT_TYPE, cancellation_document
from .credentials import (
    CREDENTIAL_KEYS,
    AmazonCredentials,
    AmazonCredentialsError,
    credentials_from,
)
from .errors import AmazonError, AmazonThrottled, BadAnswer
from .library import (
    USER_AGENT,
    FeedsApi,
    InventoryApi,
    ListingsApi,
    OrdersApi,
    OrdersV0Api,
    Reply,
    ReportsApi,
    marketplace_enum,
)
from .lwa import TOKEN_MARGIN_SECONDS, clear_token_cache, drop_token, token_client_class
from .order_search import OrderSearch
from .parsers import (
    PARSERS,
    availability_errors,
    decompress_document,
    document_from_json,
    feed_id_from_json,
    feed_report_from_json,
    feed_status_from_json,
    fulfillment_channel,
    inventory_page_from_json,
    listing_from_json,
    listing_summary,
    listings_page_from_json,
    mfn_quantity,
    order_from_json,
    orders_page_from_json,
    report_from_json,
    report_id_from_json,
    submission_from_json,
)
from .usage_plans import (
    FEED_TYPE_QUOTAS,
    JSON_LISTINGS_FEED,
    USAGE_PLANS,
    RateBuckets,
    ThrottleFactory,
    UsagePlan,
    level,
)
from .values import (
    FEED_STATUSES_FINISHED,
    MFN_CHANNEL,
    Document,
    FeedIssue,
    FeedReport,
    FeedStatus,
    ListingLevel,
    ListingSubmission,
    ListingSummary,
    OrdersPage,
)

__all__ = [
    "CREDENTIAL_KEYS",
    "FEED_CONTENT_TYPE",
    "FEED_STATUSES_FINISHED",
    "FEED_TYPE_QUOTAS",
    "INVENTORY_SKUS_PER_CALL",
    "JSON_LISTINGS_FEED",
    "LISTING_INCLUDED_DATA",
    "MAX_FEED_MESSAGES",
    "MFN_CHANNEL",
    "ORDERS_BEFORE_LAG",
    "ORDERS_INCLUDED_DATA",
    "ORDERS_PAGE",
    "PARSERS",
    "SEARCH_LISTINGS_PAGE",
    "TOKEN_MARGIN_SECONDS",
    "USAGE_PLANS",
    "USER_AGENT",
    "AmazonCall",
    "AmazonClient",
    "AmazonCredentials",
    "AmazonCredentialsError",
    "AmazonError",
    "AmazonThrottled",
    "Attempt",
    "Document",
    "FeedIssue",
    "FeedReport",
    "FeedStatus",
    "ListingLevel",
    "ListingSubmission",
    "ListingSummary",
    "OrderSearch",
    "OrdersPage",
    "ThrottleFactory",
    "UsagePlan",
    "availability_errors",
    "clear_token_cache",
    "confirm_shipment_body",
    "credentials_from",
    "decompress_document",
    "default_options",
    "default_throttle_factory",
    "document_from_json",
    "feed_id_from_json",
    "feed_report_from_json",
    "feed_status_from_json",
    "fulfillment_channel",
    "inventory_page_from_json",
    "iso_datetime",
    "listing_from_json",
    "listing_patch_body",
    "listing_summary",
    "listings_page_from_json",
    "mfn_quantity",
    "order_from_json",
    "orders_page_from_json",
    "quantity_feed_document",
    "quantity_patches",
    "report_from_json",
    "report_id_from_json",
    "submission_from_json",
]

# Every call's record; the name the lane and its tests know it by.
AmazonCall = CallRecord

FEED_CONTENT_TYPE = "application/json; charset=UTF-8"
SEARCH_LISTINGS_PAGE = 20  # searchListingsItems pageSize maximum and identifiers maxItems
INVENTORY_SKUS_PER_CALL = 50  # getInventorySummaries sellerSkus maxItems
ORDERS_PAGE = 100  # searchOrders maxResultsPerPage maximum
# BUYER, RECIPIENT and PROCEEDS feed the order queue and customer matching (buyer e-mail, the
# destination, Prime and totals); BUYER and RECIPIENT are personal data: the app needs the
# selling-partner role that grants them.
ORDERS_INCLUDED_DATA = ("FULFILLMENT", "CANCELLATION", "BUYER", "RECIPIENT", "PROCEEDS")
LISTING_INCLUDED_DATA = ("summaries", "fulfillmentAvailability", "issues")
# Amazon refuses a *Before bound later than two minutes before the request.
ORDERS_BEFORE_LAG = timedelta(minutes=2)


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
        self._policy = RetryPolicy(
            max_attempts=max_attempts,
            max_wait=max_wait,
            backoff_base=backoff,
            backoff_cap=backoff_cap,
            sleep=sleep,
            rng=rng if rng is not None else random.Random(),
            report=self._report,
        )
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
        self._token_class = token_client_class(token_url, float(timeout))
        # Looked up in this module when the client is built: tests replace it here.
        self._buckets = RateBuckets(self.bucket_key, throttle_factory or default_throttle_factory)
        self._timeout = timeout
        self.on_call = on_call
        self._apis: dict[type, Any] = {}
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
                marketplace_enum(self.marketplace_id),
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
        return self._buckets.rate(operation)

    def budget(self, operation: str) -> float:
        """Calls `operation` may make now without waiting (the shared bucket's level)."""
        return level(self._buckets.bucket(operation))

    def feed_budget(self, feed_type: str = JSON_LISTINGS_FEED) -> float:
        """Feeds of `feed_type` that may be submitted now: createFeed's budget, capped by the
        feed type's own submission quota."""
        return min(self.budget("createFeed"), level(self._buckets.feed_quota(feed_type)))

    def _report(self, call: AmazonCall) -> None:
        if self.on_call is not None:
            self.on_call(call)

    def _forget_token(self, cls: type) -> bool:
        """Drop the cached token; True when the refused token had come from the cache."""
        api = self._apis.get(cls)
        return api is not None and drop_token(api)

    # ---- calls, through the shared retry loop -------------------------------------------------

    def _call(
        self,
        operation: str,
        cls: type,
        send: Callable[[Any], Reply],
        *,
        parse: Callable[[Any], Any] | None = None,
        not_found_ok: bool = False,
        with_call: bool = False,
    ) -> Any:
        """Send one operation with retries. `send(api)` makes the library call; `parse` turns
        the JSON body into the result (default: PARSERS[operation]). With `not_found_ok` a 404
        returns None; with `with_call` the answer is (result, AmazonCall)."""
        exchange = SpApiExchange(
            operation,
            api=functools.partial(self._api, cls),
            send=send,
            parse=parse or PARSERS[operation],
            not_found_ok=not_found_ok,
            buckets=self._buckets,
            forget_token=functools.partial(self._forget_token, cls),
            endpoint=self.endpoint,
            policy=self._policy,
        )
        result, call = call_with_retries(exchange, self._policy)
        return (result, call) if with_call else result

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
        documents = self._documents
        exchange = DocumentTransfer(
            operation,
            method,
            lambda: documents.request(method, url, content=content, headers=dict(headers or {})),
        )
        answer, _ = call_with_retries(exchange, self._policy)
        return answer

    # ---- Listings Items 2021-08-01 ----------------------------------------------------------

    def get_listing(self, sku: str) -> dict[str, Any] | None:
        """The listings item (summaries, fulfillmentAvailability, issues), or None when Amazon
        does not know the SKU (404)."""
        return self._call(
            "getListingsItem",
            ListingsApi,
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
        check_quantity(sku, quantity)
        submission, call = self._call(
            "patchListingsItem",
            ListingsApi,
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
                ListingsApi,
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
        wait = self._buckets.feed_quota(JSON_LISTINGS_FEED).acquire(1.0)
        if wait > 0:
            raise self._policy.fail(
                AmazonThrottled(
                    f"{JSON_LISTINGS_FEED} allows 5 submissions per 5 minutes; "
                    f"the next one in {wait:.0f}s",
                    operation="createFeed",
                    retry_after=wait,
                    status=None,
                ),
                CallBuilder("createFeed", datetime.now(UTC)),
            )
        return self._submit_feed(JSON_LISTINGS_FEED, content, FEED_CONTENT_TYPE)

    def _submit_feed(self, feed_type: str, content: bytes, content_type: str) -> str:
        """createFeedDocument -> PUT the document to its presigned URL -> createFeed."""
        target: Document = self._call(
            "createFeedDocument",
            FeedsApi,
            lambda api: api.create_document(content_type),
        )
        self._transfer(
            "uploadFeedDocument",
            "PUT",
            target.url,
            content=content,
            headers={"Content-Type": content_type},
        )
        return self._call(
            "createFeed",
            FeedsApi,
            lambda api: api.create_feed_exactly(feed_type, target.document_id),
        )

    def cancel_order(self, order_id: str, item_ids: Sequence[str], *, reason: str) -> str:
        """Cancel a merchant-fulfilled order: one order acknowledgement feed (StatusCode
        Failure, every item with Amazon's CancelReason); returns the feed id. Amazon cancels
        the order when it processes the feed (see `cancellation`)."""
        document = cancellation_document(self.seller_id, order_id, item_ids, reason=reason)
        return self._submit_feed(ACKNOWLEDGEMENT_FEED, document, XML_CONTENT_TYPE)

    def feed_document(self, feed_document_id: str) -> bytes:
        """A feed's result document as Amazon stored it (GZIP undone)."""
        document: Document = self._call(
            "getFeedDocument", FeedsApi, lambda api: api.feed_document(feed_document_id)
        )
        return decompress_document(
            self._transfer("downloadFeedDocument", "GET", document.url),
            document.compression_algorithm,
        )

    def feed(self, feed_id: str) -> FeedStatus:
        return self._call("getFeed", FeedsApi, lambda api: api.get_feed(feed_id))

    def feed_report(
        self, feed_document_id: str, *, skus_by_message_id: Mapping[int, str] | None = None
    ) -> FeedReport:
        """Download (GZIP aware) and parse a feed's processing report (`resultFeedDocumentId`)."""
        document: Document = self._call(
            "getFeedDocument", FeedsApi, lambda api: api.feed_document(feed_document_id)
        )
        content = decompress_document(
            self._transfer("downloadFeedDocument", "GET", document.url),
            document.compression_algorithm,
        )
        try:
            return feed_report_from_json(json.loads(content), skus_by_message_id)
        except (ValueError, BadAnswer) as exc:
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
        return OrderSearch(self._orders_page, params)

    def _orders_page(self, params: Mapping[str, Any]) -> OrdersPage:
        return self._call("searchOrders", OrdersApi, lambda api: api.search_orders(**dict(params)))

    def get_order(
        self, order_id: str, *, included_data: Sequence[str] = ORDERS_INCLUDED_DATA
    ) -> dict[str, Any]:
        """One order (the `order` of getOrder, keys in the module docstring)."""
        params = {"includedData": list(included_data)} if included_data else {}
        return self._call("getOrder", OrdersApi, lambda api: api.get_order(order_id, **params))

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
            OrdersV0Api,
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
                    InventoryApi,
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
        return self._call("createReport", ReportsApi, lambda api: api.create_report(**body))

    def report(self, report_id: str) -> dict[str, Any]:
        """The Report: `processingStatus` IN_QUEUE|IN_PROGRESS|DONE|CANCELLED|FATAL and, when
        DONE, `reportDocumentId`."""
        return self._call("getReport", ReportsApi, lambda api: api.report_exactly(report_id))

    def download_report(self, report_document_id: str) -> bytes:
        """The report document's bytes, decompressed when GZIP (decode them per report type:
        flat files are tab-separated UTF-8 or the marketplace's legacy charset)."""
        document: Document = self._call(
            "getReportDocument",
            ReportsApi,
            lambda api: api.get_report_document(report_document_id),
        )
        return decompress_document(
            self._transfer("downloadReportDocument", "GET", document.url),
            document.compression_algorithm,
        )
