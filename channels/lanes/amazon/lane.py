"""The Amazon lane: the push pipeline's Lane protocol (with read-back), order reads, FBA
inventory, shipment confirmation and the mapping import, on top of the SP-API client
(channels.lanes.amazon.client). One channel is one seller account in one marketplace.

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
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta

from django import forms
from django.conf import settings
from django.urls import path

from channels.lanes.base import (
    ChannelRefused,
    CredentialField,
    Lane,
    LevelRead,
    MappingReport,
    PolledOrder,
    PushItem,
    SendResult,
    Shipment,
)
from channels.lanes.forms import secret_field
from channels.models import Channel, ChannelOrder, Listing
from inventory_sync.lib.errors import Conflict, DomainError

from . import api, inbound, intake, jobs, listings_report, mapping, polling
from . import client as amazon
from .api import client_for, counted
from .cancellation import cancel_reason

logger = logging.getLogger(__name__)

# Up to this many listings in one push go as patches (5 per second); more go as one feed.
PATCH_LIMIT = 20
# Decreases always go as patches, this many a round (10 s of Amazon's patch rate).
DECREASE_PATCH_LIMIT = 50


class AmazonLane(Lane):
    """Sets merchant (MFN) quantities; applied only once a read-back shows them."""

    kind = Channel.Kind.AMAZON
    label = "Amazon"
    can_confirm_shipments = True
    can_cancel_orders = True  # merchant-fulfilled orders, through the acknowledgement feed
    max_batch = 2000
    inbound_handlers = inbound.HANDLERS
    prefetchers = inbound.PREFETCHERS
    periodic_jobs = jobs.JOBS

    @property
    def orders_poll_seconds(self) -> int:
        # searchOrders allows about one call in three minutes sustained (its burst of 20
        # absorbs a faster pace for a while, the client's bucket paces the rest).
        return int(getattr(settings, "AMAZON_ORDERS_POLL_SECONDS", 120))

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
            with counted(client, result):
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
            with counted(client, result):
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

    def read_all_levels(self, channel: Channel, listings: Sequence[Listing]) -> LevelRead:
        """The merchant quantity Amazon shows per listing (None: FBA, none, unknown SKU), by
        the All Listings Report for a whole seller, by searchListingsItems for a few
        (listings_report.REPORT_THRESHOLD). `calls` counts document downloads too."""
        client = self._for(channel)
        with _tallied(client) as tally:
            read = listings_report.read_quantities(
                client,
                [listing.external_id for listing in listings],
                sleep=self._options.get("sleep", time.sleep),
            )
        return LevelRead(
            levels={listing.pk: read.quantities.get(listing.external_id) for listing in listings},
            calls=tally.calls,
            throttled=tally.throttled,
            method=read.method,
        )

    def poll_window(self, channel: Channel, now: datetime) -> tuple[datetime, datetime | None]:
        return polling.window(channel, now)

    def poll_finished(self, channel: Channel, *, finished: bool) -> None:
        polling.resize_slice(channel, finished=finished)

    def poll_orders(self, channel: Channel, since, until) -> Iterator[PolledOrder]:
        return polling.orders_updated(channel, since, until, self._client)

    def fetch_order(self, channel: Channel, order_id: str) -> dict | None:
        return api.fetch_order(channel, order_id)

    def confirm_shipment(self, order: ChannelOrder, shipment: Shipment) -> str:
        """One package with the shipment's lines (confirmShipment); returns its package
        reference. Throttling, an outage, a refused token and an answer lost after Amazon may
        have applied it are worth trying again (the next try reads the order first); Amazon
        refusing the package itself (the order cancelled, more items than unshipped) is not."""
        if order.lines.filter(listing__fulfilment=Listing.Fulfilment.FBA).exists():
            raise Conflict(
                f"Order {order.external_id} is fulfilled by Amazon (FBA): Amazon ships it."
            )
        try:
            return api.confirm_package(self._for(order.channel), order, shipment)
        except ValueError as error:  # what Amazon would refuse, refused before sending
            raise DomainError(f"Amazon cannot take this shipment: {error}") from error
        except amazon.AmazonError as error:
            raise ChannelRefused(
                f"Amazon did not take the shipment: {error}",
                retryable=error.retryable
                or error.maybe_applied
                or error.status in (None, 401, 403),
                retry_after=error.retry_after,
            ) from error

    def import_mapping(self, channel: Channel, *, progress=None) -> MappingReport:
        return mapping.import_mapping(channel, progress=progress)

    def map_listing(self, channel: Channel, variant: str, channel_sku: str, sku) -> Listing:
        return mapping.map_listing(channel, variant, channel_sku, sku)

    def describe_unmapped(self, row: dict) -> str:
        return f"seller SKU {row['seller_sku']!r} (ASIN {row['asin']!r})"

    def webhook_urls(self) -> list:
        return [path("amazon/<int:channel_id>/", intake.webhook, name="amazon")]

    def cancel_order(self, order: ChannelOrder, *, reason: str) -> None:
        """Cancel a merchant-fulfilled order with the order acknowledgement feed
        (channels.lanes.amazon.cancellation). Returns once Amazon queued the feed; the order
        turns cancelled when Amazon processed it and the order change comes back inbound.
        An Amazon-fulfilled or shipped order is refused before anything is sent."""
        if (
            order.fulfilled_by_channel
            or order.lines.filter(listing__fulfilment=Listing.Fulfilment.FBA).exists()
        ):
            raise Conflict(f"Order {order.external_id} is fulfilled by Amazon: Amazon cancels it.")
        if order.lines.filter(shipped_units__gt=0).exists():
            raise Conflict(
                f"Order {order.external_id} has shipped items: Amazon would refund all of it."
            )
        items = list(order.lines.order_by("id").values_list("external_id", flat=True))
        try:
            self._for(order.channel).cancel_order(
                order.external_id, items, reason=cancel_reason(reason)
            )
        except ValueError as error:  # what Amazon would refuse, refused before sending
            raise DomainError(f"Amazon cannot take this cancellation: {error}") from error

    def credential_fields(self) -> list[CredentialField]:
        return [
            CredentialField(
                "refresh_token", secret_field("Amazon: the seller's LWA refresh token (Atzr|…).")
            ),
            CredentialField(
                "lwa_app_id",
                forms.CharField(
                    required=False,
                    help_text="Amazon: the LWA client id of the app. Leave empty to keep it.",
                ),
            ),
            CredentialField("lwa_client_secret", secret_field("Amazon: the LWA client secret.")),
            CredentialField(
                "notification_key",
                secret_field("Amazon: the API key notifications carry in X-Api-Key."),
                # The EventBridge connection may still send the old key until it is updated too.
                previous="old_notification_key",
            ),
        ]


class _Tally:
    """Requests of one read: every attempt of every SP-API call and document transfer."""

    def __init__(self) -> None:
        self.calls = 0
        self.throttled = 0

    def add(self, call: amazon.AmazonCall) -> None:
        self.calls += len(call.attempts)
        self.throttled += sum(1 for attempt in call.attempts if attempt.outcome == "throttled")


class _TallyHook:
    """A client's `on_call` that adds each finished call to the tally of the read running in
    the calling thread, then hands it on to the hook it replaced (the per-push counters)."""

    def __init__(self, forward) -> None:
        self.forward = forward

    def __call__(self, call: amazon.AmazonCall) -> None:
        tally = getattr(_reading, "tally", None)
        if tally is not None:
            tally.add(call)
        self.forward(call)


_reading = threading.local()
_hooking = threading.Lock()


@contextmanager
def _tallied(client: amazon.AmazonClient) -> Iterator[_Tally]:
    """Count the calls `client` makes in this thread meanwhile. The hook stays on the client:
    it is cached and shared by threads, and a hook swapped back at the end of one thread's read
    could take away another's."""
    with _hooking:
        if not isinstance(client.on_call, _TallyHook):
            # A client given to the lane has no hook yet: the one client_for sets (as counted
            # would), so that a push on it is still counted.
            client.on_call = _TallyHook(client.on_call or api._count_call)
    tally, outer = _Tally(), getattr(_reading, "tally", None)
    _reading.tally = tally
    try:
        yield tally
    finally:
        _reading.tally = outer


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
