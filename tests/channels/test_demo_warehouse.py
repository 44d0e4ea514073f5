"""The demo's warehouse ships waiting merchant orders through the shipment outbox, once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from channels import demo_warehouse
from channels.models import Channel, OrderShipment
from ledger.models import Location
from tests.factories import LocationFactory

from .test_shipment_outbox import NOW, lane, place, shop  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


def test_an_order_older_than_a_minute_ships_once_through_the_outbox(shop, lane):  # noqa: F811
    order = place(shop, "O-1", (("L1", "TEE-M", 2),))
    young = place(shop, "O-2")
    young.placed_at = NOW + timedelta(seconds=50)
    young.save(update_fields=["placed_at"])

    assert demo_warehouse.ship_waiting(now=NOW + timedelta(seconds=61)) == 1
    shipment = OrderShipment.objects.get()
    assert (shipment.order, shipment.source, shipment.created_by) == (
        order,
        "console",
        "demo warehouse",
    )
    assert shipment.tracking_number == f"DEMO{order.pk:012d}"
    assert order.lines.get().shipped_units == 2
    # Shipped: not waiting any more; the young order's turn comes a minute after it arrived.
    assert demo_warehouse.ship_waiting(now=NOW + timedelta(seconds=61)) == 0
    assert demo_warehouse.ship_waiting(now=NOW + timedelta(minutes=5)) == 1
    assert OrderShipment.objects.count() == 2


def test_orders_of_channels_not_live_or_fulfilled_by_the_channel_wait(shop, lane):  # noqa: F811
    place(shop, "O-1")
    Channel.objects.filter(pk=shop.pk).update(mode=Channel.Mode.SHADOW)
    assert demo_warehouse.ship_waiting(now=NOW + timedelta(minutes=5)) == 0
    Channel.objects.filter(pk=shop.pk).update(mode=Channel.Mode.LIVE)
    pool = LocationFactory(code="FBA-NA", kind=Location.Kind.FBA, region="NA")
    order = place(shop, "O-2")
    order.lines.update(location=pool)
    assert [o.external_id for o in demo_warehouse.waiting_orders(
        now=NOW + timedelta(minutes=5), min_age=timedelta(minutes=1), limit=20
    )] == ["O-1"]  # fmt: skip
