"""SP-API notifications applied by the ingest worker: order changes (read back through the
Orders API), polled orders, FBA availability and merchant quantity changes, and the refusals
in a finished order cancellation feed."""

from __future__ import annotations

from collections.abc import Mapping

from django.db.models.functions import Now

from channels import orders
from channels.inbox import Deferred, observe_level, outcome_of
from channels.models import Channel, ChannelOrder, ConflictAction, InboundEvent, Listing
from inventory_sync.lib.locks import lock_rows

from . import api, cancellation, fba, inventory, notifications
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


def read_cancel_refusals(channel: Channel, payload: dict) -> dict[str, str] | None:
    """The orders a finished order acknowledgement feed refused to cancel (its report read
    before the handler's transaction); None for any other feed or one without a report."""
    finished = notifications.feed_finished(payload)
    document = finished.get("resultFeedDocumentId")
    if finished.get("feedType") != cancellation.ACKNOWLEDGEMENT_FEED or not document:
        return None
    return cancellation.refusals(api.client_for(channel).feed_document(str(document)))


def feed_finished(channel: Channel, payload: dict, event: InboundEvent) -> tuple[str, str]:
    """A feed finished. Our listings feeds are read back by the push pipeline; an order
    acknowledgement feed's refusals turn those orders' cancel from sent to refused, with
    Amazon's answer (a FATAL feed names no order: its cancels stay "sent" until a person sends
    them again)."""
    finished = notifications.feed_finished(payload)
    if finished.get("feedType") != cancellation.ACKNOWLEDGEMENT_FEED:
        return InboundEvent.Status.IGNORED, "not an order cancellation feed"
    refusals = getattr(event, "prefetched", _NOTHING)
    if refusals is _NOTHING:
        refusals = read_cancel_refusals(channel, payload)
    if isinstance(refusals, Exception):
        raise refusals
    status = finished.get("processingStatus")
    if not refusals:
        return InboundEvent.Status.IGNORED, f"feed {finished['feedId']} {status}: none refused"
    refused = mark_refused(channel, refusals)
    return InboundEvent.Status.APPLIED, f"feed {finished['feedId']}: {refused} cancel(s) refused"


def mark_refused(channel: Channel, refusals: Mapping[str, str]) -> int:
    """The cancels Amazon refused (order id -> its answer): still-open orders whose cancel was
    sent become cancel_refused with the answer. Idempotent: a refusal read twice marks nothing
    more. Returns how many orders changed."""
    changed = 0
    for order_id, answer in refusals.items():
        changed += ChannelOrder.objects.filter(
            channel=channel,
            external_id=order_id,
            status=ChannelOrder.Status.OPEN,
            conflict_action=ConflictAction.CANCEL_REQUESTED,
        ).update(
            conflict_action=ConflictAction.CANCEL_REFUSED,
            conflict_note=f"{channel.code} refused the cancel: {answer}"[:500],
            updated_at=Now(),
        )
    return changed


HANDLERS = {
    notifications.ORDER_CHANGE: order_change,
    "order": apply_order,
    notifications.FBA_INVENTORY_AVAILABILITY_CHANGES: fba_availability,
    notifications.LISTINGS_ITEM_MFN_QUANTITY_CHANGE: mfn_quantity,
    notifications.FEED_PROCESSING_FINISHED: feed_finished,
}
PREFETCHERS = {
    notifications.ORDER_CHANGE: read_order,
    notifications.FEED_PROCESSING_FINISHED: read_cancel_refusals,
}
