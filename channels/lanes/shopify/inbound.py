"""Shopify webhook topics applied by the ingest worker: orders, edits, refunds, fulfilments,
and inventory levels (our own sets echo back there; anything else is a drift signal)."""

from __future__ import annotations

from channels import orders
from channels.inbox import observe_level, outcome_of
from channels.lanes.base import ClaimKeys
from channels.models import Channel, InboundEvent, Listing, OrderShipment
from inventory_sync.lib.locks import lock_rows

from . import api, webhooks

_NOTHING = object()  # no prefetched order: read it inside the handler


def order(channel: Channel, payload: dict, event: InboundEvent) -> tuple[str, str]:
    return outcome_of(
        orders.apply_order_snapshot(channel=channel, snapshot=webhooks.order_snapshot(payload))
    )


def read_edited_order(channel: Channel, payload: dict) -> dict | None:
    # The edit payload lists deltas by line id, not the order: read the order itself.
    return api.fetch_order(channel, webhooks.edited_order_id(payload))


def order_edited(channel: Channel, payload: dict, event: InboundEvent) -> tuple[str, str]:
    order_id = webhooks.edited_order_id(payload)
    order = getattr(event, "prefetched", _NOTHING)
    if order is _NOTHING:
        order = read_edited_order(channel, payload)
    if isinstance(order, Exception):
        raise order
    if order is None:
        return InboundEvent.Status.IGNORED, f"order {order_id} is unknown to the shop"
    return outcome_of(
        orders.apply_order_snapshot(channel=channel, snapshot=webhooks.order_snapshot(order))
    )


def refund(channel: Channel, payload: dict, event: InboundEvent) -> tuple[str, str]:
    order_id, lines = webhooks.refund_lines(payload)
    return outcome_of(
        orders.apply_refund(channel=channel, order_external_id=order_id, refund_lines=lines)
    )


def fulfillment(channel: Channel, payload: dict, event: InboundEvent) -> tuple[str, str]:
    order_id, fulfillment_id, status, lines = webhooks.shipment(payload)
    if status in ("cancelled", "error", "failure"):
        # Never shipped. Pending and open ones count: the units have left our stock for the
        # fulfilment service (we do not subscribe to its later updates).
        return InboundEvent.Status.IGNORED, f"fulfillment {fulfillment_id} is {status}"
    ours = our_shipment(channel, order_id, fulfillment_id)
    if ours is not None:
        return (
            InboundEvent.Status.IGNORED,
            f"fulfillment {fulfillment_id} is our shipment {ours}: its units left when it was made",
        )
    return outcome_of(
        orders.apply_shipment(
            channel=channel, order_external_id=order_id, shipment_id=fulfillment_id, lines=lines
        )
    )


def our_shipment(channel: Channel, order_id: str, fulfillment_id: str) -> int | None:
    """The shipment of ours (channels.outbox) that made this fulfillment, if one did.

    Our shipments leave the ledger when they are made, so their echo must record nothing;
    a fulfillment made in Shopify's admin ships as before. While one of the order's shipments
    waits for Shopify's answer the echo may come first: the event waits (NotYetKnown is
    retried) until the answer says whose fulfillment it is. The order's shipments are read in
    one statement, so a shipment confirmed meanwhile is seen either pending or confirmed with
    its reference, never neither.
    """
    known = {fulfillment_id, api.gid("Fulfillment", fulfillment_id)}
    rows = OrderShipment.objects.filter(
        order__channel=channel, order__external_id=order_id
    ).values_list("pk", "status", "channel_reference")
    waiting = False
    for pk, status, reference in rows:
        if status == OrderShipment.Status.CONFIRMED and known & set(reference.split(",")):
            return pk
        waiting |= status == OrderShipment.Status.PENDING
    if waiting:
        raise orders.NotYetKnown(
            f"Order {order_id} has a shipment of ours waiting for Shopify's answer: "
            f"fulfillment {fulfillment_id} may be its echo."
        )
    return None


def inventory_level(channel: Channel, payload: dict, event: InboundEvent) -> tuple[str, str]:
    """Record what the channel shows. Our own sets echo back here: matching what we expect
    (pushed + the channel's own moves we ingested), they are not drift; anything else is a
    drift signal for reconciliation (often a sale whose webhook is still on its way)."""
    item, location, available = webhooks.inventory_level(payload)
    synced = channel.external_location_id.rsplit("/", 1)[-1]
    if synced and location != synced:
        return InboundEvent.Status.IGNORED, f"location {location} is not the synced location"
    listing = lock_rows(
        Listing.objects.filter(
            channel=channel,
            shopify_inventory_item_id__in=[item, f"gid://shopify/InventoryItem/{item}"],
        )
    ).first()
    if listing is None:
        return InboundEvent.Status.IGNORED, f"inventory item {item} is not a listing of ours"
    return observe_level(listing, available, event.occurred_at or event.received_at)


def level_key(payload: dict) -> tuple | None:
    """Only the newest level of an item at a location matters (ingest settles older ones)."""
    try:
        return (str(payload["inventory_item_id"]), str(payload["location_id"]))
    except (KeyError, TypeError):
        return None  # left for the handler, which quarantines it with a reason


def order_keys(payload: dict) -> ClaimKeys:
    """An order's row, and its lines' listings and SKUs."""
    try:
        return ClaimKeys(
            order=str(payload["id"]),
            lines=tuple(
                (webhooks.variant_gid(line.get("variant_id")), (line.get("sku") or "").strip())
                for line in payload.get("line_items") or []
            ),
        )
    except (KeyError, TypeError, AttributeError):
        return ClaimKeys()  # the handler quarantines it with the reason


def order_id_keys(payload: dict) -> ClaimKeys:
    """A refund or fulfilment names its order; the order's lines name the SKUs."""
    try:
        return ClaimKeys(order=str(payload["order_id"]))
    except (KeyError, TypeError):
        return ClaimKeys()


def level_keys(payload: dict) -> ClaimKeys:
    try:
        item = str(payload["inventory_item_id"])
    except (KeyError, TypeError):
        return ClaimKeys()
    return ClaimKeys(
        listings_by=("shopify_inventory_item_id", (item, f"gid://shopify/InventoryItem/{item}"))
    )


HANDLERS = {
    "orders/create": order,
    "orders/updated": order,
    "orders/cancelled": order,
    "orders/edited": order_edited,
    "refunds/create": refund,
    "fulfillments/create": fulfillment,
    "inventory_levels/update": inventory_level,
}
PREFETCHERS = {"orders/edited": read_edited_order}
SUPERSEDE_KEYS = {"inventory_levels/update": level_key}
# orders/edited is read back from the shop first (a call), so it is applied on its own.
CLAIM_KEYS = {
    "orders/create": order_keys,
    "orders/updated": order_keys,
    "orders/cancelled": order_keys,
    "refunds/create": order_id_keys,
    "fulfillments/create": order_id_keys,
    "inventory_levels/update": level_keys,
}
