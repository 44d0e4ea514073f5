"""Notifications delivered like an EventBridge API destination: at least once, unordered,
sometimes late or never, each with its own NotificationId; polling has to catch the rest."""

from __future__ import annotations

from channels.sandbox.amazon.notifications import SCHEMAS
from channels.sandbox.amazon.spec import validate_json
from tests.channels.sandbox.amazon.support import NotificationReceiver, SpApi

EPOCH = "2020-01-01T00:00:00Z"


def _order_activity(sandbox, orders: int = 6) -> list[str]:
    sandbox.add_listing("TEE-M", quantity=50)
    sandbox.add_listing("HOODIE", channel="AFN", fba={"fulfillable": 50})
    placed = []
    for n in range(orders):
        placed.append(sandbox.place_order("TEE-M" if n % 2 else "HOODIE", 1)["orderId"])
    sandbox.advance(sandbox.config.order_pending_seconds)
    return placed


def test_an_order_change_arrives_as_an_eventbridge_event(sandbox, receiver: NotificationReceiver):
    sandbox.subscribe_notifications(
        receiver.url, api_key_header="x-inventory-sync-key", api_key="secret-1"
    )
    sandbox.add_listing("TEE-M", quantity=5)

    order = sandbox.place_order("TEE-M", 2)
    result = sandbox.flush()

    assert result["flushed"]
    [delivery] = receiver.of("ORDER_CHANGE")
    assert delivery.headers["x-inventory-sync-key"] == "secret-1"
    assert delivery.headers["Content-Type"].startswith("application/json")
    event = delivery.event
    assert event["version"] == "0"
    assert event["detail-type"] == "ORDER_CHANGE"
    assert event["source"].startswith("aws.partner/sellingpartnerapi.amazon.com/")
    assert event["account"] == sandbox.config.aws_account_id
    assert event["resources"] == []
    change = event["detail"]["Payload"]["OrderChangeNotification"]
    assert change["AmazonOrderId"] == order["orderId"]
    assert change["OrderChangeType"] == "OrderStatusChange"
    assert change["Summary"]["OrderStatus"] == "Pending"
    assert change["Summary"]["FulfillmentType"] == "MFN"
    assert change["Summary"]["OrderItems"][0]["SellerSKU"] == "TEE-M"
    assert change["Summary"]["OrderItems"][0]["Quantity"] == 2


def test_the_raw_envelope_is_the_notification_itself(sandbox, receiver: NotificationReceiver):
    sandbox.subscribe_notifications(receiver.url, envelope="raw")
    sandbox.add_listing("TEE-M", quantity=5)

    sandbox.place_order("TEE-M", 1)
    sandbox.flush()

    [delivery] = receiver.of("ORDER_CHANGE")
    assert "detail-type" not in delivery.event
    assert delivery.event["NotificationType"] == "ORDER_CHANGE"


def test_every_published_notification_matches_its_schema(sandbox, receiver, api: SpApi):
    sandbox.subscribe_notifications(receiver.url)
    _order_activity(sandbox)
    sandbox.set_mfn_quantity("TEE-M", 3)
    sandbox.move_inbound("HOODIE", 0, to="inbound_shipped")
    feed_doc = sandbox.new_document(api.seller_id, "feed_input", "application/json", b"{}")
    sandbox.create_feed(
        api.seller_id,
        {
            "feedType": "JSON_LISTINGS_FEED",
            "marketplaceIds": ["ATVPDKIKX0DER"],
            "inputFeedDocumentId": feed_doc.document_id,
        },
    )
    sandbox.create_report(
        api.seller_id,
        {"reportType": "GET_MERCHANT_LISTINGS_ALL_DATA", "marketplaceIds": ["ATVPDKIKX0DER"]},
    )
    sandbox.advance(120)
    sandbox.flush()

    published = list(sandbox.notifications.published)
    types = {record["notification_type"] for record in published}
    assert types == set(SCHEMAS)
    for record in published:
        assert validate_json(SCHEMAS[record["notification_type"]], record["notification"]) == []
    ids = [record["notification_id"] for record in published]
    assert len(ids) == len(set(ids))  # each notification has its own id
    assert sorted(receiver.ids()) == sorted(ids)


def test_duplicates_and_drops_under_a_seed(sandbox, receiver: NotificationReceiver):
    sandbox.subscribe_notifications(
        receiver.url,
        notification_types=["ORDER_CHANGE"],
        duplicate_rate=0.3,
        drop_rate=0.2,
        seed=11,
    )
    _order_activity(sandbox, orders=10)
    sandbox.flush()

    published = [r["notification_id"] for r in sandbox.notifications.published]
    dropped = {r["notification_id"] for r in sandbox.notifications.dropped}
    delivered = receiver.ids()
    duplicated = {i for i in delivered if delivered.count(i) > 1}
    assert len(published) == 20  # placed + released, 10 orders
    assert dropped  # this seed produces both
    assert duplicated
    assert set(delivered) == set(published) - dropped
    assert all(delivered.count(i) == 2 for i in duplicated)
    # The same seed and the same activity give the same schedule.
    pattern = [(i in dropped, i in duplicated) for i in published]
    assert pattern == _replay_pattern(sandbox, receiver)


def _replay_pattern(sandbox, receiver: NotificationReceiver) -> list[tuple[bool, bool]]:
    sandbox.reset()
    receiver.deliveries.clear()
    sandbox.subscribe_notifications(
        receiver.url,
        notification_types=["ORDER_CHANGE"],
        duplicate_rate=0.3,
        drop_rate=0.2,
        seed=11,
    )
    _order_activity(sandbox, orders=10)
    sandbox.flush()
    published = [r["notification_id"] for r in sandbox.notifications.published]
    dropped = {r["notification_id"] for r in sandbox.notifications.dropped}
    delivered = receiver.ids()
    return [(i in dropped, delivered.count(i) > 1) for i in published]


def test_polling_catches_what_was_dropped(api: SpApi, sandbox, receiver: NotificationReceiver):
    sandbox.subscribe_notifications(receiver.url, notification_types=["ORDER_CHANGE"])
    sandbox.drop_notifications(1, "ORDER_CHANGE")
    sandbox.add_listing("TEE-M", quantity=5)

    order = sandbox.place_order("TEE-M", 1, pending_seconds=60)
    sandbox.flush()

    assert receiver.of("ORDER_CHANGE") == []
    polled = api.search_orders(createdAfter=EPOCH)
    assert [o["orderId"] for o in polled["orders"]] == [order["orderId"]]


def test_late_notifications_wait_for_their_time(sandbox, receiver: NotificationReceiver, clock):
    sandbox.subscribe_notifications(
        receiver.url, notification_types=["ORDER_CHANGE"], late_rate=1.0, late_delay_s=(30, 30)
    )
    sandbox.add_listing("TEE-M", quantity=5)
    sandbox.place_order("TEE-M", 1, pending_seconds=600)

    sandbox.flush()
    assert receiver.of("ORDER_CHANGE") == []

    clock.advance(30)
    sandbox.flush()
    assert len(receiver.of("ORDER_CHANGE")) == 1


def test_flush_everything_delivers_late_ones_too(sandbox, receiver: NotificationReceiver):
    sandbox.subscribe_notifications(receiver.url, late_rate=1.0, late_delay_s=(300, 600))
    sandbox.add_listing("TEE-M", quantity=5)
    sandbox.place_order("TEE-M", 1, pending_seconds=600)

    result = sandbox.flush(everything=True)

    assert result["pending"] == 0
    assert len(receiver.of("ORDER_CHANGE")) == 1


def test_reordered_notifications_overtake(sandbox, receiver: NotificationReceiver):
    sandbox.subscribe_notifications(
        receiver.url, notification_types=["ORDER_CHANGE"], reorder_rate=0.5, seed=5
    )
    placed = _order_activity(sandbox, orders=8)
    sandbox.flush()

    published = [r["notification_id"] for r in sandbox.notifications.published]
    assert len(placed) == 8
    assert sorted(receiver.ids()) == sorted(published)
    assert receiver.ids() != published  # same set, another order


def test_a_failing_endpoint_gets_retries(sandbox, receiver: NotificationReceiver):
    sandbox.subscribe_notifications(receiver.url, notification_types=["ORDER_CHANGE"])
    sandbox.add_listing("TEE-M", quantity=5)
    receiver.status = 500

    sandbox.place_order("TEE-M", 1, pending_seconds=600)
    sandbox.flush()

    attempts = list(sandbox.notifications.attempts)
    assert len(attempts) == 1 + 5  # the first try and max_retries retries
    assert all(a["status"] == 500 for a in attempts)
    assert sandbox.notifications.stats["given_up"] == 1


def test_mfn_quantity_changes_are_notified(sandbox, receiver: NotificationReceiver):
    sandbox.subscribe_notifications(
        receiver.url, notification_types=["LISTINGS_ITEM_MFN_QUANTITY_CHANGE"]
    )
    sandbox.add_listing("TEE-M", quantity=5)

    sandbox.place_order("TEE-M", 2)
    sandbox.set_mfn_quantity("TEE-M", 9)
    sandbox.flush()

    payloads = [d.notification["Payload"] for d in receiver.deliveries]
    # Unordered, like every notification: compare as a set.
    assert {(p["Sku"], p["Quantity"]) for p in payloads} == {("TEE-M", 3), ("TEE-M", 9)}
    assert payloads[0]["FulfillmentChannelCode"] == "DEFAULT"


def test_fba_changes_are_notified_as_snapshots(sandbox, receiver: NotificationReceiver):
    sandbox.subscribe_notifications(
        receiver.url, notification_types=["FBA_INVENTORY_AVAILABILITY_CHANGES"]
    )
    sandbox.add_listing("HOODIE", channel="AFN", fba={"fulfillable": 5})

    sandbox.place_order("HOODIE", 2)
    sandbox.flush()

    [delivery] = receiver.deliveries
    inventory = delivery.notification["Payload"]["FulfillmentInventoryByMarketplace"][0]
    assert inventory["FulfillmentInventory"]["Fulfillable"] == 3
    assert (
        inventory["FulfillmentInventory"]["ReservedQuantityBreakdown"]["PendingCustomerOrder"] == 2
    )
