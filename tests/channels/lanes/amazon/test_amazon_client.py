"""The Amazon SP-API client against the SP-API sandbox over real HTTP.

The sandbox validates every request against Amazon's official models (an invalid one is
answered 400 and logged), runs per-operation token buckets and processes patches, feeds and
reports on its own clock. The client's sleep moves that clock: the client's buckets and the
sandbox's refill together and no test sleeps for real.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

from channels.lanes.amazon import client as amazon
from channels.lanes.throttle import LocalThrottle
from channels.sandbox.amazon import ManualClock, serve_in_thread, spec

US = "ATVPDKIKX0DER"
RETURNS_REPORT = "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA"


class SharedTime:
    """One fake time for both sides: the client's sleeps advance the sandbox's ManualClock (so
    its buckets refill and its queued work runs) and the clock of the client's buckets."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        self.now = 1_000_000.0
        self.sleeps: list[float] = []
        self.buckets: dict[str, LocalThrottle] = {}

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.sandbox.advance(seconds)

    def throttle(self, key: str, capacity: float, rate: float) -> LocalThrottle:
        # One bucket per key, as Redis would share it between workers.
        return self.buckets.setdefault(key, LocalThrottle(capacity, rate, clock=self))


@pytest.fixture(scope="module")
def handle():
    handle = serve_in_thread(clock=ManualClock())
    yield handle
    handle.stop()


@pytest.fixture
def sandbox(handle):
    sandbox = handle.sandbox
    sandbox.reset()
    sandbox.config.gzip_documents = False
    sandbox.config.afn_merchant_quantity = "convert"
    sandbox.set_rate_limits(enabled=True, scale=1.0)
    yield sandbox
    # Every request any test sent is valid against Amazon's official models.
    assert sandbox.invalid_requests() == []


@pytest.fixture
def shared_time(sandbox) -> SharedTime:
    return SharedTime(sandbox)


@pytest.fixture
def make_client(handle, sandbox, shared_time):
    config = sandbox.config
    seller = sandbox.seller()

    def make(**kwargs: Any) -> amazon.AmazonClient:
        options: dict[str, Any] = {
            "endpoint": handle.url,
            "token_url": f"{handle.url}/auth/o2/token",
            "credentials": amazon.AmazonCredentials(
                refresh_token=seller.refresh_token,
                lwa_app_id=config.client_id,
                lwa_client_secret=config.client_secret,
            ),
            "seller_id": seller.seller_id,
            "marketplace_id": US,
            "throttle_factory": shared_time.throttle,
            "sleep": shared_time.sleep,
            "rng": random.Random(11),
            "timeout": 5.0,
        }
        options.update(kwargs)
        return amazon.AmazonClient(**options)

    return make


def _calls(sandbox, operation: str) -> list[dict]:
    return sandbox.requests(operation)


# --- LWA ------------------------------------------------------------------------------------


def test_token_is_fetched_once_and_reused_across_calls_and_clients(sandbox, make_client):
    # given a listing and two clients of the same seller
    sandbox.add_listing("TEE-M", quantity=3)
    first, second = make_client(), make_client()
    # when both read it several times
    for client in (first, second, first):
        assert client.get_listing("TEE-M")["sku"] == "TEE-M"
    # then one access token was issued for all of it
    assert len(sandbox.access_tokens) == 1


def test_revoked_cached_token_is_replaced_within_the_call(sandbox, make_client):
    # given a client whose cached token the seller has since revoked
    sandbox.add_listing("TEE-M", quantity=3)
    client = make_client()
    client.get_listing("TEE-M")
    sandbox.revoke_tokens()
    # when it reads again
    listing = client.get_listing("TEE-M")
    # then the refused request went once more under a new token, and nothing surfaced
    assert listing["sku"] == "TEE-M"
    assert [e["status"] for e in sandbox.requests()][-2:] == [403, 200]
    assert len(sandbox.access_tokens) == 1


def test_wrong_refresh_token_fails_without_retrying(sandbox, make_client):
    config = sandbox.config
    client = make_client(
        credentials=amazon.AmazonCredentials("Atzr|nope", config.client_id, config.client_secret)
    )
    with pytest.raises(amazon.AmazonError) as caught:
        client.get_listing("TEE-M")
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (
        400,
        "lwa_invalid_grant",
        False,
    )
    assert _calls(sandbox, "getListingsItem") == []


# --- Listings -------------------------------------------------------------------------------


def test_patch_is_accepted_then_applied_and_read_back(sandbox, make_client, shared_time):
    # given an MFN listing showing 5
    sandbox.add_listing("TEE-M", quantity=5, lead_time_to_ship_max_days=3)
    client = make_client()
    # when 7 is pushed
    submission = client.patch_quantity("TEE-M", 7)
    # then Amazon queued it (ACCEPTED means queued, not applied: the read-back still shows 5)
    assert submission.status == "ACCEPTED"
    assert submission.accepted
    assert submission.submission_id
    assert submission.issues == []
    assert submission.call.http_status == 200
    assert client.listing_quantities(["TEE-M"]) == {"TEE-M": 5}
    # and once Amazon applied it the read-back shows 7, handling time untouched (merge)
    shared_time.advance(sandbox.config.patch_apply_delay + 0.1)
    assert client.listing_quantities(["TEE-M"]) == {"TEE-M": 7}
    assert sandbox.listing("TEE-M")["lead_time_to_ship_max_days"] == 3


def test_patch_refused_by_amazon_comes_back_invalid_with_its_issues(sandbox, make_client):
    # given an FBA listing and an account where a merchant quantity on it is refused
    sandbox.config.afn_merchant_quantity = "reject"
    sandbox.add_listing("FBA-1", channel="AFN", fba={"fulfillable": 9})
    # when a quantity is pushed to it
    submission = make_client().patch_quantity("FBA-1", 4)
    # then the answer is INVALID with Amazon's issue, not an exception, and nothing changed
    assert submission.status == "INVALID"
    assert not submission.accepted
    assert [i["severity"] for i in submission.errors] == ["ERROR"]
    assert sandbox.listing("FBA-1")["fulfillment_channel_code"] == "AMAZON_NA"


def test_listing_quantities_reads_mfn_quantity_and_none_for_afn_or_unknown(sandbox, make_client):
    # given MFN listings (some with SKUs that need escaping), an FBA listing, an unknown SKU
    for index, sku in enumerate(["TEE-S", "TEE M/2", "TEE,L", *[f"BULK-{i}" for i in range(22)]]):
        sandbox.add_listing(sku, quantity=index)
    sandbox.add_listing("FBA-1", channel="AFN", fba={"fulfillable": 9})
    skus = ["TEE-S", "TEE M/2", "TEE,L", "FBA-1", "NOPE", *[f"BULK-{i}" for i in range(22)]]
    # when read back
    found = make_client().listing_quantities(skus)
    # then each SKU maps to its merchant quantity, None for FBA and unknown SKUs
    assert found["TEE-S"] == 0
    assert found["TEE M/2"] == 1
    assert found["TEE,L"] == 2
    assert found["FBA-1"] is None
    assert found["NOPE"] is None
    assert [found[f"BULK-{i}"] for i in range(22)] == list(range(3, 25))
    # 26 batchable SKUs in searches of 20, the comma SKU alone
    assert len(_calls(sandbox, "searchListingsItems")) == 2
    assert len(_calls(sandbox, "getListingsItem")) == 1


def test_get_listing_of_an_unknown_sku_is_none(sandbox, make_client):
    assert make_client().get_listing("NOPE") is None
    assert len(_calls(sandbox, "getListingsItem")) == 1


def test_search_listings_walks_every_page_for_a_mapping_import(sandbox, make_client):
    # given 23 MFN listings and 2 FBA listings
    for i in range(23):
        sandbox.add_listing(f"SKU-{i:02d}", quantity=i)
    sandbox.add_listing("FBA-1", channel="AFN", fba={"fulfillable": 1})
    sandbox.add_listing("FBA-2", channel="AFN", fba={"fulfillable": 2})
    # when every listing is read, 10 per page
    items = list(make_client().search_listings(page_size=10))
    # then all 25 come back once, over three pages, with SKU, ASIN and channel
    summaries = {s.sku: s for s in (amazon.listing_summary(i, US) for i in items)}
    assert len(items) == 25
    assert len(summaries) == 25
    assert len(_calls(sandbox, "searchListingsItems")) == 3
    assert summaries["SKU-07"].fulfillment_channel == "MFN"
    assert summaries["SKU-07"].quantity == 7
    assert summaries["SKU-07"].asin == sandbox.listing("SKU-07")["asin"]
    assert summaries["FBA-2"].fulfillment_channel == "AFN"
    assert summaries["FBA-2"].quantity is None


# --- Feeds ----------------------------------------------------------------------------------


@pytest.mark.parametrize("gzip_documents", [False, True])
def test_feed_round_trip_reports_errors_per_sku(sandbox, make_client, shared_time, gzip_documents):
    # given two MFN listings and an FBA listing that refuses a merchant quantity
    sandbox.config.gzip_documents = gzip_documents
    sandbox.config.afn_merchant_quantity = "reject"
    sandbox.add_listing("TEE-S", quantity=1)
    sandbox.add_listing("TEE-M", quantity=1)
    sandbox.add_listing("FBA-1", channel="AFN", fba={"fulfillable": 9})
    client = make_client()
    quantities = [("TEE-S", 10), ("FBA-1", 4), ("TEE-M", 0)]
    # when the quantities go as one JSON_LISTINGS_FEED
    feed_id = client.submit_quantity_feed(quantities)
    status = client.feed(feed_id)
    assert status.processing_status in ("IN_QUEUE", "IN_PROGRESS")
    assert not status.finished
    # and Amazon processes it
    shared_time.advance(
        sandbox.config.feed_queue_seconds + sandbox.config.feed_processing_seconds + 0.1
    )
    status = client.feed(feed_id)
    assert status.done
    assert status.result_feed_document_id
    report = client.feed_report(
        status.result_feed_document_id,
        skus_by_message_id={n: sku for n, (sku, _) in enumerate(quantities, start=1)},
    )
    # then the report names the refused SKU by messageId, and the others were applied
    assert report.feed_id == feed_id
    assert (report.messages_processed, report.messages_accepted, report.messages_invalid) == (
        3,
        2,
        1,
    )
    assert report.rejected_skus == {"FBA-1"}
    assert report.rejected_message_ids == {2}
    assert client.listing_quantities(["TEE-S", "TEE-M"]) == {"TEE-S": 10, "TEE-M": 0}


def test_json_listings_feeds_keep_to_five_per_five_minutes(sandbox, make_client, shared_time):
    # given a client with createFeed budget to spare (burst 15)
    sandbox.add_listing("TEE-M", quantity=1)
    client = make_client()
    for _ in range(5):
        client.submit_quantity_feed([("TEE-M", 2)])
    assert client.budget("createFeed") >= 9
    assert client.feed_budget() < 1
    documents = len(_calls(sandbox, "createFeedDocument"))
    # when a sixth feed is asked for within five minutes
    with pytest.raises(amazon.AmazonThrottled) as caught:
        client.submit_quantity_feed([("TEE-M", 3)])
    # then it is refused before any request, told to come back in about a minute, not slept
    assert caught.value.retry_after == pytest.approx(60, abs=1)
    assert len(_calls(sandbox, "createFeedDocument")) == documents
    assert shared_time.sleeps == []
    assert sandbox.request_log.counters()["throttled"] == 0
    # and a minute later one more goes
    shared_time.advance(60)
    assert client.feed_budget() >= 1
    client.submit_quantity_feed([("TEE-M", 3)])


def test_a_feed_refused_by_amazon_spends_the_feed_types_quota(sandbox, make_client, shared_time):
    # given another application of the seller spent the JSON_LISTINGS_FEED quota on Amazon
    sandbox.add_listing("TEE-M", quantity=1)
    other = make_client(throttle_factory=SharedTime(sandbox).throttle)
    for _ in range(5):
        other.submit_quantity_feed([("TEE-M", 2)])
    client = make_client(max_wait=30)
    assert client.feed_budget() >= 1
    # when ours submits and Amazon answers 429
    with pytest.raises(amazon.AmazonThrottled):
        client.submit_quantity_feed([("TEE-M", 3)])
    # then our buckets take the quota as spent, so the lane patches instead of trying again
    assert client.feed_budget() < 1


# --- Orders ---------------------------------------------------------------------------------


def _place_orders(sandbox, count: int, sku: str = "TEE-M") -> list[dict]:
    return [sandbox.place_order(sku, 1, pending_seconds=0) for _ in range(count)]


def test_search_orders_walks_pages_by_last_update_time(sandbox, make_client, shared_time):
    # given an order updated before the window and five updated in it
    sandbox.add_listing("TEE-M", quantity=50)
    _place_orders(sandbox, 1)
    shared_time.advance(600)
    since = sandbox.now()
    placed = _place_orders(sandbox, 5)
    shared_time.advance(300)
    # when orders updated since then are searched, two per page
    search = make_client().search_orders(last_updated_after=since, page_size=2)
    orders = list(search)
    # then the five come back over three pages, each with the keys the ingest maps
    assert sorted(o["orderId"] for o in orders) == sorted(o["orderId"] for o in placed)
    assert search.pages == 3
    assert len(_calls(sandbox, "searchOrders")) == 3
    for order in orders:
        assert order["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED"
        assert order["fulfillment"]["fulfilledBy"] == "MERCHANT"
        assert order["lastUpdatedTime"] >= amazon.iso_datetime(since)
        [item] = order["orderItems"]
        assert item["product"]["sellerSku"] == "TEE-M"
        assert item["quantityOrdered"] == 1
    # every page repeated the same filters with lastUpdatedAfter, never createdAfter
    for entry in _calls(sandbox, "searchOrders"):
        assert "createdAfter" not in entry["query"]
        assert entry["query"]["lastUpdatedAfter"] == [amazon.iso_datetime(since)]


def test_search_orders_with_an_upper_bound_two_minutes_in_the_past(
    sandbox, make_client, shared_time
):
    sandbox.add_listing("TEE-M", quantity=50)
    start = sandbox.now()
    early = _place_orders(sandbox, 2)
    shared_time.advance(600)
    _place_orders(sandbox, 1)
    shared_time.advance(60)
    client = make_client()
    # a bound later than two minutes ago is refused before anything is sent
    with pytest.raises(ValueError, match="two minutes"):
        client.search_orders(
            last_updated_after=start, last_updated_before=sandbox.now(), now=sandbox.now
        )
    bound = start + timedelta(seconds=300)
    found = list(
        client.search_orders(last_updated_after=start, last_updated_before=bound, now=sandbox.now)
    )
    assert sorted(o["orderId"] for o in found) == sorted(o["orderId"] for o in early)


def test_get_order_returns_the_order_with_items_and_fulfillment(sandbox, make_client):
    sandbox.add_listing("TEE-M", quantity=5)
    sandbox.add_listing("TEE-L", quantity=5)
    placed = sandbox.place_order(lines=[("TEE-M", 2), ("TEE-L", 1)], pending_seconds=0)
    order = make_client().get_order(placed["orderId"])
    assert order["orderId"] == placed["orderId"]
    assert order["salesChannel"]["marketplaceId"] == US
    assert order["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED"
    assert sorted(
        (i["product"]["sellerSku"], i["quantityOrdered"], i["fulfillment"]["quantityUnfulfilled"])
        for i in order["orderItems"]
    ) == [("TEE-L", 1, 1), ("TEE-M", 2, 2)]


def test_get_order_unknown_is_a_404_not_retried(sandbox, make_client, shared_time):
    with pytest.raises(amazon.AmazonError) as caught:
        make_client().get_order("111-0000000-0000000")
    assert (caught.value.status, caught.value.retryable) == (404, False)
    assert len(_calls(sandbox, "getOrder")) == 1
    assert shared_time.sleeps == []


def test_confirm_shipment_ships_the_order_and_a_repeat_is_refused_once(sandbox, make_client):
    # given an unshipped merchant order
    sandbox.add_listing("TEE-M", quantity=5)
    placed = sandbox.place_order("TEE-M", 2, pending_seconds=0)
    client = make_client()
    item_id = client.get_order(placed["orderId"])["orderItems"][0]["orderItemId"]
    # when its shipment is confirmed
    result = client.confirm_shipment(
        placed["orderId"],
        items=[(item_id, 2)],
        carrier="UPS",
        tracking_number="1Z999AA10123456784",
        ship_date=sandbox.now(),
        shipping_method="Ground",
    )
    # then Amazon answered 204 and the order is shipped
    assert result is None
    order = client.get_order(placed["orderId"])
    assert order["fulfillment"]["fulfillmentStatus"] == "SHIPPED"
    assert order["orderItems"][0]["fulfillment"]["quantityFulfilled"] == 2
    # and confirming again is a 400: not retried, not maybe-applied (the first one answered)
    with pytest.raises(amazon.AmazonError) as caught:
        client.confirm_shipment(
            placed["orderId"],
            items=[(item_id, 2)],
            carrier="UPS",
            tracking_number="1Z999AA10123456784",
            ship_date=sandbox.now(),
        )
    assert (caught.value.status, caught.value.retryable, caught.value.maybe_applied) == (
        400,
        False,
        False,
    )
    assert len(_calls(sandbox, "confirmShipment")) == 2


# --- FBA inventory --------------------------------------------------------------------------


def test_inventory_summaries_walks_every_page(sandbox, make_client):
    # given 120 FBA listings
    for i in range(120):
        sandbox.add_listing(
            f"FBA-{i:03d}", channel="AFN", fba={"fulfillable": i, "inbound_shipped": 1}
        )
    # when every summary is read
    summaries = list(make_client().inventory_summaries())
    # then each SKU comes once with its details, over several pages
    by_sku = {s["sellerSku"]: s for s in summaries}
    assert len(summaries) == 120
    assert len(by_sku) == 120
    assert by_sku["FBA-042"]["inventoryDetails"]["fulfillableQuantity"] == 42
    assert by_sku["FBA-042"]["inventoryDetails"]["inboundShippedQuantity"] == 1
    assert len(_calls(sandbox, "getInventorySummaries")) >= 2


def test_inventory_summaries_for_skus_asks_fifty_at_a_time(sandbox, make_client):
    for i in range(55):
        sandbox.add_listing(f"FBA-{i:03d}", channel="AFN", fba={"fulfillable": 1})
    wanted = [f"FBA-{i:03d}" for i in range(55)]
    summaries = list(make_client().inventory_summaries(skus=wanted))
    assert sorted(s["sellerSku"] for s in summaries) == wanted
    calls = _calls(sandbox, "getInventorySummaries")
    assert [len(c["query"]["sellerSkus"][0].split(",")) for c in calls] == [50, 5]


# --- Reports --------------------------------------------------------------------------------


@pytest.mark.parametrize("gzip_documents", [False, True])
def test_returns_report_is_requested_polled_and_downloaded(
    sandbox, make_client, shared_time, gzip_documents
):
    # given two FBA customer returns
    sandbox.config.gzip_documents = gzip_documents
    sandbox.add_listing("FBA-1", channel="AFN", fba={"fulfillable": 3})
    start = sandbox.now() - timedelta(days=1)
    sandbox.add_return("FBA-1", 1, disposition="SELLABLE")
    sandbox.add_return("FBA-1", 2, disposition="CUSTOMER_DAMAGED")
    client = make_client()
    # when the returns report is requested and Amazon processes it
    report_id = client.request_report(RETURNS_REPORT, start=start, end=sandbox.now())
    assert client.report(report_id)["processingStatus"] in ("IN_QUEUE", "IN_PROGRESS")
    shared_time.advance(
        sandbox.config.report_queue_seconds + sandbox.config.report_processing_seconds + 0.1
    )
    report = client.report(report_id)
    assert report["processingStatus"] == "DONE"
    content = client.download_report(report["reportDocumentId"])
    # then the document is the plain tab-separated report, whatever the transfer encoding
    lines = content.decode("utf-8").splitlines()
    assert lines[0].split("\t")[:3] == ["return-date", "order-id", "sku"]
    assert sorted(line.split("\t")[8] for line in lines[1:]) == ["CUSTOMER_DAMAGED", "SELLABLE"]


# --- Throttling and failures ----------------------------------------------------------------


def test_429_storm_backs_off_by_the_rate_then_succeeds(sandbox, make_client, shared_time):
    # given three 429s in a row on patchListingsItem (5 requests/s)
    sandbox.add_listing("TEE-M", quantity=1)
    sandbox.throttle("patchListingsItem", count=3)
    # when a quantity is pushed
    submission = make_client().patch_quantity("TEE-M", 2)
    # then it went through on the fourth attempt after three jittered waits of ≥ 1/rate
    assert submission.status == "ACCEPTED"
    assert [a.outcome for a in submission.call.attempts] == ["throttled"] * 3 + ["ok"]
    waits = [a.waited_s for a in submission.call.attempts[1:]]
    assert all(w >= 1 / 5 for w in waits)
    assert len(set(waits)) == 3  # jittered, not in lockstep
    assert len(_calls(sandbox, "patchListingsItem")) == 4


def test_429_storm_longer_than_the_attempts_raises_throttled(sandbox, make_client):
    sandbox.add_listing("TEE-M", quantity=1)
    sandbox.throttle("getListingsItem", count=10)
    with pytest.raises(amazon.AmazonThrottled) as caught:
        make_client(max_attempts=4).get_listing("TEE-M")
    assert caught.value.retryable
    assert caught.value.retry_after >= 1 / 5
    assert len(_calls(sandbox, "getListingsItem")) == 4


def test_real_rate_limit_is_honoured_without_429s(sandbox, make_client, shared_time):
    # given the sandbox enforcing getInventorySummaries' 2/s, burst 2
    for i in range(3):
        sandbox.add_listing(f"FBA-{i}", channel="AFN", fba={"fulfillable": 1})
    client = make_client()
    # when it is called six times in a row
    for _ in range(6):
        list(client.inventory_summaries(skus=["FBA-0"]))
    # then the client paced itself: no 429, four waits of half a second
    assert all(e["status"] == 200 for e in _calls(sandbox, "getInventorySummaries"))
    assert shared_time.sleeps == pytest.approx([0.5] * 4)


def test_lower_rate_reported_by_amazon_is_adopted(sandbox, make_client):
    # given an account whose getListingsItem rate is half the default
    sandbox.set_rate_limits(scale=0.5)
    sandbox.add_listing("TEE-M", quantity=1)
    client = make_client()
    client.get_listing("TEE-M")
    assert client.rate("getListingsItem") == 2.5


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retried_with_jitter(sandbox, make_client, shared_time, status):
    sandbox.add_listing("TEE-M", quantity=1)
    sandbox.fail("getListingsItem", status=status, count=2)
    listing = make_client().get_listing("TEE-M")
    assert listing["sku"] == "TEE-M"
    assert [e["status"] for e in _calls(sandbox, "getListingsItem")] == [status, status, 200]
    assert len(shared_time.sleeps) == 2


def test_error_status_without_errors_body_is_a_failure(sandbox, make_client):
    # given a 503 answered with an HTML page, which python-amazon-sp-api returns as an empty
    # ApiResponse, on every attempt
    sandbox.add_listing("TEE-M", quantity=1)
    sandbox.add_fault("http_503_html", 3, match="getListingsItem")
    # then the client does not take it for an answer
    with pytest.raises(amazon.AmazonError) as caught:
        make_client(max_attempts=3).get_listing("TEE-M")
    assert (caught.value.status, caught.value.retryable) == (503, True)
    assert len(_calls(sandbox, "getListingsItem")) == 3


def test_client_error_is_not_retried(sandbox, make_client, shared_time):
    # given an FBA order, which cannot be confirmed by the merchant
    sandbox.add_listing("FBA-1", channel="AFN", fba={"fulfillable": 3})
    placed = sandbox.place_order("FBA-1", 1, pending_seconds=0)
    with pytest.raises(amazon.AmazonError) as caught:
        make_client().confirm_shipment(
            placed["orderId"],
            items=[("1", 1)],
            carrier="UPS",
            tracking_number="1Z",
            ship_date=sandbox.now(),
        )
    assert (caught.value.status, caught.value.retryable) == (400, False)
    assert len(_calls(sandbox, "confirmShipment")) == 1
    assert shared_time.sleeps == []


# --- Every request valid against the official models -----------------------------------------


def test_every_request_the_client_sends_validates_against_the_official_models(
    sandbox, make_client, shared_time
):
    # given a tour of every operation the client uses
    sandbox.add_listing("TEE M/1", quantity=5)
    sandbox.add_listing("FBA-1", channel="AFN", fba={"fulfillable": 3})
    sandbox.add_return("FBA-1", 1)
    client = make_client()
    since = sandbox.now()
    placed = sandbox.place_order("TEE M/1", 1, pending_seconds=0)
    client.get_listing("TEE M/1")
    client.listing_quantities(["TEE M/1", "A,B"])
    client.patch_quantity("TEE M/1", 3)
    list(client.search_listings())
    feed_id = client.submit_quantity_feed([("TEE M/1", 2)])
    shared_time.advance(10)
    client.feed_report(client.feed(feed_id).result_feed_document_id)
    shared_time.advance(180)
    list(client.search_orders(last_updated_after=since))
    order = client.get_order(placed["orderId"])
    client.confirm_shipment(
        placed["orderId"],
        items=[(order["orderItems"][0]["orderItemId"], 1)],
        carrier="Other",
        carrier_name="Local Courier",
        tracking_number="LC-1",
        ship_date=sandbox.now(),
    )
    list(client.inventory_summaries())
    list(client.inventory_summaries(skus=["FBA-1"], since=since))
    report_id = client.request_report(RETURNS_REPORT, start=since - timedelta(days=2))
    shared_time.advance(10)
    client.download_report(client.report(report_id)["reportDocumentId"])
    # then the sandbox logged every operation, none of them invalid
    log = sandbox.requests()
    assert {e["operation_id"] for e in log} >= set(amazon.USAGE_PLANS)
    assert sandbox.invalid_requests() == []
    # and each logged request validates again here, against the models directly
    for entry in log:
        problems = spec.validate_request(
            entry["method"], entry["path"], entry["query"], entry.get("body")
        )
        assert problems == [], entry


def test_dropped_connection_on_a_read_is_retried(sandbox, make_client, shared_time):
    sandbox.add_listing("TEE-M", quantity=1)
    sandbox.add_fault("drop_connection", 1, match="getListingsItem")
    assert make_client().get_listing("TEE-M")["sku"] == "TEE-M"
    assert len(_calls(sandbox, "getListingsItem")) >= 1
    assert len(shared_time.sleeps) == 1


def test_confirmation_applied_but_unanswered_reports_maybe_applied(sandbox, make_client):
    # given an unshipped merchant order whose confirmation is applied but never answered
    sandbox.add_listing("TEE-M", quantity=5)
    placed = sandbox.place_order("TEE-M", 1, pending_seconds=0)
    client = make_client()
    item_id = client.get_order(placed["orderId"])["orderItems"][0]["orderItemId"]
    sandbox.add_fault("drop_connection", 1, match="confirmShipment", apply=True)
    # when it is confirmed: the retry is refused because Amazon already has it
    with pytest.raises(amazon.AmazonError) as caught:
        client.confirm_shipment(
            placed["orderId"],
            items=[(item_id, 1)],
            carrier="UPS",
            tracking_number="1Z1",
            ship_date=sandbox.now(),
        )
    # then the caller is told it may have been applied, and a re-read shows it was
    assert caught.value.status == 400
    assert caught.value.maybe_applied is True
    assert [a.outcome for a in caught.value.call.attempts] == ["connection_error", "client_error"]
    assert client.get_order(placed["orderId"])["fulfillment"]["fulfillmentStatus"] == "SHIPPED"
