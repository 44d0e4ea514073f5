"""SP-API notifications applied by the ingest worker: order changes (read back through the
Orders API), polled orders, FBA availability and merchant quantity changes."""

from __future__ import annotations

from channels import orders
from channels.inbox import Deferred, observe_level, outcome_of
from channels.models import Channel, InboundEvent, Listing
from inventory_sync.lib.locks import lock_rows

from . import api, fba, inventory, notifications
from . import orders as amazon_orders
from .client import AmazonThrottled

_NOTHING = object()  # no prefetched order: read it inside the handler


def mfn_quantity(channel: Channel, payload: dict, event: InboundEvent) -> tuple[str, str]:
    """Amazon's merchant quantity of a seller SKU changed: our own patches echo back here, a
    change we did not make (an edit in Seller Central) is a drift signal."""
    body = notifications.payload(payload)
    sku, quantity = body.get("Sku"), body.get("Quantity")
    if not sku or body.get("FulfillmentChannelCode", "DEFAULT") != "DEFAULT":
        return InboundEvent.Status.IGNORED, "not a merchant quantity"
    # Every marketplace channel of the seller shows the same merchant quantity of a SKU.
    listings = list(
        lock_rows(
            Listing.objects.filter(
                channel__kind=Channel.Kind.AMAZON, channel__seller_id=channel.seller_id
            ).filter(external_id=sku, fulfilment=Listing.Fulfilment.MERCHANT)
        )
    )
    if not listings:
        return InboundEvent.Status.IGNORED, f"seller SKU {sku} is not a listing of ours"
    outcomes = [
        observe_level(listing, int(quantity) if quantity is not None else None,
                       event.occurred_at or event.received_at)
        for listing in listings
    ]  # fmt: skip
    return outcomes[0][0], "; ".join(detail for _, detail in outcomes)


def read_order(channel: Channel, payload: dict) -> dict | None:
    # A notification only says the order changed (and may be late or out of order): read the
    # order as it is now; its last-update time decides whether it is news.
    return api.fetch_order(channel, notifications.order_change(payload)[0], wait=False)


def order_change(channel: Channel, payload: dict, event: InboundEvent) -> tuple[str, str]:
    order_id = notifications.order_change(payload)[0]
    order = getattr(event, "prefetched", _NOTHING)
    if order is _NOTHING:
        try:
            order = read_order(channel, payload)
        except AmazonThrottled as error:
            order = error
    if isinstance(order, AmazonThrottled):
        raise Deferred(
            f"order {order_id}: Amazon's getOrder budget is spent; read again shortly",
            retry_after=order.retry_after,
        )
    if isinstance(order, Exception):
        raise order
    if order is None:
        return InboundEvent.Status.IGNORED, f"order {order_id} is unknown to Amazon"
    return apply_order(channel, order, event)


def apply_order(channel: Channel, order: dict, event: InboundEvent) -> tuple[str, str]:
    """An order as the Orders API shows it (read back after a notification, or polled)."""
    result = orders.apply_order_snapshot(
        channel=channel, snapshot=amazon_orders.order_snapshot(order)
    )
    shipped = amazon_orders.shipped_items(order)
    if shipped:
        # Amazon counts shipped items per line; only an increase ships (once), so an older
        # read changes nothing here either.
        shipment = orders.apply_shipped_counts(
            channel=channel, order_external_id=str(order["orderId"]), shipped=shipped
        )
        result.events += shipment.events
        if result.status == "ignored" and shipment.events:
            result.status, result.detail = "applied", ""
    return outcome_of(result)


def fba_availability(channel: Channel, payload: dict, event: InboundEvent) -> tuple[str, str]:
    stock = inventory.from_notification(payload, [channel.marketplace])
    outcome = fba.record_fba_stock(
        channel,
        stock,
        ref=event.dedupe_key,
        occurred_at=event.occurred_at or event.received_at,
    )
    status = (
        InboundEvent.Status.APPLIED if outcome.status == "applied" else InboundEvent.Status.IGNORED
    )
    return status, outcome.detail


HANDLERS = {
    notifications.ORDER_CHANGE: order_change,
    "order": apply_order,
    notifications.FBA_INVENTORY_AVAILABILITY_CHANGES: fba_availability,
    notifications.LISTINGS_ITEM_MFN_QUANTITY_CHANGE: mfn_quantity,
}
PREFETCHERS = {notifications.ORDER_CHANGE: read_order}
