"""The Amazon lane: the push pipeline's Lane protocol (with read-back), order reads, FBA
inventory, shipment confirmation and the mapping import, on top of the SP-API client
(channels.adapters.amazon). One channel is one seller account in one marketplace.

Amazon has no compare-and-set and its ACCEPTED only means "queued" (I6):
- a few changed listings go as Listings Items patches (the `merge` op of
  `fulfillment_availability`, quantity only); many go as one JSON listings feed, which costs
  one createFeed (about one every two minutes is sustainable) instead of a patch per listing;
- the pipeline keeps them in flight until a read-back shows the quantity (`confirm`); one not
  shown by the apply deadline is sent again;
- decreases go before increases (the pipeline's order), and the window in which Amazon may
  sell a unit we have already sold elsewhere — ingestion lag plus Amazon's processing time —
  is covered by the channel's buffer: an allocation rule of a few units for the Amazon
  channels (more for fast sellers) keeps what Amazon shows below what we have;
- an FBA (AFN) listing never receives a merchant quantity (the pipeline skips them, and this
  lane refuses one if it ever got here).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings

from channels.models import Channel, ChannelOrder, Listing
from channels.push import PushItem, SendResult

from . import amazon

logger = logging.getLogger(__name__)

LWA_TOKEN_URL = "https://api.amazon.com/auth/o2/token"
ENDPOINTS = {
    "NA": "https://sellingpartnerapi-na.amazon.com",
    "EU": "https://sellingpartnerapi-eu.amazon.com",
    "FE": "https://sellingpartnerapi-fe.amazon.com",
}
# Up to this many listings in one push go as patches (5 per second); more go as one feed.
PATCH_LIMIT = 20
# Decreases always go as patches, this many a round (10 s of Amazon's patch rate).
DECREASE_PATCH_LIMIT = 50


_clients: dict[tuple, amazon.AmazonClient] = {}
_clients_lock = threading.Lock()


def client_for(channel: Channel, **overrides) -> amazon.AmazonClient:
    """The channel's client, kept for the process: its HTTP connections, LWA token and API
    objects outlive one push (a new one per call would pay for them every time). A changed
    channel row (credentials, endpoint) gets a new one."""
    state = (
        channel.api_base_url,
        channel.auth_url,
        channel.seller_id,
        channel.marketplace,
        channel.region,
        channel.credentials_sealed,
    )
    key = (channel.pk, state, tuple(sorted((name, repr(v)) for name, v in overrides.items())))
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            # Clients built from an older state of the channel (rotated credentials, a moved
            # endpoint) go; clients of the same state with other options stay (they are in use).
            stale = [k for k in _clients if k[0] == channel.pk and k[1] != state]
            for old_key in stale:
                _clients.pop(old_key).close()
            client = _clients[key] = _new_client(channel, **overrides)
            client.on_call = _count_call
        return client


def _new_client(channel: Channel, **overrides) -> amazon.AmazonClient:
    if not channel.seller_id or not channel.marketplace:
        raise amazon.AmazonCredentialsError(
            f"Amazon channel {channel.code} needs its seller id and marketplace id."
        )
    endpoint = channel.api_base_url or ENDPOINTS.get(channel.region.upper(), ENDPOINTS["NA"])
    options = {
        "timeout": getattr(settings, "AMAZON_TIMEOUT", 10.0),
        "max_attempts": getattr(settings, "AMAZON_MAX_ATTEMPTS", 5),
        "backoff": getattr(settings, "AMAZON_BACKOFF", 0.5),
        **overrides,
    }
    return amazon.AmazonClient(
        endpoint=endpoint,
        token_url=channel.auth_url or LWA_TOKEN_URL,
        credentials=amazon.credentials_from(channel.credentials),
        seller_id=channel.seller_id,
        marketplace_id=channel.marketplace,
        # Amazon's buckets are per seller and application in each region: the seller's
        # channels of one region (US, CA, MX) share them.
        region_key=f"{channel.seller_id}:{channel.region or 'NA'}",
        **options,
    )


class _Calls:
    """SP-API calls (every attempt, 429s included) made for one push or read-back."""

    def __init__(self) -> None:
        self.calls = 0
        self.throttled = 0

    def __call__(self, call: amazon.AmazonCall) -> None:
        if call.operation not in amazon.USAGE_PLANS:
            return  # a document upload or download is not an SP-API call
        self.calls += len(call.attempts)
        self.throttled += sum(1 for attempt in call.attempts if attempt.outcome == "throttled")


# The calls of the push or read-back running in this thread (a client is shared by threads).
_counting = threading.local()


def _count_call(call: amazon.AmazonCall) -> None:
    counter = getattr(_counting, "counter", None)
    if counter is not None:
        counter(call)


@contextmanager
def _counted(client: amazon.AmazonClient, result: SendResult):
    counter, before = _Calls(), getattr(_counting, "counter", None)
    if client.on_call is None:
        client.on_call = _count_call  # a client given to the lane (tests, benchmarks)
    _counting.counter = counter
    try:
        yield
    finally:
        _counting.counter = before
        result.calls += counter.calls
        result.throttled += counter.throttled


class AmazonLane:
    """Sets merchant (MFN) quantities; applied only once a read-back shows them."""

    max_batch = 2000

    def __init__(self, client: amazon.AmazonClient | None = None, **client_options):
        self._client = client
        self._options = client_options
        self.confirm_interval = timedelta(
            seconds=getattr(settings, "AMAZON_CONFIRM_INTERVAL_SECONDS", 5.0)
        )
        self.apply_deadline = timedelta(
            seconds=getattr(settings, "AMAZON_APPLY_DEADLINE_SECONDS", 1800.0)
        )

    def _for(self, channel: Channel) -> amazon.AmazonClient:
        return self._client or client_for(channel, **self._options)

    def send(self, channel: Channel, items: Sequence[PushItem], key: str) -> SendResult:
        result = SendResult()
        listings = {
            listing.pk: listing
            for listing in Listing.objects.filter(pk__in=[item.listing_id for item in items])
        }
        sendable = []
        for item in items:
            listing = listings.get(item.listing_id)
            if listing is not None and listing.fulfilment == Listing.Fulfilment.FBA:
                result.refused[item.listing_id] = "FBA listing: Amazon sets its quantity"
            else:
                sendable.append(item)
        if not sendable:
            return result
        client = self._for(channel)
        decreases = all(item.decrease for item in sendable)
        if decreases:
            # Decreases protect against overselling: they go as patches (seconds), never
            # behind a feed's processing queue (minutes); the rest wait for the next round.
            sendable = sendable[:DECREASE_PATCH_LIMIT]
        elif len(sendable) > PATCH_LIMIT and client.feed_budget() < 1:
            # Feeds are scarce (createFeed about one per two minutes once its burst is spent,
            # JSON_LISTINGS_FEED five per five minutes): patch the first listings and leave
            # the rest due for the next round.
            sendable = sendable[:PATCH_LIMIT]
        try:
            with _counted(client, result):
                if decreases or len(sendable) <= PATCH_LIMIT:
                    self._patch(client, sendable, listings, result)
                else:
                    feed_id = client.submit_quantity_feed(
                        [(item.external_id, item.quantity) for item in sendable],
                        product_types={
                            item.external_id: _product_type(listings.get(item.listing_id))
                            for item in sendable
                        },
                    )
                    result.accepted = {item.listing_id for item in sendable}
                    result.request = {"feed": [[i.external_id, i.quantity] for i in sendable]}
                    result.response = {"feed_id": feed_id}
        except amazon.AmazonError as error:
            # Throttled past our attempts, unavailable, timed out: the same absolute
            # quantities go again later (setting one twice is harmless).
            result.retry = True
            result.error = f"{type(error).__name__}: {error}"
            result.http_status = error.status
            result.accepted = set()
        return result

    def _patch(self, client, items, listings, result: SendResult) -> None:
        submissions = {}
        for item in items:
            try:
                submission = client.patch_quantity(
                    item.external_id,
                    item.quantity,
                    product_type=_product_type(listings.get(item.listing_id)),
                )
            except amazon.AmazonError as error:
                if error.retryable:
                    raise
                result.refused[item.listing_id] = f"{error.code}: {error.message}"
                continue
            submissions[item.external_id] = {
                "status": submission.status,
                "submission_id": submission.submission_id,
            }
            if submission.status == "ACCEPTED":
                result.accepted.add(item.listing_id)
            else:
                result.refused[item.listing_id] = _issues_text(submission.issues)
        result.request = {"patch": [[i.external_id, i.quantity] for i in items]}
        result.response = {"submissions": submissions}

    def confirm(self, channel: Channel, items: Sequence[PushItem], attempt) -> SendResult:
        result = SendResult()
        client = self._for(channel)
        try:
            with _counted(client, result):
                return self._confirm(client, items, attempt, result)
        except amazon.AmazonError as error:
            result.retry = True
            result.error = f"{type(error).__name__}: {error}"
            return result

    def _confirm(self, client, items, attempt, result: SendResult) -> SendResult:
        waiting = list(items)
        feed_id = (attempt.response or {}).get("feed_id")
        known = (attempt.response or {}).get("confirm") or {}
        if feed_id and "rejected" in known:
            # Processed, its report read at an earlier read-back: only the levels are left.
            rejected = known["rejected"]
            result.response = {"feed": "DONE", "rejected": rejected}
        elif feed_id:
            status = client.feed(feed_id)
            result.response = {"feed": status.processing_status}
            if not status.finished:
                result.accepted = {item.listing_id for item in items}
                return result
            if not status.done:
                return result  # FATAL or CANCELLED: nothing applied, sent again
            rejected = _feed_rejections(client, status, attempt)
            result.response["rejected"] = rejected
        if feed_id:
            for item in items:
                if item.external_id in rejected:
                    result.refused[item.listing_id] = rejected[item.external_id]
            waiting = [i for i in items if i.listing_id not in result.refused]
        levels = client.listing_levels([item.external_id for item in waiting])
        for item in waiting:
            level = levels.get(item.external_id)
            result.observed[item.listing_id] = level.quantity if level else None
            if level and level.errors and level.quantity != item.quantity:
                result.problems[item.listing_id] = "; ".join(level.errors)
        return result

    def read_levels(self, channel: Channel, listings: Sequence[Listing]) -> dict[int, int | None]:
        """The merchant quantity Amazon shows per listing (None: no MFN offer)."""
        levels = self._for(channel).listing_quantities(
            [listing.external_id for listing in listings]
        )
        return {listing.pk: levels.get(listing.external_id) for listing in listings}


def _feed_rejections(client, status, attempt) -> dict[str, str]:
    """The SKUs a finished feed refused, with Amazon's reasons. Read once (getFeedDocument
    allows about one call a minute): the attempt keeps them for its later read-backs."""
    if not status.result_feed_document_id:
        return {}
    # Messages are numbered in the order the feed listed the SKUs.
    sent = (attempt.request or {}).get("feed") or []
    report = client.feed_report(
        status.result_feed_document_id,
        skus_by_message_id={n: sku for n, (sku, _) in enumerate(sent, start=1)},
    )
    return {
        sku: _issues_text(
            {"code": issue.code or "", "message": issue.message}
            for issue in report.issues_for(sku)
            if issue.severity == "ERROR"
        )
        for sku in report.rejected_skus
    }


def fetch_order(channel: Channel, order_id: str, *, wait: bool = True) -> dict | None:
    """The order as the Orders API shows it now (a notification only says it changed).

    With `wait=False` a call that would have to wait for rate budget raises AmazonThrottled
    (with `retry_after`) at once: the ingest worker must not stall every other channel's
    orders behind Amazon's getOrder limit.
    """
    client = _client(channel) if wait else client_for(channel, max_wait=0.0)
    try:
        return client.get_order(order_id)
    except amazon.AmazonError as error:
        if error.status == 404:
            return None
        raise


def iter_orders_updated_since(channel: Channel, since: datetime) -> Iterator[dict]:
    """Orders updated at or after `since` (never by creation time: cancellations and
    shipments of older orders would be missed)."""
    return _client(channel).search_orders(last_updated_after=since)


def iter_fba_inventory(channel: Channel) -> Iterator[dict]:
    return _client(channel).inventory_summaries()


def confirm_shipment(
    order: ChannelOrder, *, carrier: str, tracking_number: str, ship_date: datetime,
    carrier_name: str | None = None, shipping_method: str | None = None,
) -> None:  # fmt: skip
    """Confirm a merchant-fulfilled order's shipment on Amazon, every line still open.

    The ledger learns of it from the order itself (ORDER_CHANGE or the poll shows the shipped
    quantities), once, like any shipment.
    """
    items = []
    shipped = 0
    for line in order.lines.all():
        # What is still to ship: ordered now, less what has shipped already.
        shipped_items = line.shipped_units // max(line.units_per_item, 1)
        shipped += shipped_items
        open_items = line.current_quantity - shipped_items
        if open_items > 0:
            items.append((line.external_id, open_items))
    if not items:
        return
    _client(order.channel).confirm_shipment(
        order.external_id,
        # Unique within the order (every package ships at least one item more), and the same
        # for a repeated confirmation, which Amazon then refuses instead of recording twice.
        package_reference_id=str(shipped + 1),
        items=items,
        carrier=carrier,
        carrier_name=carrier_name,
        tracking_number=tracking_number,
        ship_date=ship_date,
        shipping_method=shipping_method,
    )


@dataclass(slots=True)
class MappingReport:
    created: list[str] = field(default_factory=list)
    already_mapped: int = 0
    unmatched: list[dict] = field(default_factory=list)
    # Mapped listings whose fulfilment (or ASIN, product type) Amazon says differently: set to
    # Amazon's. A listing we took for merchant-fulfilled but Amazon fulfils must never get a
    # merchant quantity (Amazon would switch the offer and strand its FBA stock).
    corrected: list[str] = field(default_factory=list)


def import_mapping(channel: Channel, *, progress=None, create: bool = True) -> MappingReport:
    """Read the seller's listings in this marketplace and create a listing for each whose
    seller SKU names a canonical SKU, with its ASIN, product type and fulfilment (MFN or
    AFN). Unmatched seller SKUs are reported for a person to resolve. With `create=False`
    only the listings already mapped are brought in line with Amazon (`check_fulfilment`)."""
    from allocation.services import skus_mark_dirty
    from channels import inbound
    from ledger.models import Sku

    report = MappingReport()
    mapped = {listing.external_id: listing for listing in Listing.objects.filter(channel=channel)}
    new_sku_ids: list[int] = []
    for count, item in enumerate(_client(channel).search_listings(), start=1):
        if progress is not None:
            progress(count, item)
        summary = amazon.listing_summary(item, channel.marketplace)
        existing = mapped.get(summary.sku)
        if existing is not None:
            report.already_mapped += 1
            if _align(existing, summary):
                report.corrected.append(summary.sku)
                new_sku_ids.append(existing.sku_id)
            continue
        if not create:
            continue
        sku = Sku.objects.filter(code=summary.sku).first()
        if sku is None:
            report.unmatched.append({"seller_sku": summary.sku, "asin": summary.asin})
            continue
        Listing.objects.create(
            channel=channel,
            sku=sku,
            external_id=summary.sku,
            asin=summary.asin or "",
            amazon_product_type=summary.product_type or "",
            fulfilment=(
                Listing.Fulfilment.FBA
                if summary.fulfillment_channel == "AFN"
                else Listing.Fulfilment.MERCHANT
            ),
        )
        mapped[summary.sku] = Listing(external_id=summary.sku)
        new_sku_ids.append(sku.pk)
        report.created.append(summary.sku)
    if new_sku_ids:
        from channels.returns import retry_unmapped_returns

        skus_mark_dirty(sku_ids=new_sku_ids)
        inbound.retry_quarantined(channel=channel)
        retry_unmapped_returns(channel)
    return report


def check_fulfilment(channel: Channel) -> list[str]:
    """Bring mapped listings' fulfilment (and ASIN, product type) in line with Amazon, creating
    none: an offer switched to FBA in Seller Central stops getting merchant quantities within
    one check. Returns the seller SKUs whose fulfilment changed."""
    corrected = import_mapping(channel, create=False).corrected
    for seller_sku in corrected:
        logger.warning(
            "channel %s: Amazon now says %s is fulfilled otherwise; the listing follows it",
            channel.code,
            seller_sku,
        )
    return corrected


def _align(listing: Listing, summary: amazon.ListingSummary) -> bool:
    """Take Amazon's word for a mapped listing's fulfilment, ASIN and product type."""
    changed = []
    if summary.fulfillment_channel in ("AFN", "MFN"):
        fulfilment = (
            Listing.Fulfilment.FBA
            if summary.fulfillment_channel == "AFN"
            else Listing.Fulfilment.MERCHANT
        )
        if listing.fulfilment != fulfilment:
            listing.fulfilment = fulfilment
            changed.append("fulfilment")
    for name, value in (("asin", summary.asin), ("amazon_product_type", summary.product_type)):
        if value and getattr(listing, name) != value:
            setattr(listing, name, value)
            changed.append(name)
    if changed:
        listing.save(update_fields=changed)
    return "fulfilment" in changed


def _client(channel: Channel) -> amazon.AmazonClient:
    return client_for(channel)


def _product_type(listing: Listing | None) -> str:
    return (listing.amazon_product_type if listing is not None else "") or "PRODUCT"


def _issues_text(issues) -> str:
    parts = []
    for issue in issues or ():
        if isinstance(issue, dict):
            parts.append(f"{issue.get('code', '')}: {issue.get('message', '')}".strip(": "))
        else:
            parts.append(str(issue))
    return "; ".join(parts) or "refused by Amazon"
