"""Telling a channel that we shipped one of its orders (with the carrier and tracking number).

The ledger learns of the shipment from the channel itself afterwards (Shopify's
fulfillments/create webhook, Amazon's order showing its shipped quantities), once, like any
shipment: confirming here moves no stock, so a confirmation made in the channel's own back
office and one made here cannot ship a unit twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from inventory_sync.lib.errors import Conflict, DomainError

from .models import Channel, ChannelOrder, Listing


class ChannelRefused(DomainError):
    """The channel answered no, or could not be reached: nothing was confirmed."""

    code = "channel_refused"
    http_status = 502


@dataclass(frozen=True, slots=True)
class Shipment:
    carrier: str
    tracking_number: str
    carrier_name: str = ""  # the carrier's name when `carrier` is "Other"
    shipping_method: str = ""
    ship_date: datetime | None = None


def confirm_shipment(order: ChannelOrder, shipment: Shipment) -> None:
    if order.status == "cancelled" or order.cancelled_at is not None:
        raise Conflict(f"Order {order.name or order.external_id} is cancelled.")
    channel = order.channel
    if channel.kind == Channel.Kind.AMAZON:
        _confirm_on_amazon(order, shipment)
    elif channel.kind == Channel.Kind.SHOPIFY:
        from .adapters import shopify
        from .adapters.shopify_lane import confirm_shipment as on_shopify

        try:
            on_shopify(order, company=shipment.carrier, number=shipment.tracking_number)
        except shopify.ShopifyError as error:
            raise ChannelRefused(f"Shopify did not take the shipment: {error}") from error
    else:
        raise Conflict(f"Channel {channel.code} ({channel.kind}) has no shipment confirmation.")


def _confirm_on_amazon(order: ChannelOrder, shipment: Shipment) -> None:
    from .adapters import amazon
    from .adapters.amazon_lane import confirm_shipment as on_amazon

    if order.lines.filter(listing__fulfilment=Listing.Fulfilment.FBA).exists():
        raise Conflict(f"Order {order.external_id} is fulfilled by Amazon (FBA): Amazon ships it.")
    try:
        on_amazon(
            order,
            carrier=shipment.carrier,
            tracking_number=shipment.tracking_number,
            ship_date=shipment.ship_date or timezone.now(),
            carrier_name=shipment.carrier_name or None,
            shipping_method=shipment.shipping_method or None,
        )
    except ValueError as error:  # what Amazon would refuse, refused before sending
        raise DomainError(f"Amazon cannot take this shipment: {error}") from error
    except amazon.AmazonError as error:
        raise ChannelRefused(f"Amazon did not take the shipment: {error}") from error
