"""Inbound events: store every webhook / notification / poll result raw and at most once
(I3, I4), then apply it in a worker.

The webhook view only verifies, stores and answers; everything that can fail or wait (an
unknown SKU, an order not yet seen, a database hiccup) happens here, where a failure leaves
the row to be retried and a mapping problem leaves it quarantined, never dropped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from inventory_sync.lib.errors import DomainError

from . import fba, orders
from .adapters import amazon_inventory, amazon_orders
from .adapters import amazon_notifications as amazon
from .adapters import shopify_webhooks as shopify
from .models import Channel, InboundEvent, Listing

logger = logging.getLogger(__name__)

# Retry backoff for failed events: 2 s, 4 s, … capped at 10 minutes.
RETRY_BASE_SECONDS = 2
RETRY_CAP_SECONDS = 600
INBOUND_CHANGED = "channels.inbound.changed"


class Deferred(DomainError):
    """Not applicable now for a reason that passes by itself (a channel's rate budget):
    try again after `retry_after` seconds, without holding up other events."""

    code = "deferred"
    retryable = True

    def __init__(self, detail: str, *, retry_after: float) -> None:
        super().__init__(detail)
        self.retry_after = max(float(retry_after), 0.5)


@dataclass(frozen=True, slots=True)
class Stored:
    id: int
    created: bool
    # A redelivery whose body differs from the first one's (I3: the same key with another
    # body is refused, never applied).
    conflict: bool = False


def store(
    *,
    channel: Channel,
    source: str,
    topic: str,
    dedupe_key: str,
    body: bytes,
    headers: Mapping[str, str] | None = None,
    delivery_id: str = "",
    occurred_at: datetime | None = None,
) -> Stored:
    """Store one inbound payload raw, once per (channel, dedupe key).

    One INSERT … ON CONFLICT DO NOTHING: a redelivery costs no lock and no second row (it
    only counts the delivery). Safe to call inside or outside a transaction.
    """
    table = InboundEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (channel_id, source, topic, dedupe_key, delivery_id, headers,"
            " body, occurred_at, deliveries, status, attempts, outcome)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 1, 'received', 0, '')"
            " ON CONFLICT (channel_id, dedupe_key) DO NOTHING RETURNING id",
            [
                channel.pk,
                source,
                topic,
                dedupe_key,
                delivery_id,
                json.dumps(dict(headers or {})),
                body,
                occurred_at,
            ],
        )
        row = cursor.fetchone()
        if row is not None:
            return Stored(row[0], True)
        cursor.execute(
            f"UPDATE {table} SET deliveries = deliveries + 1"
            " WHERE channel_id = %s AND dedupe_key = %s RETURNING id, body",
            [channel.pk, dedupe_key],
        )
        found, first_body = cursor.fetchone()
        return Stored(found, False, conflict=bytes(first_body) != bytes(body))


def process_pending(*, limit: int = 200, now: datetime | None = None) -> int:
    """Apply up to `limit` waiting events, oldest first; returns how many were handled.

    Each event in its own transaction, taken with SKIP LOCKED so several workers share the
    queue; two events of one order serialise on the order's row instead.
    """
    now = now or timezone.now()
    ids = list(
        InboundEvent.objects.filter(status__in=_PENDING, next_attempt_at__isnull=True)
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    if len(ids) < limit:
        ids += list(
            InboundEvent.objects.filter(status__in=_PENDING, next_attempt_at__lte=now)
            .order_by("id")
            .values_list("id", flat=True)[: limit - len(ids)]
        )
    superseded = _supersede_levels(ids, now)
    handled = len(superseded)
    for event_id in ids:
        if event_id not in superseded:
            handled += process_one(event_id)
    return handled


def _supersede_levels(ids: list[int], now: datetime) -> set[int]:
    """Only the newest level of an item matters: older waiting ones are settled in one
    statement instead of one transaction each (our own pushes echo back by the hundred)."""
    newest: dict[tuple, tuple] = {}
    seen: list[tuple[tuple, tuple]] = []
    for pk, channel_id, body, occurred_at, received_at in InboundEvent.objects.filter(
        pk__in=ids, topic="inventory_levels/update", status=InboundEvent.Status.RECEIVED
    ).values_list("id", "channel_id", "body", "occurred_at", "received_at"):
        try:
            payload = json.loads(bytes(body))
            key = (channel_id, str(payload["inventory_item_id"]), str(payload["location_id"]))
        except (ValueError, KeyError, TypeError):
            continue  # left for the handler, which quarantines it with a reason
        rank = (occurred_at or received_at, pk)
        seen.append((key, rank))
        if key not in newest or rank > newest[key]:
            newest[key] = rank
    superseded = {rank[1] for key, rank in seen if rank != newest[key]}
    if superseded:
        InboundEvent.objects.filter(pk__in=superseded, status=InboundEvent.Status.RECEIVED).update(
            status=InboundEvent.Status.IGNORED,
            outcome="superseded by a newer level of the same item",
            processed_at=now,
        )
    return superseded


def process_one(event_id: int) -> bool:
    # What needs a call to the channel (an edited order is read back) is read before the
    # transaction: no row lock or open transaction waits on the network.
    prefetched = _read_first(event_id)
    try:
        with transaction.atomic():
            event = (
                InboundEvent.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("channel", "channel__default_location")
                .filter(pk=event_id, status__in=_PENDING)
                .first()
            )
            if event is None:
                return False
            event.prefetched = prefetched
            event.attempts += 1
            retry_after = None
            try:
                with transaction.atomic():
                    status, detail = _apply(event)
            except orders.Quarantine as error:
                status, detail = InboundEvent.Status.QUARANTINED, error.detail
            except Deferred as error:
                # Not a failure (nothing for a person to look at): still waiting, due later.
                status, detail = InboundEvent.Status.RECEIVED, error.detail
                retry_after = error.retry_after
            except DomainError as error:
                if not error.retryable:
                    raise
                status, detail = InboundEvent.Status.FAILED, error.detail
            _finish(event, status, detail, retry_after=retry_after)
        return True
    except Exception as error:  # noqa: BLE001 — kept for retry, never lost
        logger.exception("inbound event %s failed", event_id)
        with transaction.atomic():
            # Another worker may have applied it once our aborted transaction let go of it.
            event = (
                InboundEvent.objects.select_for_update(skip_locked=True)
                .filter(pk=event_id, status__in=_PENDING)
                .first()
            )
            if event is not None:
                event.attempts += 1
                _finish(event, InboundEvent.Status.FAILED, f"{type(error).__name__}: {error}")
        return True


_NOTHING = object()


def _read_first(event_id: int):
    peek = (
        InboundEvent.objects.filter(pk=event_id, status__in=_PENDING)
        .select_related("channel")
        .only("id", "topic", "body", "channel")
        .first()
    )
    if peek is None:
        return _NOTHING
    reader = _READ_FIRST.get((peek.channel.kind, peek.topic))
    if reader is None:
        return _NOTHING
    try:
        payload = json.loads(bytes(peek.body))
    except ValueError:
        return _NOTHING  # the handler quarantines it with the reason
    try:
        return reader(peek.channel, payload)
    except Exception as error:  # noqa: BLE001 — raised again inside, where failures are kept
        return error


def retry_quarantined(*, channel: Channel | None = None) -> int:
    """Send quarantined events back to the queue (after a mapping fix)."""
    events = InboundEvent.objects.filter(status=InboundEvent.Status.QUARANTINED)
    if channel is not None:
        events = events.filter(channel=channel)
    return events.update(status=InboundEvent.Status.RECEIVED, next_attempt_at=None)


_PENDING = (InboundEvent.Status.RECEIVED, InboundEvent.Status.FAILED)


def _finish(
    event: InboundEvent, status: str, detail: str, *, retry_after: float | None = None
) -> None:
    event.status = status
    event.outcome = detail[:4000]
    event.processed_at = timezone.now()
    if retry_after is not None:
        event.next_attempt_at = event.processed_at + timedelta(seconds=retry_after)
    elif status == InboundEvent.Status.FAILED:
        backoff = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2 ** min(event.attempts - 1, 12))
        event.next_attempt_at = event.processed_at + timedelta(seconds=backoff)
    else:
        event.next_attempt_at = None
    event.save(update_fields=["status", "outcome", "processed_at", "attempts", "next_attempt_at"])


def _apply(event: InboundEvent) -> tuple[str, str]:
    handler = _HANDLERS.get((event.channel.kind, event.topic))
    if handler is None:
        return InboundEvent.Status.IGNORED, f"no handler for {event.channel.kind} {event.topic}"
    try:
        payload = json.loads(bytes(event.body))
    except ValueError as error:
        return InboundEvent.Status.QUARANTINED, f"body is not JSON: {error}"
    try:
        return handler(event.channel, payload, event)
    except shopify.PayloadError as error:
        return InboundEvent.Status.QUARANTINED, str(error)


def _outcome(result: orders.ApplyOutcome) -> tuple[str, str]:
    status = {
        "applied": InboundEvent.Status.APPLIED,
        "quarantined": InboundEvent.Status.QUARANTINED,
    }.get(result.status, InboundEvent.Status.IGNORED)
    detail = result.detail or f"{len(result.events)} ledger event(s)"
    return status, detail


def _shopify_order(channel: Channel, payload: dict, event: InboundEvent) -> tuple[str, str]:
    return _outcome(
        orders.apply_order_snapshot(channel=channel, snapshot=shopify.order_snapshot(payload))
    )


def _read_edited_order(channel: Channel, payload: dict) -> dict | None:
    # The edit payload lists deltas by line id, not the order: read the order itself.
    from .adapters import shopify_lane

    return shopify_lane.fetch_order(channel, shopify.edited_order_id(payload))


def _shopify_order_edited(channel: Channel, payload: dict, event: InboundEvent) -> tuple[str, str]:
    order_id = shopify.edited_order_id(payload)
    order = getattr(event, "prefetched", _NOTHING)
    if order is _NOTHING:
        order = _read_edited_order(channel, payload)
    if isinstance(order, Exception):
        raise order
    if order is None:
        return InboundEvent.Status.IGNORED, f"order {order_id} is unknown to the shop"
    return _outcome(
        orders.apply_order_snapshot(channel=channel, snapshot=shopify.order_snapshot(order))
    )


def _shopify_refund(channel: Channel, payload: dict, event: InboundEvent) -> tuple[str, str]:
    order_id, lines = shopify.refund_lines(payload)
    return _outcome(
        orders.apply_refund(channel=channel, order_external_id=order_id, refund_lines=lines)
    )


def _shopify_fulfillment(channel: Channel, payload: dict, event: InboundEvent) -> tuple[str, str]:
    order_id, fulfillment_id, status, lines = shopify.shipment(payload)
    if status in ("cancelled", "error", "failure"):
        # Never shipped. Pending and open ones count: the units have left our stock for the
        # fulfilment service (we do not subscribe to its later updates).
        return InboundEvent.Status.IGNORED, f"fulfillment {fulfillment_id} is {status}"
    return _outcome(
        orders.apply_shipment(
            channel=channel, order_external_id=order_id, shipment_id=fulfillment_id, lines=lines
        )
    )


def _shopify_inventory_level(
    channel: Channel, payload: dict, event: InboundEvent
) -> tuple[str, str]:
    """Record what the channel shows. Our own sets echo back here: matching what we expect
    (pushed + the channel's own moves we ingested), they are not drift; anything else is a
    drift signal for reconciliation (often a sale whose webhook is still on its way)."""
    item, location, available = shopify.inventory_level(payload)
    synced = channel.external_location_id.rsplit("/", 1)[-1]
    if synced and location != synced:
        return InboundEvent.Status.IGNORED, f"location {location} is not the synced location"
    listing = (
        Listing.objects.select_for_update()
        .filter(
            channel=channel,
            shopify_inventory_item_id__in=[item, f"gid://shopify/InventoryItem/{item}"],
        )
        .first()
    )
    if listing is None:
        return InboundEvent.Status.IGNORED, f"inventory item {item} is not a listing of ours"
    return _observe_level(listing, available, event.occurred_at or event.received_at)


def _observe_level(listing: Listing, quantity: int | None, observed_at) -> tuple[str, str]:
    """Record what the channel shows (the caller holds the listing's row lock)."""
    if listing.observed_at is not None and observed_at < listing.observed_at:
        return InboundEvent.Status.IGNORED, "older than the level already observed"
    listing.observed_quantity = quantity
    listing.observed_at = observed_at
    listing.save(update_fields=["observed_quantity", "observed_at"])
    expected = listing.expected_quantity
    if quantity is not None and quantity in (expected, listing.in_flight_quantity):
        return InboundEvent.Status.APPLIED, f"echo: channel shows {quantity} as expected"
    return InboundEvent.Status.APPLIED, (
        f"drift signal: channel shows {quantity}, expected {expected}"
    )


def _amazon_mfn_quantity(channel: Channel, payload: dict, event: InboundEvent) -> tuple[str, str]:
    """Amazon's merchant quantity of a seller SKU changed: our own patches echo back here, a
    change we did not make (an edit in Seller Central) is a drift signal."""
    body = amazon.payload(payload)
    sku, quantity = body.get("Sku"), body.get("Quantity")
    if not sku or body.get("FulfillmentChannelCode", "DEFAULT") != "DEFAULT":
        return InboundEvent.Status.IGNORED, "not a merchant quantity"
    listings = list(
        Listing.objects.select_for_update()
        .filter(channel__kind=Channel.Kind.AMAZON, channel__seller_id=channel.seller_id)
        .filter(external_id=sku, fulfilment=Listing.Fulfilment.MERCHANT)
        .order_by("id")
    )
    if not listings:
        return InboundEvent.Status.IGNORED, f"seller SKU {sku} is not a listing of ours"
    outcomes = [
        _observe_level(listing, int(quantity) if quantity is not None else None,
                       event.occurred_at or event.received_at)
        for listing in listings
    ]  # fmt: skip
    return outcomes[0][0], "; ".join(detail for _, detail in outcomes)


def _read_amazon_order(channel: Channel, payload: dict) -> dict | None:
    # A notification only says the order changed (and may be late or out of order): read the
    # order as it is now; its last-update time decides whether it is news.
    from .adapters import amazon_lane

    return amazon_lane.fetch_order(channel, amazon.order_change(payload)[0], wait=False)


def _amazon_order_change(channel: Channel, payload: dict, event: InboundEvent) -> tuple[str, str]:
    from .adapters.amazon import AmazonThrottled

    order_id = amazon.order_change(payload)[0]
    order = getattr(event, "prefetched", _NOTHING)
    if order is _NOTHING:
        try:
            order = _read_amazon_order(channel, payload)
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
    return _amazon_order(channel, order, event)


def _amazon_order(channel: Channel, order: dict, event: InboundEvent) -> tuple[str, str]:
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
    return _outcome(result)


def _amazon_fba_availability(
    channel: Channel, payload: dict, event: InboundEvent
) -> tuple[str, str]:
    stock = amazon_inventory.from_notification(payload, [channel.marketplace])
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


_READ_FIRST = {
    ("shopify", "orders/edited"): _read_edited_order,
    ("amazon", amazon.ORDER_CHANGE): _read_amazon_order,
}

_HANDLERS: dict[tuple[str, str], Callable[[Channel, dict, InboundEvent], tuple[str, str]]] = {
    ("shopify", "orders/create"): _shopify_order,
    ("shopify", "orders/updated"): _shopify_order,
    ("shopify", "orders/cancelled"): _shopify_order,
    ("shopify", "orders/edited"): _shopify_order_edited,
    ("shopify", "refunds/create"): _shopify_refund,
    ("shopify", "fulfillments/create"): _shopify_fulfillment,
    ("shopify", "inventory_levels/update"): _shopify_inventory_level,
    ("amazon", amazon.ORDER_CHANGE): _amazon_order_change,
    ("amazon", "order"): _amazon_order,
    ("amazon", amazon.FBA_INVENTORY_AVAILABILITY_CHANGES): _amazon_fba_availability,
    ("amazon", "LISTINGS_ITEM_MFN_QUANTITY_CHANGE"): _amazon_mfn_quantity,
}
