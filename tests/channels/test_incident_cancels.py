"""Cancelling an order that gave way in an oversell, through its channel over real HTTP: the
Shopify sandbox's orderCancel and the SP-API sandbox's order acknowledgement feed. The order
shows the cancel as sent at once; the units come back only when the channel's cancel comes
back inbound; the customer gets the apology; a channel's refusal is kept with its answer."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from access.models import AuditEntry
from allocation.models import OversellIncident
from channels import incidents
from channels.lanes.amazon import cancellation
from channels.lanes.amazon.api import client_for
from channels.models import Channel, ChannelOrder, ConflictAction, Customer, InboundEvent
from inventory_sync.lib.errors import Conflict
from tests.channels.amazon_world import mixed_world
from tests.channels.shopify_world import balance

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def world(live_server, receive, settings, monkeypatch):
    with mixed_world(live_server.url, receive, settings, monkeypatch, {"TEE-M": 1}) as built:
        yield built
        invalid = [entry for s in built.sellers for entry in s.sandbox.invalid_requests()]
    assert not invalid  # every request we sent was valid against Amazon's models


def two_shops_one_unit(world):
    """Shop A (priority 1) and shop B (priority 2) both sell the last unit: B's order, the
    later one, gives way."""
    a = world.open_shop("shop-a", stock={"TEE-M": 1}, location=world.warehouse, seed=1)
    b = world.open_shop("shop-b", stock={"TEE-M": 1}, location=world.warehouse, seed=2)
    Channel.objects.filter(pk=a.channel.pk).update(priority=1)
    Channel.objects.filter(pk=b.channel.pk).update(priority=2)
    world.settle()
    first = a.sandbox.sell("TEE-M", 1)
    second = b.sandbox.sell("TEE-M", 1)
    world.settle()
    losing = ChannelOrder.objects.get(channel=b.channel, external_id=str(second["id"]))
    return a, b, first, losing


def jo_ordered(order: ChannelOrder) -> None:
    """The order's customer, as customer matching found her (her address in clear)."""
    order.customer = Customer.objects.create(email="jo@example.com", name="Jo")
    order.save(update_fields=["customer"])


def test_a_cancel_goes_to_the_shop_shows_as_sent_and_the_shops_answer_releases_the_unit(
    world, mailoutbox
):
    a, b, first, losing = two_shops_one_unit(world)
    incident = OversellIncident.objects.get(status="open")
    jo_ordered(losing)

    outcome = incidents.cancel_for_stock(
        losing, reason="oversold: shop A sold first", actor="ana", discount_code="SORRY-10"
    )

    assert (outcome.refused, outcome.emailed) == ("", "jo@example.com")
    sent = ChannelOrder.objects.get(pk=losing.pk)
    assert (sent.status, sent.conflict_action, sent.conflict_action_by) == (
        "open",
        ConflictAction.CANCEL_REQUESTED,
        "ana",
    )
    assert b.sandbox.orders[int(losing.external_id)].cancel_reason == "inventory"
    [mail] = mailoutbox
    assert mail.to == ["jo@example.com"]
    assert "SORRY-10" in mail.body
    with pytest.raises(Conflict, match="was sent"):  # a second click sends nothing
        incidents.cancel_for_stock(sent, reason="again", actor="bo")
    assert balance("TEE-M", "WH-EAST", "committed") == 2  # until the shop answers

    world.settle()

    assert ChannelOrder.objects.get(pk=losing.pk).status == "cancelled"
    assert balance("TEE-M", "WH-EAST", "committed") == 1
    incident.refresh_from_db()
    assert incident.status == "resolved"
    [past] = incidents.closed_incidents([incident])
    assert [o.external_id for o in past.orders] == [losing.external_id]
    assert ChannelOrder.objects.get(channel=a.channel, external_id=str(first["id"])).status == (
        "open"
    )


def test_a_cancel_the_shop_refuses_keeps_its_answer_and_sends_no_apology(world, mailoutbox):
    a, b, first, losing = two_shops_one_unit(world)
    jo_ordered(losing)
    # Someone cancelled it in the shop's admin; the webhook has not reached us yet.
    b.sandbox.cancel(int(losing.external_id), reason="staff")

    outcome = incidents.cancel_for_stock(losing, reason="oversold", actor="ana")

    refused = ChannelOrder.objects.get(pk=losing.pk)
    assert refused.conflict_action == ConflictAction.CANCEL_REFUSED
    assert "shop-b refused the cancel" in refused.conflict_note
    assert outcome.refused
    assert not outcome.emailed
    assert mailoutbox == []
    assert incidents.cancel_refusal(refused) is None  # a person may try again
    world.settle()
    assert ChannelOrder.objects.get(pk=losing.pk).status == "cancelled"


def test_the_console_confirms_with_the_order_and_the_email_before_sending(
    world, client, django_user_model, mailoutbox
):
    a, b, first, losing = two_shops_one_unit(world)
    jo_ordered(losing)
    operator = django_user_model.objects.create_user("ops")
    operator.groups.add(Group.objects.get(name="operator"))
    client.force_login(operator)
    url = reverse("channels:incident-order-cancel", args=[losing.pk])
    sandbox_order = b.sandbox.orders[int(losing.external_id)]

    page = client.get(url, {"discount_code": "SORRY-10"}).content.decode()
    assert "jo@example.com" in page
    assert "SORRY-10" in page
    assert "TEE-M" in page
    unconfirmed = client.post(url, {"reason": "oversold", "discount_code": "SORRY-10"})
    assert unconfirmed.status_code == 200  # the confirm step again: nothing was sent
    assert sandbox_order.cancelled_at is None

    done = client.post(
        url, {"confirm": "yes", "reason": "oversold", "discount_code": "SORRY-10", "notify": "yes"}
    )

    assert done.status_code == 302
    assert sandbox_order.cancelled_at is not None
    entry = AuditEntry.objects.get(action="order.cancel", target_id=str(losing.pk))
    assert (entry.actor, entry.reason, entry.after["emailed"]) == (
        "ops",
        "oversold",
        "jo@example.com",
    )
    listing = client.get(reverse("channels:incident-list")).content.decode()
    assert "Cancel sent</button>" in listing
    assert "disabled" in listing
    assert url not in listing  # no second cancel offered while the first is on its way


def test_the_api_cancels_and_backorders(world, api_client):
    a, b, first, losing = two_shops_one_unit(world)

    sent = api_client.post(
        f"/api/v1/orders/{losing.pk}/cancel/",
        {"reason": "oversold", "send_email": False},
        format="json",
    )
    again = api_client.post(
        f"/api/v1/orders/{losing.pk}/cancel/", {"reason": "oversold"}, format="json"
    )
    waiting = api_client.post(
        f"/api/v1/orders/{losing.pk}/backorder/", {"note": "ships Friday"}, format="json"
    )

    assert sent.status_code == 202, sent.content
    assert sent.json()["conflict_action"] == "cancel_requested"
    assert sent.json()["email_note"] == "not sent: the person chose not to"
    assert again.status_code == 409
    assert waiting.status_code == 409  # the cancel is on its way
    standing = ChannelOrder.objects.get(channel=a.channel, external_id=str(first["id"]))
    kept = api_client.post(
        f"/api/v1/orders/{standing.pk}/backorder/", {"note": "ships Friday"}, format="json"
    )
    assert kept.status_code == 200
    assert (kept.json()["conflict_action"], kept.json()["conflict_note"]) == (
        "backordered",
        "ships Friday",
    )
    assert AuditEntry.objects.filter(action="order.backorder", via="api").count() == 1


# --- Amazon ----------------------------------------------------------------------------------


def amazon_seller(world, units: int = 5):
    return world.open_seller("amazon-us", mfn={"TEE-M": units}, location=world.warehouse, seed=2)


def test_an_amazon_merchant_order_is_cancelled_through_the_acknowledgement_feed(world):
    seller = amazon_seller(world)
    placed = seller.sandbox.place_order("TEE-M", 1)
    world.settle()
    order = ChannelOrder.objects.get(channel=seller.channel, external_id=placed["orderId"])
    assert balance("TEE-M", "WH-EAST", "committed") == 1

    outcome = incidents.cancel_for_stock(order, reason="oversold", actor="ana")

    assert not outcome.refused
    assert ChannelOrder.objects.get(pk=order.pk).conflict_action == "cancel_requested"
    [feed] = [
        f for f in seller.sandbox.feeds.values() if f.feed_type == cancellation.ACKNOWLEDGEMENT_FEED
    ]
    assert feed.status == "IN_QUEUE"  # queued: Amazon cancels when it processes the feed
    seller.sandbox.advance(5)  # the feed's queue and processing time
    assert feed.status == "DONE"
    world.settle()
    cancelled = seller.sandbox.order_json(placed["orderId"])
    assert cancelled["fulfillment"]["fulfillmentStatus"] == "CANCELLED"
    assert cancelled["orderItems"][0]["cancellation"]["cancellationExecution"] == {
        "cancelledBy": "MERCHANT",
        "cancelReason": "NoInventory",
    }
    assert ChannelOrder.objects.get(pk=order.pk).status == "cancelled"
    assert balance("TEE-M", "WH-EAST", "committed") == 0


def test_the_acknowledgement_feed_restocks_for_every_reason_but_no_inventory(world):
    seller = amazon_seller(world, units=5)
    client = client_for(seller.channel)
    kept = seller.sandbox.place_order("TEE-M", 1, pending_seconds=0)
    back = seller.sandbox.place_order("TEE-M", 1, pending_seconds=0)
    assert seller.mfn("TEE-M") == 3

    for placed, reason in ((kept, "NoInventory"), (back, "BuyerCanceled")):
        items = [item["orderItemId"] for item in placed["orderItems"]]
        client.cancel_order(placed["orderId"], items, reason=reason)
    seller.sandbox.advance(5)

    assert seller.mfn("TEE-M") == 4  # only the BuyerCanceled unit went back on sale
    assert {
        seller.sandbox.order_json(p["orderId"])["fulfillment"]["fulfillmentStatus"]
        for p in (kept, back)
    } == {"CANCELLED"}


def test_the_acknowledgement_feed_report_names_the_orders_amazon_refused(world):
    seller = amazon_seller(world)
    client = client_for(seller.channel)
    placed = seller.sandbox.place_order("TEE-M", 2, pending_seconds=0)
    shipped = seller.sandbox.place_order("TEE-M", 1, pending_seconds=0)
    seller.sandbox.orders[shipped["orderId"]].items[0].shipped = 1

    some_items = client.cancel_order(placed["orderId"], ["not-an-item"], reason="NoInventory")
    too_late = client.cancel_order(
        shipped["orderId"], [shipped["orderItems"][0]["orderItemId"]], reason="NoInventory"
    )
    seller.sandbox.advance(5)

    for feed_id, order_id, said in (
        (some_items, placed["orderId"], "every item"),
        (too_late, shipped["orderId"], "shipped or cancelled"),
    ):
        status = client.feed(feed_id)
        assert status.processing_status == "DONE"
        refused = cancellation.refusals(client.feed_document(status.result_feed_document_id))
        assert list(refused) == [order_id]
        assert said in refused[order_id]
    assert seller.sandbox.order_json(placed["orderId"])["fulfillment"]["fulfillmentStatus"] == (
        "UNSHIPPED"
    )


def test_an_amazon_fulfilled_or_shipped_order_is_refused_before_anything_is_sent(world):
    seller = amazon_seller(world)
    placed = seller.sandbox.place_order("TEE-M", 1)
    world.settle()
    order = ChannelOrder.objects.get(channel=seller.channel, external_id=placed["orderId"])
    ChannelOrder.objects.filter(pk=order.pk).update(fulfilled_by_channel=True)
    order.refresh_from_db()

    with pytest.raises(Conflict, match="fulfilled by Amazon"):
        incidents.cancel_for_stock(order, reason="oversold", actor="ana")

    assert ChannelOrder.objects.get(pk=order.pk).conflict_action == ""  # as it was
    assert not [
        f for f in seller.sandbox.feeds.values() if f.feed_type == cancellation.ACKNOWLEDGEMENT_FEED
    ]


def test_a_cancel_amazon_refuses_in_the_feed_report_is_shown_refused_with_its_answer(world):
    seller = amazon_seller(world)
    placed = seller.sandbox.place_order("TEE-M", 1)
    world.settle()
    order = ChannelOrder.objects.get(channel=seller.channel, external_id=placed["orderId"])
    incidents.cancel_for_stock(order, reason="oversold", actor="ana")
    # Packed and shipped in Seller Central before Amazon processed the feed.
    seller.sandbox.orders[placed["orderId"]].items[0].shipped = 1

    seller.sandbox.advance(5)
    world.settle()

    refused = ChannelOrder.objects.get(pk=order.pk)
    assert (refused.status, refused.conflict_action) == ("open", ConflictAction.CANCEL_REFUSED)
    assert "amazon-us refused the cancel: 90003" in refused.conflict_note
    assert "shipped or cancelled already" in refused.conflict_note
    finished = InboundEvent.objects.get(topic="FEED_PROCESSING_FINISHED", status="applied")
    assert finished.outcome.endswith("1 cancel(s) refused")
