"""Calls to a Shopify shop on behalf of a channel: its client, and the order actions the
core asks of the lane (read an order, confirm a shipment, cancel)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

from channels.lanes.throttle import throttle_for
from channels.models import Channel, ChannelOrder

from . import client as shopify


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


def gid(kind: str, value: str) -> str:
    value = str(value)
    return value if value.startswith("gid://") else f"gid://shopify/{kind}/{value}"


def fetch_order(channel: Channel, order_id: str) -> dict | None:
    """One order in the webhook's shape (for orders/edited, whose payload lists only deltas);
    None when the shop no longer knows it."""
    return client_for(channel).get_order(gid("Order", order_id))


def confirm_shipment(
    order: ChannelOrder,
    *,
    company: str,
    number: str,
    url: str | None = None,
    lines: dict[str, int] | None = None,
) -> shopify.FulfillmentResult:
    """Fulfil the order in Shopify with tracking: `lines` (order line id -> items), or what
    is still open. A shipment made here (channels.outbox) has left the ledger already; its
    fulfillments/create echo is recognised by the fulfillment's id. One made only in Shopify
    reaches the ledger through that webhook (or the poll)."""
    tracking = shopify.Tracking(company=company, number=number, url=url)
    return client_for(order.channel).create_fulfillment(
        gid("Order", order.external_id), tracking, lines=lines
    )


def cancel_order(order: ChannelOrder, *, reason: str = "OTHER", restock: bool = True):
    """Cancel the order in Shopify (an oversell the console decided to cancel). The release
    reaches the ledger through the orders/cancelled webhook (or the poll)."""
    return client_for(order.channel).cancel_order(
        gid("Order", order.external_id), reason=reason, restock=restock
    )
