"""Confirming a shipment goes to the order's own lane with the shipment's lines and returns the
channel's reference for it; it is refused before any call when the order is cancelled or its
channel kind has no shipment confirmation. A shipment row becomes the lane's Shipment with
its carrier, lines and our id."""

from datetime import UTC, datetime

import pytest

from channels import shipping
from channels.lanes import registry
from channels.lanes.base import ChannelRefused, Lane, Shipment
from channels.models import Channel, ChannelOrder, OrderShipment
from inventory_sync.lib.errors import Conflict
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SHIPMENT = Shipment(carrier="UPS", tracking_number="1Z999", lines=(("L1", 2),))


class RecordingLane(Lane):
    kind = Channel.Kind.POS
    label = "Store POS"
    can_confirm_shipments = True
    confirmed: list = []

    def confirm_shipment(self, order, shipment):
        if shipment.tracking_number == "refuse":
            raise ChannelRefused("the store system said no")
        RecordingLane.confirmed.append((order.external_id, shipment))
        return f"receipt-{len(RecordingLane.confirmed)}"


@pytest.fixture
def pos_lane(monkeypatch):
    RecordingLane.confirmed = []
    monkeypatch.setitem(registry.LANES, Channel.Kind.POS, RecordingLane)
    monkeypatch.setattr(registry, "_shared", {})
    return RecordingLane


def make_order(kind, **fields):
    channel = ChannelFactory(code=f"{kind}-channel", kind=kind)
    return ChannelOrder.objects.create(
        channel=channel, external_id="O-1", placed_at=NOW, channel_updated_at=NOW, **fields
    )


def test_the_shipment_goes_to_the_orders_lane_and_its_reference_comes_back(pos_lane):
    found = make_order(Channel.Kind.POS)

    reference = shipping.confirm_shipment(found, SHIPMENT)

    assert reference == "receipt-1"
    assert pos_lane.confirmed == [("O-1", SHIPMENT)]


def test_a_lane_handed_in_is_the_one_called(pos_lane):
    class TestClientsLane(Lane):
        def confirm_shipment(self, order, shipment):
            return "from-the-test-lane"

    found = make_order(Channel.Kind.POS)

    assert shipping.confirm_shipment(found, SHIPMENT, lane=TestClientsLane()) == (
        "from-the-test-lane"
    )
    assert pos_lane.confirmed == []


def test_a_cancelled_order_is_refused_before_any_call(pos_lane):
    found = make_order(Channel.Kind.POS, status=ChannelOrder.Status.CANCELLED, cancelled_at=NOW)

    with pytest.raises(Conflict, match="is cancelled"):
        shipping.confirm_shipment(found, SHIPMENT)
    assert pos_lane.confirmed == []


def test_a_kind_without_shipment_confirmation_says_so():
    found = make_order(Channel.Kind.EDI)

    with pytest.raises(Conflict, match="has no shipment confirmation"):
        shipping.confirm_shipment(found, SHIPMENT)


def test_the_channels_refusal_reaches_the_caller(pos_lane):
    found = make_order(Channel.Kind.POS)

    with pytest.raises(ChannelRefused, match="said no") as refused:
        shipping.confirm_shipment(found, Shipment(carrier="UPS", tracking_number="refuse"))
    assert pos_lane.confirmed == []
    assert refused.value.retryable is False


def test_a_shipment_row_becomes_the_lanes_shipment(pos_lane):
    order = make_order(Channel.Kind.POS)
    row = OrderShipment.objects.create(
        order=order,
        key="api:k",
        lines=[{"line": "L1", "quantity": 2}, {"line": "L2", "quantity": 1}],
        carrier=shipping.carrier_label("Other", "Parcelforce"),
        tracking_number="PF1",
        tracking_url="https://track.example/PF1",
        shipped_at=NOW,
    )

    shipment = shipping.shipment_of(row)

    assert row.carrier == "Other: Parcelforce"
    assert (shipment.carrier, shipment.carrier_name) == ("Other", "Parcelforce")
    assert shipment.lines == (("L1", 2), ("L2", 1))
    assert (shipment.tracking_url, shipment.ship_date) == ("https://track.example/PF1", NOW)
    assert shipment.reference == f"shipment-{row.pk}"
    assert shipping.carrier_label("UPS", "ignored") == "UPS"
