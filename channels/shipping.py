"""Telling a channel that we shipped one of its orders (carrier, tracking number, lines).

The units of a shipment we make leave the ledger when it is made (channels.outbox); this is
the call that tells the channel afterwards, made by the outbox's delivery outside any
transaction. The channel's echo of it (Shopify's fulfillments/create, Amazon's order showing
its shipped quantities) records nothing a second time: the Shopify lane recognises the
fulfillment by the reference returned here, and Amazon's shipped counts are totals the ledger
already carries.
"""

from __future__ import annotations

from inventory_sync.lib.errors import Conflict

from .lanes.base import ChannelRefused, Shipment
from .lanes.registry import lane_for_kind
from .models import ChannelOrder, OrderShipment

__all__ = ["ChannelRefused", "Shipment", "carrier_label", "confirm_shipment", "shipment_of"]

# Amazon takes a carrier outside its carrier codes as "Other" plus the carrier's name; the
# shipment keeps both in its one carrier column as "Other: <name>".
OTHER = "Other"
_OTHER_PREFIX = f"{OTHER}: "


def carrier_label(carrier: str, carrier_name: str = "") -> str:
    """What a shipment stores as its carrier."""
    if carrier == OTHER and carrier_name:
        return f"{_OTHER_PREFIX}{carrier_name}"
    return carrier


def shipment_of(row: OrderShipment) -> Shipment:
    """The lane's view of a shipment of ours: its lines, tracking and our id for it."""
    carrier, name = row.carrier, ""
    if carrier.startswith(_OTHER_PREFIX):
        carrier, name = OTHER, carrier[len(_OTHER_PREFIX) :]
    return Shipment(
        carrier=carrier,
        carrier_name=name,
        tracking_number=row.tracking_number,
        tracking_url=row.tracking_url,
        shipping_method=row.shipping_method,
        ship_date=row.shipped_at,
        lines=tuple((str(line["line"]), int(line["quantity"])) for line in row.lines),
        reference=f"shipment-{row.pk}",
    )


def check_confirmable(order: ChannelOrder) -> None:
    """Conflict unless the order's channel can be told of a shipment of it."""
    if order.status == ChannelOrder.Status.CANCELLED or order.cancelled_at is not None:
        raise Conflict(f"Order {order.name or order.external_id} is cancelled.")
    channel = order.channel
    if not lane_for_kind(channel.kind).can_confirm_shipments:
        raise Conflict(f"Channel {channel.code} ({channel.kind}) has no shipment confirmation.")


def confirm_shipment(order: ChannelOrder, shipment: Shipment, *, lane=None) -> str:
    """Confirm the shipment on the order's channel; returns the channel's reference for it
    (a Shopify fulfillment id, an Amazon package number). Raises Conflict before any call
    when the order is cancelled or its channel cannot confirm shipments, ChannelRefused
    (`retryable` or not) or DomainError when the channel does not take it. Nothing moves in
    the ledger here. `lane`: the lane to call (tests hand one with their client options)."""
    check_confirmable(order)
    lane = lane or lane_for_kind(order.channel.kind)
    return lane.confirm_shipment(order, shipment) or ""
