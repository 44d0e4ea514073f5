"""The Shopify lane: the push pipeline's Lane protocol, order reads and the mapping import,
on top of the Admin GraphQL client (channels.adapters.shopify).

The client knows Shopify; this module knows our rows (channels, listings, push items).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings

from channels.models import Channel, ChannelOrder, Listing
from channels.push import PushItem, SendResult

from . import shopify
from .throttle import throttle_for

logger = logging.getLogger(__name__)

STALE = "CHANGE_FROM_QUANTITY_STALE"


def client_for(channel: Channel, **overrides) -> shopify.ShopifyClient:
    credentials = channel.credentials
    base = channel.api_base_url or f"https://{channel.marketplace}"
    # Shopify's bucket is per app and shop: channels on one shop share it.
    shop_key = urlsplit(base).netloc or channel.code
    options = {
        "throttle": throttle_for(shop_key),
        "timeout": getattr(settings, "SHOPIFY_TIMEOUT_SECONDS", 10),
        "max_attempts": getattr(settings, "SHOPIFY_MAX_ATTEMPTS", 6),
        "backoff_base": getattr(settings, "SHOPIFY_BACKOFF_BASE_SECONDS", 0.5),
        **overrides,
    }
    return shopify.ShopifyClient(
        base,
        credentials.get("access_token", ""),
        channel.api_version or shopify.API_VERSION,
        **options,
    )


class ShopifyLane:
    """Sets `available` at the channel's location with compare-and-set, 250 per call."""

    max_batch = shopify.MAX_INPUT_ITEMS

    def __init__(self, client: shopify.ShopifyClient | None = None, **client_options):
        self._client = client
        self._options = client_options

    def _for(self, channel: Channel) -> shopify.ShopifyClient:
        return self._client or client_for(channel, **self._options)

    def send(self, channel: Channel, items: Sequence[PushItem], key: str) -> SendResult:
        quantities = [
            shopify.SetQuantity(
                inventory_item_id=_gid("InventoryItem", item.inventory_item_id),
                location_id=_gid("Location", item.location_id),
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
        by_location: dict[str, dict[str, list[int]]] = {}
        for listing in listings:
            location = _gid("Location", listing.shopify_location_id or channel.external_location_id)
            item = _gid("InventoryItem", listing.shopify_inventory_item_id)
            by_location.setdefault(location, {}).setdefault(item, []).append(listing.pk)
        found: dict[int, int | None] = {}
        client = self._for(channel)
        for location, by_item in by_location.items():
            levels = client.read_levels(list(by_item), location)
            for item, listing_ids in by_item.items():
                level = levels.get(item)
                for listing_id in listing_ids:
                    found[listing_id] = level.available if level is not None else None
        return found


def fetch_order(channel: Channel, order_id: str) -> dict | None:
    """One order in the webhook's shape (for orders/edited, whose payload lists only deltas);
    None when the shop no longer knows it."""
    return client_for(channel).get_order(_gid("Order", order_id))


def confirm_shipment(
    order: ChannelOrder, *, company: str, number: str, url: str | None = None
) -> shopify.FulfillmentResult:
    """Fulfil what is still open on the order in Shopify, with tracking. The shipment reaches
    the ledger through the fulfillments/create webhook Shopify sends back (or the poll)."""
    tracking = shopify.Tracking(company=company, number=number, url=url)
    return client_for(order.channel).create_fulfillment(_gid("Order", order.external_id), tracking)


def cancel_order(order: ChannelOrder, *, reason: str = "OTHER", restock: bool = True):
    """Cancel the order in Shopify (an oversell the console decided to cancel). The release
    reaches the ledger through the orders/cancelled webhook (or the poll)."""
    return client_for(order.channel).cancel_order(
        _gid("Order", order.external_id), reason=reason, restock=restock
    )


@dataclass(slots=True)
class MappingReport:
    created: list[str] = field(default_factory=list)
    already_mapped: int = 0
    unmatched: list[dict] = field(default_factory=list)
    ambiguous: list[dict] = field(default_factory=list)


def import_mapping(channel: Channel, *, progress=None) -> MappingReport:
    """Read every variant of the shop and create a listing for each one whose SKU (or, failing
    that, barcode) names exactly one canonical SKU. Unmatched and ambiguous variants are
    reported for a person to resolve; existing listings are left as they are.

    Afterwards quarantined orders of the channel are retried (a new mapping may explain them)
    and the mapped SKUs are recomputed, so their listings get a desired quantity.
    """
    from allocation.services import skus_mark_dirty
    from channels import inbound
    from ledger.models import Sku

    report = MappingReport()
    mapped = set(Listing.objects.filter(channel=channel).values_list("external_id", flat=True))
    new_sku_ids: list[int] = []
    for count, variant in enumerate(client_for(channel).iter_variants(), start=1):
        if progress is not None:
            progress(count, variant)
        if variant.variant_gid in mapped:
            report.already_mapped += 1
            continue
        candidates = list(Sku.objects.filter(code=variant.sku)) if variant.sku else []
        if not candidates and variant.barcode:
            candidates = list(Sku.objects.filter(barcode=variant.barcode))
        described = {
            "variant": variant.variant_gid,
            "sku": variant.sku,
            "barcode": variant.barcode,
            "title": variant.title,
        }
        if not candidates:
            report.unmatched.append(described)
            continue
        if len(candidates) > 1:
            report.ambiguous.append(described)
            continue
        Listing.objects.create(
            channel=channel,
            sku=candidates[0],
            external_id=variant.variant_gid,
            shopify_inventory_item_id=variant.inventory_item_gid or "",
            shopify_location_id=channel.external_location_id,
        )
        mapped.add(variant.variant_gid)
        new_sku_ids.append(candidates[0].pk)
        report.created.append(variant.variant_gid)
    if new_sku_ids:
        skus_mark_dirty(sku_ids=new_sku_ids)
        inbound.retry_quarantined(channel=channel)
    return report


def _gid(kind: str, value: str) -> str:
    value = str(value)
    return value if value.startswith("gid://") else f"gid://shopify/{kind}/{value}"


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
    result.throttled += sum(1 for a in call.attempts if a.outcome in ("throttled", "rate_limited"))
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
