"""Shopify webhooks in: signature, raw storage at most once, and orders mapped into the ledger
in the same end state whatever the delivery order (I3, I4)."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from channels import inbound
from channels.lanes.shopify import webhooks as shopify_webhooks
from channels.models import Channel, ChannelOrder, InboundEvent, Listing
from ledger import services
from ledger.models import Balance, InventoryEvent
from ledger.rules import EventLine
from tests.contracts import SHOPIFY as CONTRACTS
from tests.factories import ChannelFactory, ListingFactory, SkuFactory

SECRET = "shpss_test_webhook_secret"


@pytest.fixture
def shop(db, warehouse):
    channel = ChannelFactory(code="demo-shop", default_location=warehouse)
    channel.credentials = {"access_token": "shpat_x", "webhook_secret": SECRET}
    channel.save()
    return channel


@pytest.fixture
def tee(shop, sku, warehouse, receive):
    receive(sku, warehouse, 10)
    return ListingFactory(
        channel=shop, sku=sku, external_id="gid://shopify/ProductVariant/111", pack_size=1
    )


def deliver(client, channel, topic, payload, *, event_id, secret=SECRET, raw=None, **headers):
    body = raw if raw is not None else json.dumps(payload).encode()
    return client.post(
        reverse("webhooks:shopify", args=[channel.pk]),
        data=body,
        content_type="application/json",
        HTTP_X_SHOPIFY_TOPIC=topic,
        HTTP_X_SHOPIFY_HMAC_SHA256=shopify_webhooks.sign(secret, body),
        HTTP_X_SHOPIFY_EVENT_ID=str(event_id),
        HTTP_X_SHOPIFY_WEBHOOK_ID=f"delivery-{event_id}-{len(body)}",
        HTTP_X_SHOPIFY_SHOP_DOMAIN="demo-shop.myshopify.com",
        HTTP_X_SHOPIFY_API_VERSION="2026-04",
        **headers,
    )


def order(
    order_id=5001, *, quantity=2, current=None, cancelled=False, updated="10:00:00", variant=111
):
    return {
        "id": order_id,
        "name": f"#{order_id}",
        "created_at": "2026-11-30T10:00:00Z",
        "updated_at": f"2026-11-30T{updated}Z",
        "cancelled_at": "2026-11-30T10:05:00Z" if cancelled else None,
        "line_items": [
            {
                "id": 9001,
                "variant_id": variant,
                "sku": "TEE-M",
                "quantity": quantity,
                "current_quantity": quantity if current is None else current,
            }
        ],
    }


def refund(restock_type, quantity=1):
    """refunds/create for line 9001 of order 5001."""
    return {
        "id": 70,
        "order_id": 5001,
        "refund_line_items": [
            {"id": 71, "line_item_id": 9001, "quantity": quantity, "restock_type": restock_type}
        ],
    }


def fulfillment(quantity=1):
    """fulfillments/create (shipped) for line 9001 of order 5001."""
    return {
        "id": 60,
        "order_id": 5001,
        "status": "success",
        "line_items": [{"id": 9001, "quantity": quantity}],
    }


def committed(sku, location):
    balance = Balance.objects.filter(sku=sku, location=location, bucket="committed").first()
    return balance.quantity if balance else 0


def on_hand(sku, location):
    return Balance.objects.get(sku=sku, location=location, bucket="on_hand").quantity


def test_hmac_test_vectors():
    vectors = json.loads((CONTRACTS / "webhooks" / "hmac_test_vectors.json").read_text())
    for vector in vectors["vectors"]:
        if "raw_body_utf8" in vector:
            body = vector["raw_body_utf8"].encode()
        else:
            body = (CONTRACTS / "webhooks" / vector["raw_body_file"]).read_bytes()
        assert shopify_webhooks.sign(vectors["secret"], body) == vector["x_shopify_hmac_sha256"]
        assert shopify_webhooks.signature_valid(
            [vectors["secret"]], body, vector["x_shopify_hmac_sha256"]
        )
    negative = vectors["negative"]
    assert not shopify_webhooks.signature_valid(
        [vectors["secret"]], negative["raw_body_utf8"].encode(), negative["x_shopify_hmac_sha256"]
    )


def test_a_rotated_secret_still_verifies_during_the_rotation():
    body = b'{"id": 1}'
    signature = shopify_webhooks.sign("old", body)
    assert shopify_webhooks.signature_valid(["new", "old"], body, signature)
    assert not shopify_webhooks.signature_valid(["new"], body, signature)


@pytest.mark.django_db
def test_a_bad_signature_is_refused_and_stores_nothing(client, shop):
    response = deliver(client, shop, "orders/create", order(), event_id=1, secret="wrong")
    assert response.status_code == 401
    unsigned = client.post(
        reverse("webhooks:shopify", args=[shop.pk]),
        data=b"{}",
        content_type="application/json",
        HTTP_X_SHOPIFY_TOPIC="orders/create",
        HTTP_X_SHOPIFY_EVENT_ID="2",
    )
    assert unsigned.status_code == 401
    assert InboundEvent.objects.count() == 0


@pytest.mark.django_db
def test_a_webhook_is_stored_raw_once_however_often_it_is_delivered(client, shop):
    body = json.dumps(order()).encode() + b"\n"  # byte for byte, whitespace included
    first = deliver(client, shop, "orders/create", None, event_id=77, raw=body)
    again = deliver(client, shop, "orders/create", None, event_id=77, raw=body)
    assert first.status_code == again.status_code == 200
    assert first.json() == {"status": "received"}
    assert again.json() == {"status": "duplicate"}
    stored = InboundEvent.objects.get()
    assert bytes(stored.body) == body
    assert stored.deliveries == 2
    assert stored.dedupe_key == "event:orders/create:77"
    assert stored.headers["X-Shopify-Topic"] == "orders/create"


@pytest.mark.django_db
def test_the_same_event_id_with_another_body_is_refused(client, shop):
    first = deliver(client, shop, "orders/create", order(quantity=1), event_id=5)
    other = deliver(client, shop, "orders/create", order(quantity=9), event_id=5)
    assert (first.status_code, other.status_code) == (200, 409)
    stored = InboundEvent.objects.get()
    assert json.loads(bytes(stored.body))["line_items"][0]["quantity"] == 1


@pytest.mark.django_db
def test_an_unknown_channel_is_404(client, shop):
    response = client.post(
        reverse("webhooks:shopify", args=[shop.pk + 1000]), data=b"{}", content_type="x/y"
    )
    assert response.status_code == 404


@pytest.mark.django_db
def test_an_order_commits_stock_and_lowers_the_channels_expected_quantity(
    client, shop, tee, sku, warehouse
):
    deliver(client, shop, "orders/create", order(quantity=2), event_id=1)
    assert inbound.process_pending() == 1
    assert committed(sku, warehouse) == 2
    stored = InboundEvent.objects.get()
    assert stored.status == "applied", stored.outcome
    line = ChannelOrder.objects.get(external_id="5001").lines.get()
    assert (line.listing_id, line.sku_id, line.sold_units) == (tee.pk, sku.pk, 2)
    # Shopify lowered its own `available` at checkout: the next compare-and-set expects that.
    assert Listing.objects.get(pk=tee.pk).channel_delta == -2


@pytest.mark.django_db
def test_a_line_without_variant_id_maps_by_sku(client, shop, tee, sku, warehouse):
    deliver(client, shop, "orders/create", order(variant=None), event_id=1)
    inbound.process_pending()
    assert committed(sku, warehouse) == 2
    assert ChannelOrder.objects.get().lines.get().listing_id == tee.pk


@pytest.mark.django_db
def test_an_unknown_sku_is_quarantined_then_applied_once_mapped(client, shop, warehouse, receive):
    payload = order(variant=222)
    payload["line_items"][0]["sku"] = "MUG-RED"
    deliver(client, shop, "orders/create", payload, event_id=1)
    inbound.process_pending()
    stored = InboundEvent.objects.get()
    assert stored.status == "quarantined"
    assert "MUG-RED" in stored.outcome
    assert not InventoryEvent.objects.filter(kind="sale").exists()
    # the mapping is fixed: the SKU exists now
    mug = SkuFactory(code="MUG-RED")
    receive(mug, warehouse, 5)
    assert inbound.retry_quarantined(channel=shop) == 1
    inbound.process_pending()
    assert InboundEvent.objects.get().status == "applied"
    assert committed(mug, warehouse) == 2


@pytest.mark.django_db
def test_a_refund_before_its_order_waits_and_then_applies(client, shop, tee, sku, warehouse):
    deliver(client, shop, "refunds/create", refund("cancel"), event_id=2)
    inbound.process_pending()
    waiting = InboundEvent.objects.get()
    assert waiting.status == "failed"
    assert waiting.next_attempt_at is not None
    deliver(client, shop, "orders/create", order(quantity=2), event_id=1)
    inbound.process_pending(now=waiting.next_attempt_at)
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"applied"}
    # 2 ordered, 1 cancelled by the refund: 1 stays committed
    assert committed(sku, warehouse) == 1


@pytest.mark.django_db
def test_a_returned_item_goes_back_on_hand(client, shop, tee, sku, warehouse):
    deliver(client, shop, "orders/create", order(quantity=1), event_id=1)
    deliver(client, shop, "fulfillments/create", fulfillment(), event_id=2)
    deliver(client, shop, "refunds/create", refund("return"), event_id=3)
    inbound.process_pending()
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"applied"}
    assert committed(sku, warehouse) == 0
    assert on_hand(sku, warehouse) == 10  # 10 − 1 shipped + 1 returned


def _ledger_state():
    return sorted(Balance.objects.values_list("sku__code", "location__code", "bucket", "quantity"))


@pytest.mark.django_db
@pytest.mark.parametrize("order_of_delivery", list(itertools.permutations(range(3))))
def test_duplicated_and_reordered_deliveries_end_like_a_clean_replay(
    client, shop, tee, sku, warehouse, order_of_delivery
):
    # the clean story: ordered 3, edited down to 2, cancelled
    story = [
        ("orders/create", order(quantity=3, updated="10:00:00")),
        ("orders/updated", order(quantity=3, current=2, updated="10:01:00")),
        ("orders/cancelled", order(quantity=3, current=2, cancelled=True, updated="10:05:00")),
    ]
    for index in order_of_delivery:
        topic, payload = story[index]
        deliver(client, shop, topic, payload, event_id=index)
        inbound.process_pending()
        deliver(client, shop, topic, payload, event_id=index)  # a redelivery
        inbound.process_pending()
    assert committed(sku, warehouse) == 0
    assert ChannelOrder.objects.get().status == "cancelled"
    assert InboundEvent.objects.count() == 3
    nonzero = [row for row in _ledger_state() if row[3]]
    assert nonzero == [("TEE-M", "WH-EAST", "on_hand", 10)]


@pytest.mark.django_db
def test_an_older_snapshot_never_undoes_a_newer_one(client, shop, tee, sku, warehouse):
    deliver(
        client, shop, "orders/updated", order(quantity=3, current=1, updated="10:02:00"), event_id=2
    )
    deliver(client, shop, "orders/create", order(quantity=3, updated="10:00:00"), event_id=1)
    inbound.process_pending()
    assert committed(sku, warehouse) == 1
    assert InboundEvent.objects.get(dedupe_key="event:orders/create:1").status == "ignored"


@pytest.mark.django_db
def test_our_own_write_echoing_back_is_recognised(client, shop, tee):
    shop.external_location_id = "gid://shopify/Location/555"
    shop.save()
    Listing.objects.filter(pk=tee.pk).update(
        shopify_inventory_item_id="gid://shopify/InventoryItem/42", pushed_quantity=8
    )
    level = {
        "inventory_item_id": 42,
        "location_id": 555,
        "available": 8,
        "updated_at": "2026-11-30T10:00:00Z",
    }
    deliver(client, shop, "inventory_levels/update", level, event_id=1)
    inbound.process_pending()
    echo = InboundEvent.objects.get()
    assert echo.outcome.startswith("echo")
    level["available"] = 5
    deliver(client, shop, "inventory_levels/update", level, event_id=2)
    inbound.process_pending()
    assert InboundEvent.objects.get(
        dedupe_key="event:inventory_levels/update:2"
    ).outcome.startswith("drift signal")
    assert Listing.objects.get(pk=tee.pk).observed_quantity == 5


SAMPLE_TOPICS = {
    "orders__create.2026-04.json": "orders/create",
    "orders__updated.2026-04.json": "orders/updated",
    "orders__cancelled.2026-04.json": "orders/cancelled",
    "refunds__create.2026-04.json": "refunds/create",
    "fulfillments__create.2026-04.json": "fulfillments/create",
    "inventory_items__update.2026-04.json": "inventory_items/update",
    "fulfillment_orders__cancelled.2026-04.json": "fulfillment_orders/cancelled",
}


@pytest.mark.django_db
def test_every_sample_payload_is_accepted_and_mapped(client, shop, warehouse, receive):
    for code in (
        "SKU2006-001",
        "LENS-PROTECT-2YR",
        "CASE-LEATHER-PREM",
        "SKU2006-020",
        "SKU2006-035",
    ):
        receive(SkuFactory(code=code), warehouse, 5)
    for number, (name, topic) in enumerate(SAMPLE_TOPICS.items()):
        body = (CONTRACTS / "webhooks" / name).read_bytes()
        response = deliver(client, shop, topic, None, event_id=number, raw=body)
        assert response.status_code == 200, name
    inbound.process_pending()
    statuses = dict(InboundEvent.objects.values_list("topic", "status"))
    assert statuses["orders/create"] == "applied"
    assert statuses["refunds/create"] == "applied"
    assert statuses["fulfillments/create"] == "applied"
    assert statuses["inventory_items/update"] == "ignored"
    sample = ChannelOrder.objects.get(external_id="820982911946154508")
    # the docs' example order is cancelled: mapped line by line, nothing stays committed
    assert sample.status == "cancelled"
    assert sorted(sample.lines.values_list("sku__code", flat=True)) == [
        "CASE-LEATHER-PREM",
        "LENS-PROTECT-2YR",
        "SKU2006-001",
        "SKU2006-020",
        "SKU2006-035",
    ]
    assert not Balance.objects.filter(bucket="committed", quantity__gt=0).exists()
    assert Channel.objects.get(pk=shop.pk).orders.count() == 1
    # orders/edited lists line deltas only: it is accepted, and names the order to read back
    edited = (CONTRACTS / "webhooks" / "orders__edited.2026-04.json").read_bytes()
    response = deliver(client, shop, "orders/edited", None, event_id=99, raw=edited)
    assert response.json() == {"status": "received"}
    assert shopify_webhooks.edited_order_id(json.loads(edited)) == "820982911946154508"


@pytest.mark.django_db
def test_only_the_newest_waiting_level_of_an_item_is_applied(client, shop, tee):
    shop.external_location_id = "gid://shopify/Location/555"
    shop.save()
    Listing.objects.filter(pk=tee.pk).update(shopify_inventory_item_id="42", pushed_quantity=8)
    for number, available in enumerate([8, 7, 6]):
        level = {"inventory_item_id": 42, "location_id": 555, "available": available}
        deliver(client, shop, "inventory_levels/update", level, event_id=number)
    assert inbound.process_pending() == 3
    outcomes = list(InboundEvent.objects.order_by("id").values_list("status", "outcome"))
    assert [status for status, _ in outcomes] == ["ignored", "ignored", "applied"]
    assert outcomes[0][1].startswith("superseded")
    assert Listing.objects.get(pk=tee.pk).observed_quantity == 6


@pytest.mark.django_db
def test_orders_api_shows_each_lines_units_in_the_ledger(client, shop, tee, api_client):
    deliver(client, shop, "orders/create", order(quantity=3, current=2), event_id=1)
    inbound.process_pending()
    response = api_client.get("/api/v1/orders/", {"channel": "demo-shop", "sku": "TEE-M"})
    assert response.status_code == 200
    [found] = response.json()["results"]
    assert (found["external_id"], found["status"]) == ("5001", "open")
    [line] = found["lines"]
    assert (line["sku"], line["quantity"], line["current_quantity"], line["committed_units"]) == (
        "TEE-M",
        3,
        2,
        2,
    )
    assert api_client.get("/api/v1/orders/", {"channel": "nope"}).json()["results"] == []


@pytest.mark.django_db
def test_a_cancel_type_refund_after_the_order_was_cancelled_commits_nothing(
    client, shop, tee, sku, warehouse
):
    deliver(client, shop, "orders/create", order(quantity=2), event_id=1)
    cancelled = order(quantity=2, cancelled=True, updated="10:05:00")
    deliver(client, shop, "orders/cancelled", cancelled, event_id=2)
    deliver(client, shop, "refunds/create", refund("cancel"), event_id=3)
    inbound.process_pending()
    assert committed(sku, warehouse) == 0
    assert InventoryEvent.objects.filter(kind="sale").count() == 1


@pytest.mark.django_db
def test_a_return_delivered_before_its_fulfilment_makes_no_phantom_stock(
    client, shop, tee, sku, warehouse
):
    deliver(client, shop, "orders/create", order(quantity=1), event_id=1)
    inbound.process_pending()
    # shipped then returned on Shopify; the deliveries come refund, update, fulfilment
    deliver(client, shop, "refunds/create", refund("return"), event_id=3)
    deliver(
        client, shop, "orders/updated", order(quantity=1, current=0, updated="11:00"), event_id=4
    )
    inbound.process_pending()
    deliver(client, shop, "fulfillments/create", fulfillment(), event_id=2)
    inbound.process_pending()
    assert on_hand(sku, warehouse) == 10  # 10 − 1 shipped + 1 returned
    assert committed(sku, warehouse) == 0


@pytest.mark.django_db
def test_a_fulfilment_seen_twice_ships_once(client, shop, tee, sku, warehouse):
    deliver(client, shop, "orders/create", order(quantity=3), event_id=1)
    partial = fulfillment(2)
    deliver(client, shop, "fulfillments/create", partial, event_id=2)
    inbound.process_pending()
    deliver(client, shop, "fulfillments/create", partial, event_id=22)  # another event id
    inbound.process_pending()
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"applied"}
    assert committed(sku, warehouse) == 1
    assert on_hand(sku, warehouse) == 8


@pytest.mark.django_db(transaction=True)
def test_orders_sharing_skus_in_opposite_line_order_do_not_deadlock(
    shop, warehouse, receive, monkeypatch
):
    from datetime import UTC, datetime

    from channels import orders
    from ledger import services as ledger_services
    from tests.concurrency import run_concurrently

    for code in ("AAA", "BBB"):
        receive(SkuFactory(code=code), warehouse, 10)
    real = ledger_services.record_event
    barrier_wait = __import__("threading").Event()

    def record_then_linger(**kwargs):
        result = real(**kwargs)
        barrier_wait.wait(0.3)  # hold the first SKU's lock while the other order starts
        return result

    monkeypatch.setattr(orders.ledger, "record_event", record_then_linger)
    placed = datetime(2026, 11, 30, 10, tzinfo=UTC)

    def apply(number, codes):
        snapshot = orders.OrderSnapshot(
            external_id=str(number),
            name=f"#{number}",
            placed_at=placed,
            updated_at=placed,
            cancelled_at=None,
            lines=tuple(
                orders.OrderLineSnapshot(f"{number}-{i}", 1, 1, sku=code)
                for i, code in enumerate(codes)
            ),
        )
        return orders.apply_order_snapshot(channel=shop, snapshot=snapshot)

    outcomes = run_concurrently(apply, [(1, ["AAA", "BBB"]), (2, ["BBB", "AAA"])])
    assert all(outcome.ok for outcome in outcomes), [repr(o.error) for o in outcomes]
    assert Balance.objects.get(sku__code="AAA", bucket="committed").quantity == 2
    assert Balance.objects.get(sku__code="BBB", bucket="committed").quantity == 2


@pytest.mark.django_db
def test_a_point_of_sale_order_at_another_location_does_not_move_the_synced_level(
    client, shop, tee, sku, warehouse
):
    shop.external_location_id = "gid://shopify/Location/555"
    shop.save()
    in_store = order(quantity=1)
    in_store["location_id"] = 777  # a store, not the synced location
    deliver(client, shop, "orders/create", in_store, event_id=1)
    online = order(5002, quantity=2)
    deliver(client, shop, "orders/create", online, event_id=2)
    inbound.process_pending()
    assert committed(sku, warehouse) == 3  # both orders are facts for the ledger
    # only the online order lowered what Shopify shows at the synced location
    assert Listing.objects.get(pk=tee.pk).channel_delta == -2


class _Orders:
    """Stands in for the client's order read: the orders a shop would list."""

    def __init__(self, orders):
        self.orders = orders
        self.asked = []

    def iter_orders_updated_since(self, since):
        self.asked.append(since)
        return iter(self.orders)


@pytest.mark.django_db
def test_polling_starts_at_its_first_run_and_never_imports_older_orders(shop, tee):
    from datetime import UTC, datetime, timedelta

    from channels.lanes.base import POLL_OVERLAP as OVERLAP
    from channels.polling import poll_orders

    start = datetime(2026, 11, 30, 12, 0, 0, 500_000, tzinfo=UTC)
    history = order(4001, updated="11:59:30")  # placed long before, updated just before
    history["created_at"] = "2026-11-30T09:00:00Z"
    first = poll_orders(shop, client=_Orders([history]), now=start)
    assert (first.seen, first.stored) == (0, 0)  # the first run only starts the watermark
    shop.refresh_from_db()
    fresh = order(4002, updated="12:00:05")
    fresh["created_at"] = "2026-11-30T12:00:00Z"  # the same second as the start: kept
    client = _Orders([history, fresh])
    second = poll_orders(shop, client=client, now=start + timedelta(minutes=1))
    assert (second.seen, second.stored) == (2, 1)
    assert client.asked == [start - OVERLAP]
    stored = InboundEvent.objects.get(source="poll")
    assert json.loads(bytes(stored.body))["id"] == 4002


@pytest.mark.django_db
def test_an_order_with_one_unknown_sku_commits_the_known_one_now_and_the_rest_later(
    client, shop, tee, sku, warehouse, receive
):
    mixed = order(quantity=2)
    mixed["line_items"].append(
        {"id": 9002, "variant_id": 333, "sku": "MUG-RED", "quantity": 1, "current_quantity": 1}
    )
    deliver(client, shop, "orders/create", mixed, event_id=1)
    inbound.process_pending()
    waiting = InboundEvent.objects.get()
    assert waiting.status == "quarantined"
    assert "MUG-RED" in waiting.outcome
    assert committed(sku, warehouse) == 2  # the known SKU is protected at once
    mug = SkuFactory(code="MUG-RED")
    receive(mug, warehouse, 5)
    inbound.retry_quarantined(channel=shop)
    inbound.process_pending()
    assert InboundEvent.objects.get().status == "applied"
    assert committed(mug, warehouse) == 1
    assert committed(sku, warehouse) == 2  # not twice


@pytest.mark.django_db
@pytest.mark.parametrize("update_first", [False, True])
def test_a_refund_without_restock_of_an_unshipped_item_takes_it_off_hand(
    client, shop, tee, sku, warehouse, update_first
):
    """Shopify removes an unfulfilled item refunded without restock from on hand; so do we,
    whichever of the order update and the refund arrives first, and only once."""
    deliver(client, shop, "orders/create", order(quantity=2), event_id=1)
    inbound.process_pending()
    updated = order(quantity=2, current=1, updated="11:00")
    deliveries = [("orders/updated", updated, 2), ("refunds/create", refund("no_restock"), 3)]
    for topic, body, event_id in deliveries if update_first else reversed(deliveries):
        deliver(client, shop, topic, body, event_id=event_id)
        inbound.process_pending()
    deliver(client, shop, "refunds/create", refund("no_restock"), event_id=4)  # redelivered
    inbound.process_pending()
    assert (on_hand(sku, warehouse), committed(sku, warehouse)) == (9, 1)
    assert InventoryEvent.objects.filter(kind="write_off").count() == 1


@pytest.mark.django_db
def test_a_refund_without_restock_of_a_shipped_item_is_money_only(
    client, shop, tee, sku, warehouse
):
    deliver(client, shop, "orders/create", order(quantity=1), event_id=1)
    deliver(client, shop, "fulfillments/create", fulfillment(), event_id=2)
    deliver(client, shop, "refunds/create", refund("no_restock"), event_id=3)
    inbound.process_pending()
    assert (on_hand(sku, warehouse), committed(sku, warehouse)) == (9, 0)
    assert not InventoryEvent.objects.filter(kind="write_off").exists()


@pytest.mark.django_db
def test_a_refund_without_restock_of_an_oversold_item_removes_nothing_it_does_not_have(
    client, shop, tee, sku, warehouse
):
    """Sold beyond stock (12 of 10, then the 10 written off): the refund still applies, and
    the unit that was never on hand is not removed (reconciliation shows any gap)."""
    deliver(client, shop, "orders/create", order(quantity=12), event_id=1)
    inbound.process_pending()
    services.record_event(
        kind="write_off",
        lines=[EventLine(sku=sku.code, location=warehouse.code, quantity=10)],
        idempotency_key="test:broken",
        source="test",
        reason="dropped the pallet",
    )
    deliver(client, shop, "refunds/create", refund("no_restock"), event_id=2)
    inbound.process_pending()
    assert InboundEvent.objects.get(topic="refunds/create").status == "applied"
    assert (on_hand(sku, warehouse), committed(sku, warehouse)) == (0, 11)


def deliver_level(client, channel, available, *, triggered_at, event_id):
    level = {"inventory_item_id": 42, "location_id": 555, "available": available}
    return deliver(
        client,
        channel,
        "inventory_levels/update",
        {**level, "updated_at": triggered_at},
        event_id=event_id,
        HTTP_X_SHOPIFY_TRIGGERED_AT=triggered_at,
    )


@pytest.mark.django_db
def test_the_late_echo_of_an_earlier_set_is_not_drift(client, shop, tee):
    """We set 8, then 7 (acknowledged at 10:00:05); the echo of the 8 is applied after that:
    the shop has shown our 7 since, so the 8 is history, not a level over what we set."""
    shop.external_location_id = "gid://shopify/Location/555"
    shop.save()
    Listing.objects.filter(pk=tee.pk).update(
        shopify_inventory_item_id="gid://shopify/InventoryItem/42",
        pushed_quantity=7,
        pushed_at=datetime(2026, 11, 30, 10, 0, 5, tzinfo=UTC),
    )
    deliver_level(client, shop, 8, triggered_at="2026-11-30T10:00:02Z", event_id=1)
    inbound.process_pending()
    late = InboundEvent.objects.get()
    assert (late.status, late.outcome) == ("ignored", "older than our last acknowledged set")
    tee.refresh_from_db()
    assert tee.observed_quantity is None
    # A level from after the set that shows more than we set is still a drift signal.
    deliver_level(client, shop, 8, triggered_at="2026-11-30T10:00:09Z", event_id=2)
    inbound.process_pending()
    newer = InboundEvent.objects.get(dedupe_key="event:inventory_levels/update:2")
    assert newer.outcome == "drift signal: channel shows 8, expected 7"
