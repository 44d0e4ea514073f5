"""A fulfilment partner is asked for what routing sends to its location, and the request is
withdrawn when the line moves away or the order is cancelled."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from allocation.models import RoutingRule
from channels import routing
from channels.fulfilment_sync import orders_to_request, orders_to_withdraw, sync_requests
from channels.models import FulfilmentPartner, FulfilmentRequest
from channels.order_details import OrderDetails
from channels.orders import OrderLineSnapshot, OrderSnapshot, apply_order_snapshot
from ledger.models import Location
from tests.factories import ChannelFactory, ListingFactory, LocationFactory, SkuFactory

pytestmark = pytest.mark.django_db(transaction=True)
T0 = datetime(2026, 12, 1, 14, tzinfo=UTC)


def snapshot(number: int, listing, *, cancelled: bool = False) -> OrderSnapshot:
    return OrderSnapshot(
        external_id=str(number),
        name=f"#{number}",
        placed_at=T0,
        updated_at=T0.replace(minute=1 if cancelled else 0),
        cancelled_at=T0 if cancelled else None,
        lines=(OrderLineSnapshot(f"{number}-1", 2, 2, listing.external_id, listing.sku.code),),
        details=OrderDetails(weight_grams=4000),
    )


@pytest.fixture
def routed_to_the_3pl(receive):
    east = LocationFactory(code="WH-EAST")
    west = LocationFactory(code="3PL-WEST", kind=Location.Kind.THIRD_PARTY)
    partner = FulfilmentPartner.objects.create(
        location=west, name="West 3PL", webhook_url="http://127.0.0.1:9/requests"
    )
    channel = ChannelFactory(code="shopify", default_location=east)
    listing = ListingFactory(channel=channel, sku=SkuFactory(code="TEE-M"))
    receive(listing.sku, east, 5)
    receive(listing.sku, west, 5)
    RoutingRule.objects.create(name="Heavy to the 3PL", weight_over_grams=2268, location=west)
    apply_order_snapshot(channel=channel, snapshot=snapshot(1, listing))
    return channel, listing, partner, east


def test_an_order_routed_to_a_partner_is_requested_once(routed_to_the_3pl):
    channel, listing, partner, east = routed_to_the_3pl
    order = channel.orders.get()
    assert orders_to_request() == [order.pk]
    assert sync_requests() == (1, 0)
    request = FulfilmentRequest.objects.get()
    assert (request.partner, request.order, request.status) == (partner, order, "pending")
    assert request.lines == [{"line": "1-1", "sku": "TEE-M", "quantity": 2}]
    assert sync_requests() == (0, 0)  # asked already
    assert FulfilmentRequest.objects.count() == 1


def test_a_line_moved_away_withdraws_the_request(routed_to_the_3pl):
    channel, listing, partner, east = routed_to_the_3pl
    sync_requests()
    line = channel.orders.get().lines.get()
    routing.reroute_line(line=line, location=east, actor="ana", reason="3PL is closed")
    assert orders_to_withdraw() == [line.order_id]
    assert sync_requests() == (0, 1)
    assert FulfilmentRequest.objects.get().status == "cancelled"


def test_a_cancelled_order_withdraws_the_request(routed_to_the_3pl):
    channel, listing, partner, east = routed_to_the_3pl
    sync_requests()
    apply_order_snapshot(channel=channel, snapshot=snapshot(1, listing, cancelled=True))
    assert sync_requests() == (0, 1)
    assert FulfilmentRequest.objects.get().status == "cancelled"
    assert orders_to_request() == []
