"""Amazon payloads into our shapes: official order examples as snapshots, notifications
through POST /webhooks/amazon/<id>/ (API key, dedupe, marketplace routing), and FBA reports
as pool snapshots in which inbound stock is never sellable."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from channels.lanes.amazon import fba
from channels.lanes.amazon import inventory as amazon_inventory
from channels.lanes.amazon import notifications as notes
from channels.lanes.amazon import orders as amazon_orders
from channels.lanes.base import POLL_OVERLAP
from channels.models import Channel, InboundEvent, Listing
from ledger.models import Balance, Location
from tests.contracts import AMAZON
from tests.factories import ChannelFactory, ListingFactory, SkuFactory, notified_amazon_channel

KEY = "notification-key-1"


def _examples(model: str, operation: str) -> list[dict]:
    data = json.loads((AMAZON / "examples" / f"{model}.examples.json").read_text())
    found = []
    for example in data["operations"][operation]["examples"]:
        if str(example["status"]).startswith("2"):
            response = example["response"]
            # A response-example block is keyed by its media type.
            found.append(response.get("application/json", response))
    return found


def _official_orders() -> list[dict]:
    found = []
    for response in _examples("orders_2026-01-01", "searchOrders"):
        found += response.get("orders", [])
    for response in _examples("orders_2026-01-01", "getOrder"):
        found.append(response["order"])
    return found


def _notification_example(name: str) -> dict:
    schema = json.loads((AMAZON / "schemas" / "notifications" / f"{name}.json").read_text())
    return schema["examples"][0]


def test_every_official_order_example_maps_to_a_snapshot():
    orders = _official_orders()
    assert orders, "the contracts folder has no Orders 2026-01-01 examples"
    for order in orders:
        snapshot = amazon_orders.order_snapshot(order)
        assert snapshot.external_id == order["orderId"]
        assert snapshot.updated_at >= snapshot.placed_at
        assert len(snapshot.lines) == len(order["orderItems"])
        for line, item in zip(snapshot.lines, order["orderItems"], strict=True):
            assert line.quantity == item["quantityOrdered"]
            assert line.variant_id == item["product"].get("sellerSku", "")
            assert 0 <= line.current_quantity <= line.quantity
        cancelled = amazon_orders.status(order) == "CANCELLED"
        assert (snapshot.cancelled_at is not None) == cancelled


def test_a_cancelled_order_and_an_executed_item_cancellation_release_and_a_request_does_not():
    base = {
        "orderId": "111-0000000-0000001",
        "createdTime": "2026-11-30T10:00:00Z",
        "lastUpdatedTime": "2026-11-30T10:05:00Z",
        "salesChannel": {"marketplaceId": "ATVPDKIKX0DER"},
        "fulfillment": {"fulfillmentStatus": "UNSHIPPED", "fulfilledBy": "MERCHANT"},
        "orderItems": [
            {
                "orderItemId": "1",
                "quantityOrdered": 2,
                "product": {"sellerSku": "A"},
                "cancellation": {"cancellationRequest": {"requester": "BUYER"}},
            },
            {
                "orderItemId": "2",
                "quantityOrdered": 1,
                "product": {"sellerSku": "B"},
                "cancellation": {"cancellationExecution": {"cancelledBy": "SELLER"}},
            },
        ],
    }
    snapshot = amazon_orders.order_snapshot(base)
    assert [line.current_quantity for line in snapshot.lines] == [2, 0]
    assert snapshot.cancelled_at is None
    cancelled = {**base, "fulfillment": {"fulfillmentStatus": "CANCELLED"}}
    assert amazon_orders.order_snapshot(cancelled).cancelled_at == snapshot.updated_at


def test_a_notification_unwraps_from_eventbridge_and_from_an_sqs_body_alike():
    raw = _notification_example("OrderChangeNotification")
    event = {
        "version": "0",
        "id": "eventbridge-1",
        "detail-type": "ORDER_CHANGE",
        "source": "aws.partner/sellingpartnerapi.amazon/app",
        "time": "2026-11-30T10:00:00Z",
        "detail": raw,
    }
    wrapped = notes.unwrap(json.dumps(event).encode())
    plain = notes.unwrap(json.dumps(raw).encode())
    assert wrapped.canonical() == plain.canonical()
    assert wrapped.notification_id == raw["NotificationMetadata"]["NotificationId"]
    assert wrapped.envelope["id"] == "eventbridge-1"
    assert notes.order_change(wrapped.body) == (
        "903-8868176-2219830",
        "A3TH9S8BH6GOGM",
        "ATVPDKIKX0DER",
    )
    with pytest.raises(notes.PayloadError):
        notes.unwrap(b'{"NotificationType": "ORDER_CHANGE"}')


def test_the_fba_notification_example_keeps_pending_orders_out_of_the_reserved_bucket():
    constructed = AMAZON / "examples" / "constructed"
    envelope = constructed / "FBAInventoryAvailabilityChangeNotification.envelope.constructed.json"
    stock = amazon_inventory.from_notification(json.loads(envelope.read_text()), ["ATVPDKIKX0DER"])
    # Fulfillable 50, reserved 5 + 15 + 10 (10 for pending customer orders), inbound 0+5+10.
    assert (stock.fulfillable, stock.reserved_for_orders, stock.reserved_by_centre) == (50, 10, 20)
    assert stock.inbound == 15
    assert stock.physical == 80


def test_the_constructed_inventory_summary_maps_like_the_notification():
    body = json.loads(
        (
            AMAZON / "examples" / "constructed" / "getInventorySummaries.response.constructed.json"
        ).read_text()
    )
    stock = amazon_inventory.from_summary(body["payload"]["inventorySummaries"][0])
    assert stock.seller_sku == "SKU-001"
    assert (stock.fulfillable, stock.reserved_for_orders, stock.reserved_by_centre) == (40, 2, 2)
    assert (stock.unfulfillable, stock.inbound) == (3, 18)


# --- the notification endpoint --------------------------------------------------------------


@pytest.fixture
def amazon_us(db):
    return notified_amazon_channel("amazon-us", KEY)


def _post(client, channel, body: dict, key: str | None = KEY):
    headers = {"HTTP_X_API_KEY": key} if key is not None else {}
    return client.post(
        reverse("webhooks:amazon", args=[channel.pk]),
        data=json.dumps(body),
        content_type="application/json",
        **headers,
    )


def _order_change(notification_id: str, marketplace: str = "ATVPDKIKX0DER") -> dict:
    raw = _notification_example("OrderChangeNotification")
    raw = json.loads(json.dumps(raw))
    raw["NotificationMetadata"]["NotificationId"] = notification_id
    raw["Payload"]["OrderChangeNotification"]["Summary"]["MarketplaceId"] = marketplace
    return raw


class _OrdersRead:
    """Records the windows a poll asks searchOrders for; Amazon has no orders in them."""

    def __init__(self) -> None:
        self.windows: list[tuple[datetime, datetime | None]] = []

    def budget(self, operation: str) -> float:
        return 20.0

    def search_orders(self, *, last_updated_after, last_updated_before=None):
        self.windows.append((last_updated_after, last_updated_before))
        return iter(())


def test_a_quiet_channels_polls_read_a_short_window_back_from_now(amazon_us):
    from channels import polling

    started = datetime(2026, 11, 30, 10, tzinfo=UTC)
    polling.poll_orders(amazon_us, now=started)  # starts the watermark
    reads = _OrdersRead()
    # when two hours pass without an order, polled every two minutes
    for minute in range(2, 121, 2):
        now = started + timedelta(minutes=minute)
        channel = Channel.objects.get(pk=amazon_us.pk)
        polling.poll_orders(channel, client=reads, now=now)
        since, until = reads.windows[-1]
        # then each poll reads to now from at most two overlaps and a poll interval back,
        # never from the hours the watermark would otherwise stand at
        assert until is None
        assert now - since <= 2 * POLL_OVERLAP + timedelta(minutes=2), minute
        assert Channel.objects.get(pk=amazon_us.pk).orders_polled_until <= now


def test_a_wrong_or_missing_api_key_is_refused_and_nothing_is_stored(client, amazon_us):
    assert _post(client, amazon_us, _order_change("n-1"), key="wrong").status_code == 401
    assert _post(client, amazon_us, _order_change("n-1"), key=None).status_code == 401
    assert not InboundEvent.objects.exists()


def test_a_notification_is_stored_once_however_often_and_however_wrapped_it_arrives(
    client, amazon_us
):
    first = _post(client, amazon_us, _order_change("n-2"))
    assert (first.status_code, first.json()["status"]) == (200, "received")
    again = _post(client, amazon_us, {"detail-type": "ORDER_CHANGE", "id": "other-envelope",
                                      "detail": _order_change("n-2")})  # fmt: skip
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    event = InboundEvent.objects.get()
    assert (event.topic, event.source, event.deliveries) == ("ORDER_CHANGE", "notification", 2)
    assert event.dedupe_key == "notification:n-2"


def test_an_order_of_another_marketplace_goes_to_that_marketplace_channel(client, amazon_us):
    canada = ChannelFactory(
        code="amazon-ca",
        kind=Channel.Kind.AMAZON,
        seller_id=amazon_us.seller_id,
        marketplace="A2EUQ1WTGCTBG2",
        region="NA",
    )
    assert _post(client, amazon_us, _order_change("n-3", "A2EUQ1WTGCTBG2")).status_code == 200
    assert InboundEvent.objects.get().channel_id == canada.pk


def test_a_body_that_is_not_a_notification_is_a_bad_request(client, amazon_us):
    assert _post(client, amazon_us, {"hello": "world"}).status_code == 400
    assert not InboundEvent.objects.exists()


# --- FBA pools ------------------------------------------------------------------------------


@pytest.fixture
def pool(db):
    return Location.objects.create(code="FBA-NA", name="FBA North America", kind="fba", region="NA")


def _balances(sku, location) -> dict[str, int]:
    return dict(
        Balance.objects.filter(sku=sku, location=location).values_list("bucket", "quantity")
    )


def test_inbound_fba_stock_is_recorded_but_never_sellable(amazon_us, pool):
    sku = SkuFactory(code="MUG-1")
    ListingFactory(channel=amazon_us, sku=sku, external_id="MUG-1", fulfilment="fba")
    stock = amazon_inventory.FbaStock("MUG-1", 0, 0, 0, 0, inbound=40)
    at = datetime(2026, 11, 30, 10, tzinfo=UTC)
    fba.record_fba_stock(amazon_us, stock, ref="r1", occurred_at=at)
    balances = _balances(sku, pool)
    assert balances.get("incoming") == 40
    assert balances.get("on_hand", 0) == 0
    received = amazon_inventory.FbaStock("MUG-1", 38, 2, 0, 0, inbound=0)
    fba.record_fba_stock(amazon_us, received, ref="r2", occurred_at=at + timedelta(hours=1))
    balances = _balances(sku, pool)
    assert (balances["on_hand"], balances["unsellable"], balances["incoming"]) == (40, 2, 0)


def test_an_older_fba_report_changes_nothing_and_a_repeated_one_records_once(amazon_us, pool):
    sku = SkuFactory(code="MUG-2")
    ListingFactory(channel=amazon_us, sku=sku, external_id="MUG-2", fulfilment="fba")
    at = datetime(2026, 11, 30, 10, tzinfo=UTC)
    newer = amazon_inventory.FbaStock("MUG-2", 10, 0, 0, 0, 0)
    older = amazon_inventory.FbaStock("MUG-2", 25, 0, 0, 0, 0)
    assert fba.record_fba_stock(amazon_us, newer, ref="n", occurred_at=at).status == "applied"
    late = fba.record_fba_stock(amazon_us, older, ref="o", occurred_at=at - timedelta(minutes=5))
    assert late.status == "ignored"
    again = fba.record_fba_stock(amazon_us, newer, ref="n", occurred_at=at)
    assert (again.status, again.event_id) == ("unchanged", None)
    assert _balances(sku, pool)["on_hand"] == 10


def test_a_live_summary_read_well_after_the_last_count_repairs_a_lost_notification(amazon_us, pool):
    # given a notification's count at 10:00:00.200; the next change's notification (same
    # second) was lost, and Amazon's summary gives its whole-second lastUpdatedTime, 10:00:00
    sku = SkuFactory(code="MUG-4")
    ListingFactory(channel=amazon_us, sku=sku, external_id="MUG-4", fulfilment="fba")
    noticed = datetime(2026, 11, 30, 10, 0, 0, 200_000, tzinfo=UTC)
    fba.record_fba_stock(
        amazon_us, amazon_inventory.FbaStock("MUG-4", 7, 0, 0, 0, 0), ref="n1", occurred_at=noticed
    )
    summary = amazon_inventory.FbaStock("MUG-4", 4, 0, 0, 0, inbound=12)
    updated = noticed.replace(microsecond=0)
    # when the summary is read a minute later, it may predate the count: it is ignored
    early = fba.record_fba_stock(
        amazon_us, summary, ref="s1", occurred_at=updated, read_at=noticed + timedelta(minutes=1)
    )
    assert early.status == "ignored"
    # when the periodic read comes well after, it is what Amazon holds: it wins
    later = fba.record_fba_stock(
        amazon_us, summary, ref="s2", occurred_at=updated, read_at=noticed + timedelta(minutes=15)
    )
    assert later.status == "applied"
    balances = _balances(sku, pool)
    assert (balances["on_hand"], balances["incoming"]) == (4, 12)
    # and a notification older than the first count, delivered late, still changes nothing
    stale = fba.record_fba_stock(
        amazon_us,
        amazon_inventory.FbaStock("MUG-4", 9, 0, 0, 0, 0),
        ref="n0",
        occurred_at=noticed - timedelta(milliseconds=100),
    )
    assert stale.status == "ignored"
    assert _balances(sku, pool)["on_hand"] == 4


def test_fba_stock_of_an_unknown_seller_sku_waits_in_quarantine(amazon_us, pool):
    stock = amazon_inventory.FbaStock("NOT-MAPPED", 5, 0, 0, 0, 0)
    with pytest.raises(fba.Quarantine):
        fba.record_fba_stock(amazon_us, stock, ref="x", occurred_at=datetime.now(UTC))
    assert not Listing.objects.filter(external_id="NOT-MAPPED").exists()


# --- returns --------------------------------------------------------------------------------


def test_fba_returns_by_disposition_record_once_and_never_count_a_sellable_unit_twice(
    amazon_us, pool
):
    from channels.lanes.amazon import returns
    from channels.lanes.amazon.returns_report import parse_returns_report
    from channels.models import ChannelReturn

    for code in ("SKU-001", "SKU-002"):
        ListingFactory(channel=amazon_us, sku=SkuFactory(code=code), external_id=code)
    sample = AMAZON / "examples" / "constructed" / "fba_customer_returns_report.sample.tsv"
    rows = parse_returns_report(sample.read_bytes())
    assert [row.disposition for row in rows] == [
        "SELLABLE",
        "CUSTOMER_DAMAGED",
        "CARRIER_DAMAGED",
        "DEFECTIVE",
    ]
    outcome = returns.record_fba_returns(amazon_us, rows)
    assert (outcome.recorded, outcome.duplicates) == (4, 0)
    handled = dict(ChannelReturn.objects.values_list("disposition", "handling"))
    assert handled == {
        "SELLABLE": "amazon_count",
        "CUSTOMER_DAMAGED": "unsellable",
        "CARRIER_DAMAGED": "amazon_owned",
        "DEFECTIVE": "unsellable",
    }
    # Sellable: Amazon's count carries it. Damaged by the customer: on hand but unsellable.
    one = _balances(SkuFactory(code="SKU-001"), pool)
    assert (one.get("on_hand"), one.get("unsellable")) == (1, 1)
    two = _balances(SkuFactory(code="SKU-002"), pool)
    assert (two.get("on_hand"), two.get("unsellable")) == (1, 1)  # the carrier's 2 are Amazon's
    defective = ChannelReturn.objects.get(disposition="DEFECTIVE")
    assert defective.event.reason == "DEFECTIVE: QUALITY_UNACCEPTABLE"

    again = returns.record_fba_returns(amazon_us, rows)
    assert (again.recorded, again.duplicates) == (0, 4)
    assert _balances(SkuFactory(code="SKU-001"), pool).get("on_hand") == 1


def test_a_return_of_an_unknown_seller_sku_waits_for_a_mapping(amazon_us, pool):
    from channels.lanes.amazon import returns
    from channels.lanes.amazon.returns_report import parse_returns_report
    from channels.models import ChannelReturn

    report = (
        b"return-date\torder-id\tsku\tquantity\tdetailed-disposition\treason\tstatus\t"
        b"license-plate-number\n"
        b"2026-11-29T10:00:00+00:00\t111-1\tNOBODY\t1\tDEFECTIVE\tDEFECTIVE\tok\tLPN1\n"
    )
    returns.record_fba_returns(amazon_us, parse_returns_report(report))
    waiting = ChannelReturn.objects.get()
    assert (waiting.handling, waiting.sku_id, waiting.event_id) == ("unmapped", None, None)
    # Mapped later: the return is applied then, once.
    ListingFactory(channel=amazon_us, sku=SkuFactory(code="NOBODY"), external_id="NOBODY")
    assert returns.retry_unmapped_returns(amazon_us) == 1
    assert returns.retry_unmapped_returns(amazon_us) == 0
    waiting.refresh_from_db()
    assert waiting.handling == "unsellable"
    assert _balances(waiting.sku, pool)["unsellable"] == 1


def test_the_returns_page_lists_each_return_and_filters_the_ones_waiting(client, user, amazon_us):
    from channels.lanes.amazon import returns
    from channels.lanes.amazon.returns_report import parse_returns_report

    ListingFactory(channel=amazon_us, sku=SkuFactory(code="SKU-001"), external_id="SKU-001")
    report = (
        b"return-date\torder-id\tsku\tquantity\tdetailed-disposition\treason\tstatus\t"
        b"license-plate-number\n"
        b"2026-11-29T10:00:00+00:00\t111-1\tSKU-001\t1\tSELLABLE\tUNWANTED_ITEM\tok\tLPN1\n"
        b"2026-11-29T11:00:00+00:00\t111-2\tNOBODY\t1\tDEFECTIVE\tDEFECTIVE\tok\tLPN2\n"
    )
    returns.record_fba_returns(amazon_us, parse_returns_report(report))
    client.force_login(user)
    page = client.get(reverse("channels:return-list")).content.decode()
    assert page.count("data-return=") == 2
    assert "1 wait for a person" in page
    waiting = client.get(reverse("channels:return-list"), {"handling": "unmapped"})
    body = waiting.content.decode()
    assert body.count("data-return=") == 1
    assert "NOBODY" in body


def test_an_amazon_channel_is_set_up_in_the_admin_with_write_only_credentials(admin_client, client):
    from django.urls import reverse as url

    form = {
        "code": "amazon-ca",
        "name": "Amazon CA",
        "kind": "amazon",
        "marketplace": "A2EUQ1WTGCTBG2",
        "region": "NA",
        "is_marketplace": "on",
        "mode": "shadow",
        "priority": "2",
        "seller_id": "A1SELLER",
        "refresh_token": "Atzr|refresh",
        "lwa_app_id": "amzn1.application-oa2-client.x",
        "lwa_client_secret": "lwa-secret",
        "notification_key": "key-one",
    }
    created = admin_client.post(url("admin:channels_channel_add"), form)
    assert created.status_code == 302, created.content.decode()[:2000]
    channel = Channel.objects.get(code="amazon-ca")
    assert channel.seller_id == "A1SELLER"
    assert channel.credentials["refresh_token"] == "Atzr|refresh"
    page = admin_client.get(url("admin:channels_channel_change", args=[channel.pk]))
    assert "lwa-secret" not in page.content.decode()
    # A new notification key: the old one still works until the EventBridge connection moves.
    changed = {**form, "refresh_token": "", "lwa_client_secret": "", "notification_key": "key-two"}
    admin_client.post(url("admin:channels_channel_change", args=[channel.pk]), changed)
    channel.refresh_from_db()
    assert channel.credentials["refresh_token"] == "Atzr|refresh"
    assert (
        channel.credentials["notification_key"],
        channel.credentials["old_notification_key"],
    ) == (
        "key-two",
        "key-one",
    )
    for key in ("key-one", "key-two"):
        answer = _post(client, channel, _order_change(f"rotation-{key}", "A2EUQ1WTGCTBG2"), key=key)
        assert answer.status_code == 200


def _afn_order(status: str, fulfilled: int, updated: str) -> dict:
    return {
        "orderId": "111-0000000-0000009",
        "createdTime": "2026-11-30T10:00:00Z",
        "lastUpdatedTime": updated,
        "salesChannel": {"marketplaceId": "ATVPDKIKX0DER"},
        "fulfillment": {"fulfillmentStatus": status, "fulfilledBy": "AMAZON"},
        "orderItems": [
            {
                "orderItemId": "1",
                "quantityOrdered": 1,
                "product": {"sellerSku": "MUG-9"},
                "fulfillment": {
                    "quantityFulfilled": fulfilled,
                    "quantityUnfulfilled": 1 - fulfilled,
                },
            }
        ],
    }


@pytest.mark.parametrize("fulfillable", [0, 4])
def test_an_fba_order_and_amazons_counts_agree_in_whichever_order_they_arrive(
    amazon_us, pool, fulfillable
):
    from channels import inbound

    sku = SkuFactory(code="MUG-9")
    ListingFactory(channel=amazon_us, sku=sku, external_id="MUG-9", fulfilment="fba")

    def ingest(order: dict, key: str) -> InboundEvent:
        stored = inbound.store(
            channel=amazon_us, source="poll", topic="order", dedupe_key=key,
            body=json.dumps(order).encode(),
        )  # fmt: skip
        inbound.process_one(stored.id)
        return InboundEvent.objects.get(pk=stored.id)

    def available() -> int:
        b = _balances(sku, pool)
        return (
            b.get("on_hand", 0)
            - b.get("committed", 0)
            - b.get("reserved", 0)
            - (b.get("unsellable", 0))
        )

    at = datetime(2026, 11, 30, 10, tzinfo=UTC)
    # Amazon: `fulfillable` on sale and one unit held for a pending order we have not read.
    held = amazon_inventory.FbaStock("MUG-9", fulfillable, 0, 1, 0, 0)
    fba.record_fba_stock(amazon_us, held, ref="r1", occurred_at=at)
    assert available() == fulfillable
    assert ingest(_afn_order("UNSHIPPED", 0, "2026-11-30T10:02:00Z"), "o1").status == "applied"
    assert _balances(sku, pool)["committed"] == 1
    assert available() <= fulfillable  # never more than Amazon sells
    # Amazon ships it; its count arrives before the order's change is read.
    shipped = amazon_inventory.FbaStock("MUG-9", fulfillable, 0, 0, 0, 0)
    fba.record_fba_stock(amazon_us, shipped, ref="r2", occurred_at=at + timedelta(minutes=30))
    assert available() == fulfillable
    event = ingest(_afn_order("SHIPPED", 1, "2026-11-30T10:30:00Z"), "o2")
    assert event.status == "applied", event.outcome
    balances = _balances(sku, pool)
    assert (balances["on_hand"], balances["committed"]) == (fulfillable, 0)


def test_a_newer_fba_count_that_changes_nothing_still_outranks_a_late_older_one(amazon_us, pool):
    sku = SkuFactory(code="MUG-3")
    ListingFactory(channel=amazon_us, sku=sku, external_id="MUG-3", fulfilment="fba")
    at = datetime(2026, 11, 30, 10, tzinfo=UTC)
    five = amazon_inventory.FbaStock("MUG-3", 5, 0, 0, 0, 0)
    three = amazon_inventory.FbaStock("MUG-3", 3, 0, 0, 0, 0)
    fba.record_fba_stock(amazon_us, five, ref="a", occurred_at=at)
    unchanged = fba.record_fba_stock(
        amazon_us, five, ref="b", occurred_at=at + timedelta(minutes=10)
    )
    assert unchanged.status == "unchanged"
    late = fba.record_fba_stock(amazon_us, three, ref="c", occurred_at=at + timedelta(minutes=5))
    assert late.status == "ignored"
    assert _balances(sku, pool)["on_hand"] == 5


def test_an_order_amazon_fulfils_takes_pool_stock_even_on_a_listing_mapped_as_merchant(
    amazon_us, pool, warehouse
):
    from channels import inbound
    from channels.models import ChannelOrderLine

    Channel.objects.filter(pk=amazon_us.pk).update(default_location=warehouse)
    amazon_us.refresh_from_db()
    ListingFactory(channel=amazon_us, sku=SkuFactory(code="MUG-9"), external_id="MUG-9")
    order = _afn_order("UNSHIPPED", 0, "2026-11-30T10:02:00Z")
    stored = inbound.store(
        channel=amazon_us, source="poll", topic="order", dedupe_key="o",
        body=json.dumps(order).encode(),
    )  # fmt: skip
    inbound.process_one(stored.id)
    assert ChannelOrderLine.objects.get().location == pool
