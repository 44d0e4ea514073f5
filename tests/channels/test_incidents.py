"""Which channel orders an oversell incident asks a person to cancel or backorder (I8), and
which of them the console can cancel on the channel."""

from datetime import UTC, datetime, timedelta

import pytest

from allocation.models import OversellIncident
from channels.incidents import IncidentOrder, incident_orders
from channels.models import Channel, ChannelOrder, ChannelOrderLine
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def order(channel, name, *, minutes, sku, units, status=ChannelOrder.Status.OPEN):
    placed = T0 + timedelta(minutes=minutes)
    found = ChannelOrder.objects.create(
        channel=channel,
        external_id=name,
        name=name,
        status=status,
        placed_at=placed,
        channel_updated_at=placed,
    )
    ChannelOrderLine.objects.create(
        order=found, external_id="1", sku=sku, quantity=units, current_quantity=units,
        sold_units=units,
    )  # fmt: skip
    return found


@pytest.fixture
def shop(db):
    return ChannelFactory(code="shop", kind=Channel.Kind.SHOPIFY, priority=1)


@pytest.fixture
def amazon(db):
    return ChannelFactory(code="amazon-us", kind=Channel.Kind.AMAZON, priority=2)


def test_the_latest_orders_that_cover_the_shortage_give_way_and_come_back_earliest_first(
    sku, shop, amazon
):
    order(shop, "#1001", minutes=0, sku=sku, units=2)
    order(amazon, "A-1", minutes=5, sku=sku, units=1)
    order(shop, "#1002", minutes=5, sku=sku, units=1)  # a tie: the better priority stays
    order(shop, "#1003", minutes=9, sku=sku, units=1)
    incident = OversellIncident.objects.create(sku=sku, units_short=2)

    picked = incident_orders(incident)

    assert [(row.order.name, row.units) for row in picked] == [("A-1", 1), ("#1003", 1)]


def test_orders_no_longer_open_never_give_way(sku, shop):
    order(shop, "#1001", minutes=0, sku=sku, units=1)
    order(shop, "#1002", minutes=1, sku=sku, units=1, status=ChannelOrder.Status.CANCELLED)
    incident = OversellIncident.objects.create(sku=sku, units_short=1)

    assert [row.order.name for row in incident_orders(incident)] == ["#1001"]


@pytest.mark.parametrize(
    ("kind", "mode", "status", "can_cancel"),
    [
        (Channel.Kind.SHOPIFY, Channel.Mode.LIVE, ChannelOrder.Status.OPEN, True),
        (Channel.Kind.SHOPIFY, Channel.Mode.SHADOW, ChannelOrder.Status.OPEN, False),
        (Channel.Kind.SHOPIFY, Channel.Mode.LIVE, ChannelOrder.Status.CANCELLED, False),
        # Amazon's lane has no cancel: the seller cancels in Seller Central.
        (Channel.Kind.AMAZON, Channel.Mode.LIVE, ChannelOrder.Status.OPEN, False),
        # A kind with no lane yet cannot cancel anything.
        (Channel.Kind.POS, Channel.Mode.LIVE, ChannelOrder.Status.OPEN, False),
    ],
)
def test_the_console_cancels_only_open_orders_on_live_channels_whose_lane_cancels(
    sku, kind, mode, status, can_cancel
):
    channel = ChannelFactory(code=f"{kind}-{mode}", kind=kind, mode=mode)
    found = order(channel, "#1", minutes=0, sku=sku, units=1, status=status)

    assert IncidentOrder(found, 1).can_cancel is can_cancel
