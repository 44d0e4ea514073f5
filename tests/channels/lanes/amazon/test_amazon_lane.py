"""The Amazon lane end to end, over real HTTP: an SP-API sandbox seller and a Shopify sandbox
shop, python-amazon-sp-api through our client, notifications to our endpoint, and the
shared ledger, planner and push pipeline in between."""

import pytest

from channels import outbox, planner, polling, push
from channels.lanes.amazon import fba
from channels.models import Channel, ChannelOrder, InboundEvent, Listing, PushAttempt
from ledger.models import Location
from tests.channels.amazon_world import mixed_world
from tests.channels.shopify_world import balance, listing
from tests.factories import SkuFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

STOCK = {"TEE-M": 10, "MUG-RED": 10}


@pytest.fixture
def world(live_server, receive, settings, monkeypatch):
    with mixed_world(live_server.url, receive, settings, monkeypatch, STOCK) as built:
        yield built
        # Every request our client sent was valid against Amazon's official models.
        invalid = [entry for s in built.sellers for entry in s.sandbox.invalid_requests()]
    assert not invalid


def shop_and_seller(world, **seller_options):
    shop = world.open_shop("shop", stock=STOCK, location=world.warehouse, seed=1)
    seller = world.open_seller(
        "amazon-us", mfn=dict(STOCK), location=world.warehouse, seed=2, **seller_options
    )
    world.settle()
    return shop, seller


def shows_what_it_should(seller, sku: str) -> int:
    """Amazon shows the listing's desired quantity (the marketplace buffer below the stock
    covers the time a sale takes to reach us); returns it."""
    desired = listing(seller, sku).desired_quantity
    assert seller.mfn(sku) == desired
    return desired


def receive_each(world, receive, codes, quantity: int) -> None:
    for code in codes:
        receive(SkuFactory(code=code), world.warehouse, quantity)


def many_listings(world, receive, prefix: str, *, count: int, stock: int, seed: int, **config):
    """`count` SKUs of `stock` units each, listed on a seller (MFN) and settled."""
    codes = [f"{prefix}-{n:03d}" for n in range(count)]
    receive_each(world, receive, codes, stock)
    seller = world.open_seller(
        "amazon-us",
        mfn=dict.fromkeys(codes, stock),
        location=world.warehouse,
        seed=seed,
        **config,
    )
    world.settle()
    return seller, codes


def assert_all_shown(seller, codes) -> None:
    """Every listing shows what it should, and they all should show the same."""
    assert {shows_what_it_should(seller, code) for code in codes} == {
        listing(seller, codes[0]).desired_quantity
    }


def add_fba_pool() -> Location:
    return Location.objects.create(code="FBA-NA", name="FBA North America", kind="fba", region="NA")


def test_an_amazon_sale_moves_the_shopify_listing_and_a_shopify_sale_moves_amazon(world):
    shop, seller = shop_and_seller(world)
    assert shop.available("TEE-M") == 10
    before = shows_what_it_should(seller, "TEE-M")
    assert 0 < before <= 10

    seller.sandbox.place_order("TEE-M", 2)
    world.settle()
    assert balance("TEE-M", "WH-EAST", "committed") == 2
    assert shop.available("TEE-M") == 8
    assert shows_what_it_should(seller, "TEE-M") == before - 2
    order = ChannelOrder.objects.get(channel=seller.channel)
    assert order.lines.get().sku.code == "TEE-M"

    shop.sandbox.sell("TEE-M", 3)
    world.settle()
    assert balance("TEE-M", "WH-EAST", "committed") == 5
    assert shows_what_it_should(seller, "TEE-M") == before - 5
    pushed = listing(seller, "TEE-M")
    assert (pushed.pushed_quantity, pushed.in_flight_attempt_id) == (before - 5, None)
    # Applied only once the read-back showed it: the acknowledged push has its latency.
    done = PushAttempt.objects.filter(channel=seller.channel, status="acknowledged").last()
    assert done.latency_ms is not None


def test_an_accepted_patch_that_never_shows_is_sent_again(world, settings):
    # Amazon applies a patch by the next read-back here, so only the lost one is overdue.
    shop, seller = shop_and_seller(world, patch_apply_delay=0)
    settings.AMAZON_APPLY_DEADLINE_SECONDS = 0
    before = shows_what_it_should(seller, "MUG-RED")
    patches = len(seller.sandbox.requests("patchListingsItem"))
    seller.sandbox.lose_patches(1, sku="MUG-RED")
    shop.sandbox.sell("MUG-RED", 4)
    world.settle()
    assert shows_what_it_should(seller, "MUG-RED") == before - 4
    # Accepted but lost, then sent again and applied.
    assert len(seller.sandbox.requests("patchListingsItem")) - patches == 2
    assert listing(seller, "MUG-RED").pushed_quantity == before - 4


def test_a_patch_refused_after_accepted_says_why_while_it_waits_then_goes_again(world, settings):
    shop, seller = shop_and_seller(world, patch_apply_delay=0)
    before = shows_what_it_should(seller, "MUG-RED")
    # given Amazon will accept the next quantity, then refuse it in processing
    seller.sandbox.reject_patches(1, sku="MUG-RED")
    shop.sandbox.sell("MUG-RED", 4)
    for _ in range(6):
        world.step()
    # then the push waits for its read-back, and the listing shows Amazon's reason meanwhile
    waiting = listing(seller, "MUG-RED")
    assert waiting.in_flight_attempt_id is not None
    assert seller.mfn("MUG-RED") == before
    assert "not shown yet" in waiting.push_error
    assert "8572" in waiting.push_error
    # and when the apply deadline passes, it is sent again, lands and the reason is gone
    settings.AMAZON_APPLY_DEADLINE_SECONDS = 0
    world.settle()
    assert shows_what_it_should(seller, "MUG-RED") == before - 4
    done = listing(seller, "MUG-RED")
    assert (done.pushed_quantity, done.push_error) == (before - 4, "")
    on_amazon = seller.sandbox.find_listing("MUG-RED", marketplace_id=seller.channel.marketplace)
    assert on_amazon.late_issues == []


def test_a_dropped_notification_is_caught_by_the_next_poll(world):
    shop, seller = shop_and_seller(world)
    polling.poll_orders(seller.channel)  # the first poll only starts the watermark
    # Every notification of the next order is lost (its placement and its move to Unshipped).
    seller.sandbox.drop_notifications(10, "ORDER_CHANGE")
    seller.sandbox.place_order("TEE-M", 1)
    world.settle()
    assert not ChannelOrder.objects.filter(channel=seller.channel).exists()
    assert shop.available("TEE-M") == 10  # nobody told us yet

    seller.channel.refresh_from_db()
    outcome = polling.poll_orders(seller.channel)
    assert outcome.stored == 1
    world.settle()
    assert balance("TEE-M", "WH-EAST", "committed") == 1
    assert shop.available("TEE-M") == 9


def test_duplicated_and_late_notifications_apply_once(world):
    shop, seller = shop_and_seller(
        world, notifications={"duplicate_rate": 1.0, "reorder_rate": 0.5, "seed": 7}
    )
    seller.sandbox.place_order("TEE-M", 1)
    seller.sandbox.place_order("MUG-RED", 2)
    world.settle()
    assert InboundEvent.objects.filter(topic="ORDER_CHANGE", deliveries__gte=2).exists()
    assert balance("TEE-M", "WH-EAST", "committed") == 1
    assert balance("MUG-RED", "WH-EAST", "committed") == 2
    assert (shop.available("TEE-M"), shop.available("MUG-RED")) == (9, 8)


def test_a_cancelled_amazon_order_releases_its_stock(world):
    shop, seller = shop_and_seller(world)
    order = seller.sandbox.place_order("TEE-M", 2)
    world.settle()
    assert shop.available("TEE-M") == 8
    seller.sandbox.cancel_order(order["orderId"])
    world.settle()
    assert balance("TEE-M", "WH-EAST", "committed") == 0
    assert shop.available("TEE-M") == 10


def test_many_listings_changing_at_once_go_as_one_feed(world, receive):
    seller, codes = many_listings(world, receive, "BULK", count=30, stock=5, seed=3)
    feeds_before = len(seller.sandbox.requests("createFeed"))
    patches_before = seller.patch_calls()
    receive_each(world, receive, codes, 2)
    world.settle()
    assert_all_shown(seller, codes)
    assert listing(seller, codes[0]).desired_quantity > 5
    assert len(seller.sandbox.requests("createFeed")) - feeds_before == 1
    assert seller.patch_calls() == patches_before


def test_fba_listings_never_get_a_merchant_quantity_and_fba_stock_sells_only_there(world):
    add_fba_pool()
    seller = world.open_seller(
        "amazon-us",
        mfn={"TEE-M": 10},
        afn={"MUG-RED": {"fulfillable": 20, "inbound_shipped": 30}},
        location=world.warehouse,
        seed=4,
    )
    afn = listing(seller, "MUG-RED")
    assert afn.fulfilment == Listing.Fulfilment.FBA
    outcome = fba.sync_fba_inventory(seller.channel)
    assert (outcome.applied, outcome.unmapped) == (1, [])
    world.settle()
    assert balance("MUG-RED", "FBA-NA", "on_hand") == 20
    assert balance("MUG-RED", "FBA-NA", "incoming") == 30
    patched = {
        entry["path"].rsplit("/", 1)[-1] for entry in seller.sandbox.requests("patchListingsItem")
    }
    assert patched == {"TEE-M"}
    afn.refresh_from_db()
    # FBA stock only (the warehouse's 10 are not in it), inbound not sellable; less the buffer.
    assert 15 <= afn.desired_quantity <= 20
    assert "FBA-NA" in str(afn.desired_trace)
    assert "WH-EAST" not in str(afn.desired_trace)
    # Received at the fulfilment centre: now it sells.
    seller.sandbox.move_inbound("MUG-RED", 30, to="fulfillable", source="inbound_shipped")
    fba.sync_fba_inventory(seller.channel)
    world.settle()
    assert balance("MUG-RED", "FBA-NA", "incoming") == 0
    afn.refresh_from_db()
    assert 45 <= afn.desired_quantity <= 50
    merchant = listing(seller, "TEE-M")
    assert merchant.desired_quantity <= 10
    assert "FBA-NA" not in str(merchant.desired_trace)


def test_returns_report_over_http_records_each_disposition(world):
    from channels.lanes.amazon import returns
    from channels.lanes.amazon.api import client_for
    from channels.models import ChannelReturn

    add_fba_pool()
    seller = world.open_seller(
        "amazon-us",
        mfn={"TEE-M": 10},
        afn={"MUG-RED": {"fulfillable": 5}},
        location=world.warehouse,
        seed=5,
    )
    seller.sandbox.add_return("MUG-RED", 1, disposition="SELLABLE", reason="UNWANTED_ITEM")
    seller.sandbox.add_return("MUG-RED", 2, disposition="CUSTOMER_DAMAGED", reason="DEFECTIVE")
    seller.sandbox.add_return("MUG-RED", 1, disposition="CARRIER_DAMAGED", reason="DAMAGED")
    outcome = returns.sync_fba_returns(
        seller.channel,
        client=client_for(seller.channel, **world.amazon_options),
        wait=lambda: seller.sandbox.advance(2),
    )
    assert outcome.by_handling == {"amazon_count": 1, "unsellable": 1, "amazon_owned": 1}
    assert balance("MUG-RED", "FBA-NA", "unsellable") == 2
    damaged = ChannelReturn.objects.get(disposition="CUSTOMER_DAMAGED")
    assert (damaged.quantity, damaged.reason) == (2, "DEFECTIVE")
    seller.channel.refresh_from_db()
    assert seller.channel.returns_read_until is not None


def test_a_429_storm_on_patches_ends_with_every_listing_converged(world):
    shop, seller = shop_and_seller(world)
    before = {sku: shows_what_it_should(seller, sku) for sku in STOCK}
    # More 429s than one call's attempts: the push fails, stays due, and goes again.
    seller.sandbox.throttle("patchListingsItem", count=9)
    shop.sandbox.sell("TEE-M", 2)
    shop.sandbox.sell("MUG-RED", 1)
    world.settle()
    assert shows_what_it_should(seller, "TEE-M") == before["TEE-M"] - 2
    assert shows_what_it_should(seller, "MUG-RED") == before["MUG-RED"] - 1
    statuses = [entry.get("status") for entry in seller.sandbox.requests("patchListingsItem")]
    assert statuses.count(429) == 9
    assert not seller.sandbox.invalid_requests()


@pytest.mark.parametrize(
    ("spent", "burst", "rate"),
    [
        # createFeed's usage plan: about one per two minutes once the burst is gone
        ("createFeed", 15, 0.0083),
        # JSON_LISTINGS_FEED's own quota: five per five minutes, whatever createFeed has left
        ("feedType:JSON_LISTINGS_FEED", 5, 5 / 300),
    ],
)
def test_when_feeds_are_spent_many_changes_go_as_patches_a_round_at_a_time(
    world, receive, spent, burst, rate
):
    seller, codes = many_listings(world, receive, "BULK", count=30, stock=5, seed=6)
    feeds_before = len(seller.sandbox.requests("createFeed"))
    key = f"amazon:{seller.channel.seller_id}:NA:{spent}"
    bucket = world.amazon_options["throttle_factory"](key, burst, rate)
    while bucket.acquire(1) == 0:
        pass
    receive_each(world, receive, codes, 1)
    world.settle()
    assert_all_shown(seller, codes)
    assert len(seller.sandbox.requests("createFeed")) == feeds_before


def test_a_merchant_order_shipped_through_the_api_ships_once_on_both_sides(world, api_client):
    shop, seller = shop_and_seller(world)
    placed = seller.sandbox.place_order("TEE-M", 2)
    world.settle()
    order = ChannelOrder.objects.get(channel=seller.channel)
    response = api_client.post(
        f"/api/v1/orders/{order.pk}/ship/",
        {"carrier": "UPS", "tracking_number": "1Z999AA10123456784"},
        format="json",
    )
    assert response.status_code == 202, response.content
    outbox.deliver_due_shipments(lane_for=world.lane_for)  # the outbox tells Amazon
    assert seller.sandbox.order_json(placed["orderId"])["fulfillment"]["fulfillmentStatus"] == (
        "SHIPPED"
    )
    world.settle()  # Amazon's ORDER_CHANGE shows the shipped quantity
    assert balance("TEE-M", "WH-EAST", "committed") == 0
    assert balance("TEE-M", "WH-EAST", "on_hand") == 8
    line = order.lines.get()
    line.refresh_from_db()
    assert line.shipped_units == 2
    again = api_client.post(f"/api/v1/orders/{order.pk}/ship/", {"carrier": "UPS"}, format="json")
    assert again.status_code == 400  # the tracking number is required


def test_the_rest_of_an_order_shipped_in_seller_central_goes_as_its_own_package(world, api_client):
    shop, seller = shop_and_seller(world)
    placed = seller.sandbox.place_order("TEE-M", 3)
    seller.sandbox.advance(2)
    # given one unit shipped from Seller Central, as package 1
    item = placed["orderItems"][0]
    with seller.sandbox.lock:
        status, _ = seller.sandbox.confirm_shipment(
            seller.channel.seller_id,
            placed["orderId"],
            {
                "marketplaceId": seller.channel.marketplace,
                "packageDetail": {
                    "packageReferenceId": "1",
                    "carrierCode": "USPS",
                    "trackingNumber": "9400111899223197428490",
                    "shipDate": "2026-11-30T10:00:00Z",
                    "orderItems": [{"orderItemId": item["orderItemId"], "quantity": 1}],
                },
            },
        )
    assert status == 204
    world.settle()
    order = ChannelOrder.objects.get(channel=seller.channel)
    url = f"/api/v1/orders/{order.pk}/ship/"
    other = {"carrier": "Other", "tracking_number": "PF123456789GB"}
    # when the rest is shipped with a carrier Amazon has no code for, its name is required
    unnamed = api_client.post(url, other, format="json")
    assert unnamed.status_code == 400
    assert "carrier_name" in unnamed.json()["errors"]
    shipped = api_client.post(url, {**other, "carrier_name": "Parcelforce"}, format="json")
    # then the remaining two units go as package 2, and the order is shipped on Amazon
    assert shipped.status_code == 202, shipped.content
    outbox.deliver_due_shipments(lane_for=world.lane_for)
    on_amazon = seller.sandbox.order_json(placed["orderId"])
    assert on_amazon["fulfillment"]["fulfillmentStatus"] == "SHIPPED"
    packages = seller.sandbox.orders[placed["orderId"]].packages
    assert [p.package_reference_id for p in packages] == ["1", "2"]
    world.settle()
    assert balance("TEE-M", "WH-EAST", "committed") == 0


def test_many_decreases_at_once_go_as_patches_never_behind_a_feed(world, receive):
    from ledger import services
    from ledger.rules import EventLine

    seller, codes = many_listings(world, receive, "DOWN", count=30, stock=10, seed=8)
    feeds_before = len(seller.sandbox.requests("createFeed"))
    patches_before = seller.patch_calls()
    services.record_event(
        kind="write_off",
        lines=[EventLine(code, "WH-EAST", 4, bucket="on_hand") for code in codes],
        idempotency_key="water-damage",
        source="test",
        reason="water damage",
    )
    world.settle()
    assert_all_shown(seller, codes)
    assert len(seller.sandbox.requests("createFeed")) == feeds_before
    assert seller.patch_calls() - patches_before == len(codes)


def test_a_poll_without_rate_budget_is_skipped_and_reads_from_the_same_point_later(world):
    from channels.lanes.amazon.api import client_for

    shop, seller = shop_and_seller(world)
    polling.poll_orders(seller.channel)  # starts the watermark
    seller.channel.refresh_from_db()
    watermark = seller.channel.orders_polled_until
    seller.sandbox.drop_notifications(10, "ORDER_CHANGE")
    seller.sandbox.place_order("TEE-M", 1)
    world.settle()
    client = client_for(seller.channel)
    bucket = world.amazon_options["throttle_factory"](
        f"amazon:{seller.channel.seller_id}:NA:searchOrders", 20, 0.0056
    )
    while bucket.acquire(1) == 0:
        pass
    skipped = polling.poll_orders(seller.channel, client=client)
    assert (skipped.seen, skipped.watermark) == (0, watermark)
    assert not seller.sandbox.requests("searchOrders")
    bucket.refund(1, 0)  # a token comes back (a few minutes later, in real life)
    polling.poll_orders(Channel.objects.get(pk=seller.channel.pk), client=client)
    world.settle()
    assert balance("TEE-M", "WH-EAST", "committed") == 1


def test_our_patches_echo_back_and_a_seller_central_edit_is_a_drift_signal(world):
    shop, seller = shop_and_seller(world)
    topic = "LISTINGS_ITEM_MFN_QUANTITY_CHANGE"
    echoes = InboundEvent.objects.filter(topic=topic, outcome__startswith="echo")
    assert echoes.exists()
    assert not InboundEvent.objects.filter(topic=topic, outcome__startswith="drift").exists()
    seller.sandbox.set_mfn_quantity("TEE-M", 3)
    world.settle()
    drift = InboundEvent.objects.get(topic=topic, outcome__startswith="drift")
    assert "channel shows 3" in drift.outcome
    assert listing(seller, "TEE-M").observed_quantity == 3


def test_a_throttled_order_read_waits_without_holding_up_other_channels(world):
    from channels import inbound
    from channels.lanes.throttle import LocalThrottle

    shop, seller = shop_and_seller(world)
    # Our share of getOrder is spent (and comes back slowly).
    spent = LocalThrottle(30, 0.001)
    while spent.acquire(1) == 0:
        pass
    buckets = world.amazon_options["throttle_factory"].buckets
    buckets[f"amazon:{seller.channel.seller_id}:NA:getOrder"] = spent
    seller.sandbox.place_order("TEE-M", 1)
    shop.sandbox.sell("MUG-RED", 1)
    seller.sandbox.advance(1.0)
    seller.sandbox.flush()
    shop.sandbox.flush_webhooks()
    inbound.process_pending()
    assert balance("MUG-RED", "WH-EAST", "committed") == 1  # the shop's order went through
    assert balance("TEE-M", "WH-EAST", "committed") == 0
    # Still waiting (not failed: nothing for a person), due again once the budget returns.
    waiting = InboundEvent.objects.filter(topic="ORDER_CHANGE", outcome__contains="budget")
    assert waiting.exists()
    assert {event.status for event in waiting} == {"received"}
    assert all(event.next_attempt_at is not None for event in waiting)
    assert not InboundEvent.objects.filter(status="failed").exists()

    spent.refund(30, 0)  # the budget is back; the events are due again once their wait is over
    waiting.update(next_attempt_at=None)
    world.settle()
    assert balance("TEE-M", "WH-EAST", "committed") == 1


def test_a_listing_mapped_as_merchant_that_amazon_fulfils_is_corrected_and_never_patched(world):
    from channels.lanes.amazon.mapping import import_mapping

    add_fba_pool()
    seller = world.open_seller(
        "amazon-us",
        mfn={"TEE-M": 10},
        afn={"MUG-RED": {"fulfillable": 20}},
        location=world.warehouse,
        seed=9,
    )
    Listing.objects.filter(channel=seller.channel, external_id="MUG-RED").update(
        fulfilment=Listing.Fulfilment.MERCHANT
    )
    report = import_mapping(seller.channel)
    assert report.corrected == ["MUG-RED"]
    assert listing(seller, "MUG-RED").fulfilment == Listing.Fulfilment.FBA
    world.settle()
    assert not seller.sandbox.channel_switches
    patched = {e["path"].rsplit("/", 1)[-1] for e in seller.sandbox.requests("patchListingsItem")}
    assert "MUG-RED" not in patched


def test_an_fba_availability_notification_moves_the_pool_without_waiting_for_the_sync(world):
    add_fba_pool()
    seller = world.open_seller(
        "amazon-us",
        mfn={"TEE-M": 10},
        afn={"MUG-RED": {"fulfillable": 20}},
        location=world.warehouse,
        seed=10,
    )
    fba.sync_fba_inventory(seller.channel)
    world.settle()
    assert balance("MUG-RED", "FBA-NA", "on_hand") == 20
    seller.sandbox.set_fba("MUG-RED", fulfillable=12, customer_damaged=3)
    world.settle()
    assert InboundEvent.objects.filter(
        topic="FBA_INVENTORY_AVAILABILITY_CHANGES", status="applied"
    ).exists()
    assert balance("MUG-RED", "FBA-NA", "unsellable") == 3
    assert balance("MUG-RED", "FBA-NA", "on_hand") == 15


def test_an_order_of_another_marketplace_lands_on_that_marketplace_channel(world):
    shop, us = shop_and_seller(world)
    canada = Channel.objects.create(
        code="amazon-ca",
        name="amazon-ca",
        kind="amazon",
        mode="live",
        is_marketplace=True,
        api_base_url=us.channel.api_base_url,
        auth_url=us.channel.auth_url,
        seller_id=us.channel.seller_id,
        marketplace="A2EUQ1WTGCTBG2",
        region="NA",
        default_location=world.warehouse,
    )
    canada.credentials = us.channel.credentials
    canada.save()
    us.sandbox.add_seller(us.channel.seller_id, marketplace_ids=["ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"])
    us.sandbox.add_listing("TEE-M", marketplace_id="A2EUQ1WTGCTBG2", quantity=10)
    from channels.lanes.amazon.mapping import import_mapping

    import_mapping(canada)
    us.sandbox.place_order("TEE-M", 1, marketplace_id="A2EUQ1WTGCTBG2")
    world.settle()
    order = ChannelOrder.objects.get()
    assert order.channel == canada
    assert balance("TEE-M", "WH-EAST", "committed") == 1
    assert shop.available("TEE-M") == 9


def test_an_older_feed_landing_after_a_newer_patch_is_set_right_again(world, receive):
    from ledger import services
    from ledger.rules import EventLine

    seller, codes = many_listings(
        world,
        receive,
        "BULK",
        count=25,
        stock=5,
        seed=11,
        feed_processing_seconds=30,
        patch_apply_delay=1,
    )
    receive_each(world, receive, codes, 5)
    # One pass: 25 increases go as one feed, queued at Amazon for its 30 s.
    planner.plan_dirty_skus()
    channel = Channel.objects.get(pk=seller.channel.pk)
    push.push_channel(channel, world.lane_for(channel))
    feed = PushAttempt.objects.get(channel=seller.channel, status="accepted")
    assert "feed_id" in feed.response
    # Meanwhile BULK-000 loses 8 units: a decrease, patched at once, shows before the feed.
    services.record_event(
        kind="write_off",
        lines=[EventLine("BULK-000", "WH-EAST", 8, bucket="on_hand")],
        idempotency_key="breakage",
        source="test",
    )
    world.settle()
    # The feed's older, higher quantity landed afterwards; its read-back set it right again.
    assert shows_what_it_should(seller, "BULK-000") == listing(seller, "BULK-000").desired_quantity
    assert listing(seller, "BULK-000").desired_quantity < 5


def test_a_flash_sale_missed_by_notifications_is_polled_through_within_the_rate_limit(
    world, receive
):
    from datetime import UTC, datetime, timedelta

    from channels.lanes.amazon.api import client_for
    from channels.lanes.throttle import LocalThrottle

    receive(SkuFactory(code="HERO"), world.warehouse, 1000)
    # The sale happened two hours ago: the poll catches up slice by slice.
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    seller = world.open_seller(
        "amazon-us", mfn={"HERO": 1000}, location=world.warehouse, seed=12, wall_start=started
    )
    polling.poll_orders(seller.channel, now=started)  # the watermark starts before the sale
    seller.sandbox.drop_notifications(10_000, "ORDER_CHANGE")
    for _ in range(250):  # three pages of orders in 50 s
        seller.sandbox.place_order("HERO", 1)
        seller.sandbox.advance(0.2)
    last = seller.sandbox.now()

    class Clock:
        now = 0.0

        def __call__(self):
            return self.now

    clock = Clock()
    # Our searchOrders budget: the burst is spent but for two calls; one more every 180 s.
    budget = LocalThrottle(2, 0.0056, clock=clock)
    world.amazon_options["throttle_factory"].buckets[
        f"amazon:{seller.channel.seller_id}:NA:searchOrders"
    ] = budget
    client = client_for(seller.channel)
    polls = 0
    while Channel.objects.get(pk=seller.channel.pk).orders_polled_until <= last and polls < 60:
        # Every two minutes, on Amazon's clock (which runs two hours behind ours here).
        seller.sandbox.advance(120)
        clock.now += 120
        polling.poll_orders(
            Channel.objects.get(pk=seller.channel.pk), client=client, now=seller.sandbox.now()
        )
        polls += 1
    searches = len(seller.sandbox.requests("searchOrders"))
    assert Channel.objects.get(pk=seller.channel.pk).orders_polled_until > last, polls
    assert InboundEvent.objects.filter(topic="order").values("body").distinct().count() >= 250
    assert not [e for e in seller.sandbox.requests("searchOrders") if e.get("status") == 429]
    assert searches <= 2 + polls  # never more than the budget allowed
    world.settle()
    assert balance("HERO", "WH-EAST", "committed") == 250


def test_a_feed_that_ends_fatal_is_sent_again(world, receive):
    seller, codes = many_listings(world, receive, "FAIL", count=25, stock=5, seed=13)
    feeds_before = len(seller.sandbox.requests("createFeed"))
    seller.sandbox.fail_feeds(1)
    receive_each(world, receive, codes, 5)
    world.settle()
    assert len(seller.sandbox.requests("createFeed")) - feeds_before == 2
    assert_all_shown(seller, codes)
    assert listing(seller, codes[0]).push_error == ""
    fatal = PushAttempt.objects.filter(channel=seller.channel, response__confirm__feed="FATAL")
    assert fatal.count() == 1
