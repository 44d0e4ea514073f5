"""Telling a channel that we shipped one of its orders (with the carrier and tracking number).

The ledger learns of the shipment from the channel itself afterwards (Shopify's
fulfillments/create webhook, Amazon's order showing its shipped quantities), once, like any
shipment: confirming here moves no stock, so a confirmation made in the channel's own back
office and one made here cannot ship a unit twice.
"""

from __future__ import annotations

from inventory_sync.lib.errors import Conflict

from .lanes.base import ChannelRefused, Shipment
from .lanes.registry import lane_for_kind
from .models import ChannelOrder

__all__ = ["ChannelRefused", "Shipment", "confirm_shipment"]


def confirm_shipment(order: ChannelOrder, shipment: Shipment) -> None:
    """Confirm the shipment on the order's channel (raises Conflict, DomainError or
    ChannelRefused; nothing moves in the ledger here)."""
    if order.status == "cancelled" or order.cancelled_at is not None:
        raise Conflict(f"Order {order.name or order.external_id} is cancelled.")
    channel = order.channel
    lane = lane_for_kind(channel.kind)
    if not lane.can_confirm_shipments:
        raise Conflict(f"Channel {channel.code} ({channel.kind}) has no shipment confirmation.")
    lane.confirm_shipment(order, shipment)
