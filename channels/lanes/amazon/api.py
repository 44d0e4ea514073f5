"""Calls to SP-API on behalf of an Amazon channel: one client per channel and process, the
count of calls per push, and the order actions the core asks of the lane."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from channels.lanes.base import SendResult, Shipment
from channels.models import Channel, ChannelOrder

from . import client as amazon

LWA_TOKEN_URL = "https://api.amazon.com/auth/o2/token"
ENDPOINTS = {
    "NA": "https://sellingpartnerapi-na.amazon.com",
    "EU": "https://sellingpartnerapi-eu.amazon.com",
    "FE": "https://sellingpartnerapi-fe.amazon.com",
}


_clients: dict[tuple, amazon.AmazonClient] = {}
_clients_lock = threading.Lock()


def client_for(channel: Channel, **overrides) -> amazon.AmazonClient:
    """The channel's client, kept for the process: its HTTP connections, LWA token and API
    objects outlive one push (a new one per call would pay for them every time). A changed
    channel row (credentials, endpoint) gets a new one."""
    state = (
        channel.api_base_url,
        channel.auth_url,
        channel.seller_id,
        channel.marketplace,
        channel.region,
        channel.credentials_sealed,
    )
    key = (channel.pk, state, tuple(sorted((name, repr(v)) for name, v in overrides.items())))
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            # Clients built from an older state of the channel (rotated credentials, a moved
            # endpoint) go; clients of the same state with other options stay (they are in use).
            stale = [k for k in _clients if k[0] == channel.pk and k[1] != state]
            for old_key in stale:
                _clients.pop(old_key).close()
            client = _clients[key] = _new_client(channel, **overrides)
            client.on_call = _count_call
        return client


def _new_client(channel: Channel, **overrides) -> amazon.AmazonClient:
    if not channel.seller_id or not channel.marketplace:
        raise amazon.AmazonCredentialsError(
            f"Amazon channel {channel.code} needs its seller id and marketplace id."
        )
    endpoint = channel.api_base_url or ENDPOINTS.get(channel.region.upper(), ENDPOINTS["NA"])
    options = {
        "timeout": getattr(settings, "AMAZON_TIMEOUT", 10.0),
        "max_attempts": getattr(settings, "AMAZON_MAX_ATTEMPTS", 5),
        "backoff": getattr(settings, "AMAZON_BACKOFF", 0.5),
        **overrides,
    }
    return amazon.AmazonClient(
        endpoint=endpoint,
        token_url=channel.auth_url or LWA_TOKEN_URL,
        credentials=amazon.credentials_from(channel.credentials),
        seller_id=channel.seller_id,
        marketplace_id=channel.marketplace,
        # Amazon's buckets are per seller and application in each region: the seller's
        # channels of one region (US, CA, MX) share them.
        region_key=f"{channel.seller_id}:{channel.region or 'NA'}",
        **options,
    )


class _Calls:
    """SP-API calls (every attempt, 429s included) made for one push or read-back."""

    def __init__(self) -> None:
        self.calls = 0
        self.throttled = 0

    def __call__(self, call: amazon.AmazonCall) -> None:
        if call.operation not in amazon.USAGE_PLANS:
            return  # a document upload or download is not an SP-API call
        self.calls += len(call.attempts)
        self.throttled += sum(1 for attempt in call.attempts if attempt.outcome == "throttled")


# The calls of the push or read-back running in this thread (a client is shared by threads).
_counting = threading.local()


def _count_call(call: amazon.AmazonCall) -> None:
    counter = getattr(_counting, "counter", None)
    if counter is not None:
        counter(call)


@contextmanager
def counted(client: amazon.AmazonClient, result: SendResult):
    counter, before = _Calls(), getattr(_counting, "counter", None)
    if client.on_call is None:
        client.on_call = _count_call  # a client given to the lane (tests, benchmarks)
    _counting.counter = counter
    try:
        yield
    finally:
        _counting.counter = before
        result.calls += counter.calls
        result.throttled += counter.throttled


def fetch_order(channel: Channel, order_id: str, *, wait: bool = True) -> dict | None:
    """The order as the Orders API shows it now (a notification only says it changed).

    With `wait=False` a call that would have to wait for rate budget raises AmazonThrottled
    (with `retry_after`) at once: the ingest worker must not stall every other channel's
    orders behind Amazon's getOrder limit.
    """
    client = client_for(channel) if wait else client_for(channel, max_wait=0.0)
    try:
        return client.get_order(order_id)
    except amazon.AmazonError as error:
        if error.status == 404:
            return None
        raise


def iter_orders_updated_since(channel: Channel, since: datetime) -> Iterator[dict]:
    """Orders updated at or after `since` (never by creation time: cancellations and
    shipments of older orders would be missed)."""
    return client_for(channel).search_orders(last_updated_after=since)


def iter_fba_inventory(channel: Channel) -> Iterator[dict]:
    return client_for(channel).inventory_summaries()


def confirm_package(client: amazon.AmazonClient, order: ChannelOrder, shipment: Shipment) -> str:
    """Confirm one package of a merchant-fulfilled order on Amazon (the shipment's lines, or
    every line still open); returns its packageReferenceId.

    confirmShipment is not idempotent, so the order is read first (with its packages): a
    package already carrying this tracking number and these items is this shipment confirmed
    before an answer was lost, and is answered again. Otherwise the package is numbered after
    the highest number the order has (packages confirmed in Seller Central included), unique
    within the order as Amazon requires.
    """
    items = list(shipment.lines) or _open_items(order)
    if not items:
        return ""
    placed = client.get_order(order.external_id, included_data=PACKAGE_DATA)
    packages = placed.get("packages") or []
    for package in packages:
        if package.get("trackingNumber") == shipment.tracking_number and _items_of(package) == {
            str(item): quantity for item, quantity in items
        }:
            return str(package.get("packageReferenceId") or "")
    numbers = [str(p.get("packageReferenceId") or "") for p in packages]
    reference = str(max((int(n) for n in numbers if n.isdigit()), default=0) + 1)
    client.confirm_shipment(
        order.external_id,
        package_reference_id=reference,
        items=items,
        carrier=shipment.carrier,
        carrier_name=shipment.carrier_name or None,
        tracking_number=shipment.tracking_number,
        ship_date=shipment.ship_date or timezone.now(),
        shipping_method=shipment.shipping_method or None,
    )
    return reference


# What a confirmation reads of the order: its status and the packages confirmed so far.
PACKAGE_DATA = ("FULFILLMENT", "PACKAGES")


def _items_of(package: dict) -> dict[str, int]:
    return {
        str(item.get("orderItemId")): int(item.get("quantity") or 0)
        for item in package.get("packageItems") or ()
    }


def _open_items(order: ChannelOrder) -> list[tuple[str, int]]:
    """Every line's items not yet shipped in the ledger (a confirmation that names none)."""
    items = []
    for line in order.lines.all():
        open_items = line.current_quantity - line.shipped_units // max(line.units_per_item, 1)
        if open_items > 0:
            items.append((line.external_id, open_items))
    return items
