"""A merchant-fulfilled (MFN) Amazon return end to end, over real HTTP (issue 13, item 4): an
order placed on the SP-API sandbox, shipped through the Amazon lane's confirmShipment, returned
by the buyer through the sandbox's control API, read by the lane from the flat-file returns
report into our returns queue, and graded through the API: one ledger event, once."""

from __future__ import annotations

import random

import pytest
import requests

from channels.lanes.amazon import returns
from channels.lanes.amazon.api import client_for
from channels.lanes.base import Shipment
from channels.models import ChannelOrder, ChannelReturn
from channels.sandbox.amazon.world.buyers import BuyerLoop
from ledger.models import InventoryEvent
from tests.channels.amazon_world import mixed_world
from tests.channels.shopify_world import balance

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

STOCK = {"TEE-M": 10}


@pytest.fixture
def world(live_server, receive, settings, monkeypatch):
    with mixed_world(live_server.url, receive, settings, monkeypatch, STOCK) as built:
        yield built
        # Every request our client sent was valid against Amazon's official models.
        invalid = [entry for s in built.sellers for entry in s.sandbox.invalid_requests()]
    assert not invalid


@pytest.fixture
def seller(world):
    opened = world.open_seller("amazon-us", mfn=dict(STOCK), location=world.warehouse, seed=2)
    world.settle()
    return opened


def control(seller, path: str, body: dict) -> requests.Response:
    return requests.post(f"{seller.handle.control_url}/{path}", json=body, timeout=5)


def shipped_order(world, seller, quantity: int) -> ChannelOrder:
    """An MFN order placed by a buyer, ingested, and shipped through the lane (all units)."""
    placed = control(seller, "orders", {"sku": "TEE-M", "quantity": quantity})
    assert placed.status_code == 201, placed.text
    world.settle()
    order = ChannelOrder.objects.get(external_id=placed.json()["order"]["orderId"])
    world.lane_for(seller.channel).confirm_shipment(
        order, Shipment(carrier="UPS", tracking_number="1Z999AA10123456784")
    )
    world.settle()  # Amazon's order change tells us it shipped
    return order


def read_returns(world, seller) -> returns.ReturnsOutcome:
    """The lane's merchant returns read, up to Amazon's now (its clock runs ahead of ours)."""
    return returns.sync_merchant_returns(
        seller.channel,
        client=client_for(seller.channel, **world.amazon_options),
        wait=lambda: seller.sandbox.advance(2),
        now=seller.sandbox.now(),
    )


def test_a_returned_mfn_unit_is_read_into_the_queue_and_graded_once(
    world, seller, api_client, client, user
):
    order = shipped_order(world, seller, 2)
    assert balance("TEE-M", "WH-EAST", "on_hand") == 8  # shipped: the two units left
    assert balance("TEE-M", "WH-EAST", "committed") == 0

    asked = control(
        seller,
        f"orders/{order.external_id}/returns",
        {"items": [{"seller_sku": "TEE-M", "quantity": 1, "reason": "CR-DEFECTIVE"}]},
    )
    assert asked.status_code == 201, asked.text
    events = InventoryEvent.objects.count()
    outcome = read_returns(world, seller)

    assert (outcome.recorded, outcome.by_handling) == (1, {"to_grade": 1})
    waiting = ChannelReturn.objects.get()
    assert (waiting.order_id, waiting.sku.code, waiting.quantity) == (order.pk, "TEE-M", 1)
    assert (waiting.fulfilment, waiting.reason) == ("merchant", "CR-DEFECTIVE")
    assert waiting.raw["Amazon RMA ID"] == asked.json()["return"]["rma_id"]
    assert waiting.event is None
    assert InventoryEvent.objects.count() == events  # nothing moves before the unit is graded
    client.force_login(user)
    page = client.get("/returns/?handling=to_grade").content.decode()
    assert page.count("data-return=") == 1

    url = f"/api/v1/returns/{waiting.pk}/grade/"
    body = {"outcome": "restock", "location": "WH-EAST"}
    last = InventoryEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    graded = api_client.post(url, body, format="json")
    assert graded.status_code == 200, graded.content
    [event] = InventoryEvent.objects.filter(pk__gt=last)
    assert (event.kind, event.reference) == (
        "return_restock",
        f"amazon-us:order:{order.external_id}",
    )
    assert balance("TEE-M", "WH-EAST", "on_hand") == 9

    again = api_client.post(url, body, format="json")
    assert again.status_code == 409
    assert again.json()["code"] == "return_not_waiting"
    assert InventoryEvent.objects.count() == events + 1
    assert balance("TEE-M", "WH-EAST", "on_hand") == 9

    reread = read_returns(world, seller)
    assert (reread.recorded, reread.duplicates) == (0, 1)
    assert ChannelReturn.objects.get().handling == ChannelReturn.Handling.RESTOCKED
    assert InventoryEvent.objects.count() == events + 1


def test_a_return_the_sandbox_refuses_never_reaches_the_queue(world, seller):
    order = shipped_order(world, seller, 1)

    refused = control(
        seller,
        f"orders/{order.external_id}/returns",
        {"items": [{"seller_sku": "TEE-M", "quantity": 2}]},
    )
    outcome = read_returns(world, seller)

    assert refused.status_code == 409
    assert refused.json()["error"] == "not_returnable"
    assert outcome.recorded == 0
    assert not ChannelReturn.objects.exists()


def test_a_simulated_buyers_return_waits_in_the_queue(world, seller):
    order = shipped_order(world, seller, 1)
    buyers = BuyerLoop(seller.sandbox, rate_per_second=1.0, rng=random.Random(7))

    rma_id = buyers.return_once()
    outcome = read_returns(world, seller)

    assert outcome.by_handling == {"to_grade": 1}
    waiting = ChannelReturn.objects.get()
    assert (waiting.order_id, waiting.quantity) == (order.pk, 1)
    assert waiting.raw["Amazon RMA ID"] == rma_id
    assert waiting.reason.startswith("CR-")
