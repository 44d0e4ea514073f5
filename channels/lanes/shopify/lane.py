"""The Shopify lane: sets `available` at the channel's location with compare-and-set
(inventorySetQuantities with changeFromQuantity, @idempotent), and wires the package's
webhooks, inbound handlers, order actions and mapping import into the lane protocol.

The client knows Shopify; this package knows our rows (channels, listings, push items).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence

from django.urls import path
from django.utils.dateparse import parse_datetime

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

from . import api, inbound, intake, mapping
from . import client as shopify
from .api import client_for, gid

logger = logging.getLogger(__name__)

STALE = "CHANGE_FROM_QUANTITY_STALE"
# What reconciliation compares: what shoppers can buy, and what open orders hold.
RECONCILE_NAMES = ("available", "committed")
# Shopify's THROTTLED answer and an HTTP 429.
THROTTLED_OUTCOMES = ("throttled", "rate_limited")


class ShopifyLane(Lane):
    """Sets `available` at the channel's location with compare-and-set, 250 per call."""

    kind = Channel.Kind.SHOPIFY
    label = "Shopify"
    can_confirm_shipments = True
    max_batch = shopify.MAX_INPUT_ITEMS
    # Every minute (the sweep's pace): the orders query costs little of the shop's bucket.
    orders_poll_seconds = 0
    can_cancel_orders = True
    inbound_handlers = inbound.HANDLERS
    prefetchers = inbound.PREFETCHERS
    supersede_keys = inbound.SUPERSEDE_KEYS
    claim_keys = inbound.CLAIM_KEYS
    fast_receiver = staticmethod(intake.receive_shopify)
    # 250 items a call: a shop's listings read back in a few calls.
    read_after_write = True

    def __init__(self, client: shopify.ShopifyClient | None = None, **client_options):
        self._client = client
        self._options = client_options

    def _for(self, channel: Channel) -> shopify.ShopifyClient:
        return self._client or client_for(channel, **self._options)

    def push_payload(self, channel: Channel, listing: Listing) -> dict[str, str]:
        return {
            "inventory_item_id": listing.shopify_inventory_item_id,
            "location_id": listing.shopify_location_id or channel.external_location_id,
        }

    def send(self, channel: Channel, items: Sequence[PushItem], key: str) -> SendResult:
        quantities = [
            shopify.SetQuantity(
                inventory_item_id=gid("InventoryItem", item.payload.get("inventory_item_id", "")),
                location_id=gid("Location", item.payload.get("location_id", "")),
                quantity=item.quantity,
                change_from=item.change_from,
            )
            for item in items
        ]
        result = SendResult()
        try:
            answer = self._for(channel).set_available(
                quantities,
                idempotency_key=key,
                reference_uri=f"gid://inventory-sync/AllocationPush/{key}",
            )
        except shopify.ShopifyUserError as error:
            _record_call(result, error.call)
            for item in items:
                result.refused[item.listing_id] = error.message
            return result
        except shopify.ShopifyError as error:
            # Throttled, unavailable, timed out, refused auth: the same request goes again
            # under the same key later (Shopify replays the first result if it landed).
            _record_call(result, error.call)
            result.retry = True
            result.error = f"{type(error).__name__}: {error.message}"
            return result
        _record_call(result, answer.call)
        if answer.applied:
            result.acknowledged = {item.listing_id for item in items}
            return result
        # Nothing of a refused call is applied (no partial application is documented).
        refused_at = {}
        for user_error in answer.user_errors:
            index = _quantity_index(user_error.field)
            if user_error.code == STALE:
                continue
            if index is not None and index < len(items):
                refused_at[items[index].listing_id] = f"{user_error.code}: {user_error.message}"
        if answer.stale:
            result.stale = {item.listing_id for item in items if item.listing_id not in refused_at}
        result.refused = refused_at
        if not answer.stale and not refused_at:
            result.refused = {
                item.listing_id: "; ".join(f"{e.code}: {e.message}" for e in answer.user_errors)
                for item in items
            }
        return result

    def read_levels(self, channel: Channel, listings: Sequence[Listing]) -> dict[int, int | None]:
        """What the shop shows now, read at each listing's own location (the one it sets)."""
        found: dict[int, int | None] = {}
        client = self._for(channel)
        for location, by_item in _by_location(channel, listings).items():
            levels = client.read_levels(list(by_item), location)
            for item, listing_ids in by_item.items():
                level = levels.get(item)
                for listing_id in listing_ids:
                    found[listing_id] = level.available if level is not None else None
        return found

    def read_all_levels(self, channel: Channel, listings: Sequence[Listing]) -> LevelRead:
        """`available` and `committed` at each listing's own location, 250 items a call (the
        most `nodes(ids:)` takes; 3 points an item, so 750 of the 1000-point cap). The shop's
        bucket, not the call count, sets the pace: a 2000-point bucket restoring 100 a second
        reads about 33 items a second once its first 2000 points are spent."""
        tally = _CallTally(self._options.get("on_call"))
        if self._client is not None:
            # A client handed to the lane reports to whom it was built for: nothing to count.
            client, method = self._client, "inventoryLevel nodes (calls not counted)"
        else:
            client = client_for(channel, **{**self._options, "on_call": tally})
            method = "inventoryLevel nodes"
        read = LevelRead(levels={}, method=method)
        for location, by_item in _by_location(channel, listings).items():
            levels = client.read_levels(list(by_item), location, names=RECONCILE_NAMES)
            for item, listing_ids in by_item.items():
                level = levels.get(item)
                for listing_id in listing_ids:
                    read.levels[listing_id] = level.available if level is not None else None
                    if level is not None:
                        read.committed[listing_id] = level.committed
        read.calls, read.throttled = tally.calls, tally.throttled
        return read

    def poll_orders(self, channel: Channel, since, until) -> Iterator[PolledOrder]:
        for order in self._for(channel).iter_orders_updated_since(since):
            yield PolledOrder(
                id=str(order["id"]),
                updated_stamp=str(order.get("updated_at")),
                updated=parse_datetime(str(order.get("updated_at") or "")),
                placed=parse_datetime(str(order.get("created_at") or "")),
                body=order,
                topic="orders/updated",
            )

    def fetch_order(self, channel: Channel, order_id: str) -> dict | None:
        return api.fetch_order(channel, order_id)

    def confirm_shipment(self, order: ChannelOrder, shipment: Shipment) -> str:
        """A fulfillment with tracking of the shipment's lines (every open line when it names
        none); returns the fulfillment ids, comma-separated (one per location shipped from).
        Throttling, an outage and a refused token are worth trying again; Shopify refusing
        the fulfillment itself (the order cancelled, the lines no longer open) is not."""
        tracking = shopify.Tracking(
            company=shipment.carrier_name or shipment.carrier,
            number=shipment.tracking_number,
            url=shipment.tracking_url or None,
        )
        lines = dict(shipment.lines) or None
        try:
            result = self._for(order.channel).create_fulfillment(
                gid("Order", order.external_id), tracking, lines=lines
            )
        except shopify.ShopifyError as error:
            raise ChannelRefused(
                f"Shopify did not take the shipment: {error}",
                retryable=error.retryable or isinstance(error, shopify.ShopifyAuthError),
                retry_after=error.retry_after,
            ) from error
        return ",".join(fulfillment.id for fulfillment in result.fulfillments)

    def cancel_order(self, order: ChannelOrder, *, reason: str) -> None:
        api.cancel_order(order, reason=reason)

    def import_mapping(self, channel: Channel, *, progress=None) -> MappingReport:
        return mapping.import_mapping(channel, progress=progress)

    def map_listing(self, channel: Channel, variant: str, channel_sku: str, sku) -> Listing:
        return mapping.map_listing(channel, variant, channel_sku, sku)

    def describe_unmapped(self, row: dict) -> str:
        return (
            f"variant {row['variant']} (sku {row['sku']!r}, "
            f"barcode {row['barcode']!r}, {row['title']})"
        )

    def webhook_urls(self) -> list:
        return [path("shopify/<int:channel_id>/", intake.webhook, name="shopify")]

    def credential_fields(self) -> list[CredentialField]:
        return [
            CredentialField("access_token", secret_field("Admin API access token (shpat_…).")),
            CredentialField(
                "webhook_secret",
                secret_field("The app's client secret that signs webhooks."),
                # Shopify may sign with the old secret for up to an hour after a rotation.
                previous="old_webhook_secret",
            ),
        ]


class _CallTally:
    """Counts every HTTP request of the calls a client reports (retries and throttled answers
    included), then hands each call on to the hook the lane's options named, if any."""

    def __init__(self, forward=None) -> None:
        self.calls = 0
        self.throttled = 0
        self._forward = forward

    def __call__(self, call: shopify.CallRecord) -> None:
        self.calls += len(call.attempts)
        self.throttled += sum(1 for a in call.attempts if a.outcome in THROTTLED_OUTCOMES)
        if self._forward is not None:
            self._forward(call)


def _by_location(channel: Channel, listings: Sequence[Listing]) -> dict[str, dict[str, list[int]]]:
    """Location gid -> inventory item gid -> listing ids: a read goes location by location."""
    by_location: dict[str, dict[str, list[int]]] = {}
    for listing in listings:
        location = gid("Location", listing.shopify_location_id or channel.external_location_id)
        item = gid("InventoryItem", listing.shopify_inventory_item_id)
        by_location.setdefault(location, {}).setdefault(item, []).append(listing.pk)
    return by_location


def _quantity_index(path: Sequence[str] | None) -> int | None:
    """["input", "quantities", "3", "changeFromQuantity"] → 3."""
    if not path:
        return None
    parts = list(path)
    for position, part in enumerate(parts[:-1]):
        if part == "quantities" and parts[position + 1].isdigit():
            return int(parts[position + 1])
    return None


def _record_call(result: SendResult, call: shopify.CallRecord | None) -> None:
    if call is None:
        return
    result.calls += len(call.attempts)
    result.throttled += sum(1 for a in call.attempts if a.outcome in THROTTLED_OUTCOMES)
    result.http_status = call.http_status
    result.request = _json(call.request_body)
    result.response = _json(call.response_body)


def _json(raw: bytes | None) -> dict:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {"raw": raw[:2000].decode(errors="replace")}
    return value if isinstance(value, dict) else {"value": value}
