"""The Shopify lane's bulk read for reconciliation, against the Shopify sandbox over real HTTP:
`available` and `committed` per listing, and every request the read made, counted.

The sandbox runs on a manual clock that the client's sleeps move, together with the clock of
the client's bucket: a read that outruns the shop's bucket waits on Shopify's arithmetic
without a real second passing.
"""

from __future__ import annotations

import math

import pytest

from channels.lanes.base import LevelRead
from channels.lanes.shopify.lane import ShopifyLane
from channels.lanes.throttle import LocalThrottle
from channels.models import Channel, Listing
from channels.sandbox.shopify import ManualClock, serve_in_thread
from ledger.models import Sku
from tests.channels.shopify_world import CLIENT_OPTIONS

pytestmark = pytest.mark.django_db

UNKNOWN_ITEM = "gid://shopify/InventoryItem/999999999"


class ShopTime:
    """One fake time for the sandbox's bucket and ours: the client's sleeps advance both."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.slept = 0.0

    def __call__(self) -> float:
        return self.clock()

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.clock.advance(seconds)


@pytest.fixture(scope="module")
def handle():
    handle = serve_in_thread(clock=ManualClock())
    yield handle
    handle.stop()


@pytest.fixture
def sandbox(handle):
    sandbox = handle.sandbox
    sandbox.reset()
    sandbox.config.throttle_http_status = 200
    return sandbox


@pytest.fixture
def shop_time(sandbox) -> ShopTime:
    return ShopTime(sandbox.config.clock)


@pytest.fixture
def channel(handle, sandbox) -> Channel:
    channel = Channel(
        code="shop",
        name="shop",
        kind="shopify",
        mode="live",
        api_base_url=handle.url,
        api_version="2026-04",
        external_location_id=sandbox.primary_location().gid,
    )
    channel.credentials = {"access_token": handle.access_token, "webhook_secret": "s"}
    channel.save()
    return channel


@pytest.fixture
def lane(shop_time) -> ShopifyLane:
    return ShopifyLane(
        **CLIENT_OPTIONS,
        throttle=LocalThrottle(2000, 100, clock=shop_time),
        sleep=shop_time.sleep,
    )


def stock(sandbox, channel: Channel, quantities: dict[str, int]) -> dict[str, Listing]:
    """Products at the shop's primary location and a listing of each (by SKU)."""
    seeded = sandbox.seed(
        [{"sku": sku, "quantities": {"Main warehouse": n}} for sku, n in quantities.items()]
    )["products"]
    skus = Sku.objects.bulk_create([Sku(code=sku, title=sku) for sku in quantities])
    return {
        row.sku.code: row
        for row in Listing.objects.bulk_create(
            Listing(
                channel=channel,
                sku=sku,
                external_id=product["variant_gid"],
                shopify_inventory_item_id=product["inventory_item_gid"],
            )
            for sku, product in zip(skus, seeded, strict=True)
        )
    }


def unknown_listing(channel: Channel) -> Listing:
    return Listing.objects.create(
        channel=channel,
        sku=Sku.objects.create(code="GONE", title="GONE"),
        external_id="gid://shopify/ProductVariant/999999999",
        shopify_inventory_item_id=UNKNOWN_ITEM,
    )


def shown(sandbox, sku: str) -> dict:
    """What the shop's admin shows for the SKU at the primary location."""
    primary = sandbox.primary_location().gid
    return next(level for level in sandbox.levels_json(sku) if level["location_gid"] == primary)


def read(lane: ShopifyLane, channel: Channel, sandbox, listings) -> tuple[LevelRead, dict]:
    """The lane's read, and the sandbox's counters over exactly that read."""
    sandbox.request_log.clear()
    result = lane.read_all_levels(channel, list(listings))
    return result, sandbox.request_log.counters()


def test_levels_and_committed_are_what_the_shop_shows_after_an_edit_and_a_sale(
    sandbox, channel, lane
):
    listings = stock(sandbox, channel, {"TEE-M": 10, "MUG-RED": 7, "CAP": 4})
    gone = unknown_listing(channel)
    # a merchant types a new number in the admin, and a shopper's order is not fulfilled yet
    sandbox.admin_edit("MUG-RED", available=3)
    sandbox.sell("TEE-M", 2)

    result, counters = read(lane, channel, sandbox, [*listings.values(), gone])

    assert result.levels == {
        listings["TEE-M"].pk: 8,
        listings["MUG-RED"].pk: 3,
        listings["CAP"].pk: 4,
        gone.pk: None,
    }
    assert {sku: shown(sandbox, sku)["available"] for sku in listings} == {
        sku: result.levels[row.pk] for sku, row in listings.items()
    }
    # the open order holds two units; nothing is said of an item the shop does not know
    assert result.committed == {
        listings["TEE-M"].pk: 2,
        listings["MUG-RED"].pk: 0,
        listings["CAP"].pk: 0,
    }
    assert shown(sandbox, "TEE-M")["committed"] == 2
    assert result.method == "inventoryLevel nodes"
    assert (result.calls, result.throttled) == (counters["calls"], 0) == (1, 0)


def test_a_thousand_items_take_the_fewest_calls_the_cost_cap_allows(sandbox, channel, lane):
    listings = stock(sandbox, channel, {f"SKU-{n:04d}": n % 13 for n in range(1000)})

    result, counters = read(lane, channel, sandbox, listings.values())

    assert result.levels == {row.pk: int(sku[4:]) % 13 for sku, row in listings.items()}
    # 250 ids a call (the most nodes(ids:) takes), each call under the 1000-point cap
    assert result.calls == counters["calls"] == math.ceil(1000 / 250)
    costs = [entry["requested_cost"] for entry in sandbox.request_log.entries()]
    assert max(costs) <= 1000
    assert counters["by_operation"] == {"InventoryLevels": 4}


def test_throttled_answers_are_counted_as_calls(sandbox, channel, lane, shop_time):
    listings = stock(sandbox, channel, {"TEE-M": 5})
    # another worker of the shop spent the bucket: our side still thinks it full
    sandbox.bucket.configure(currently_available=0)

    result, counters = read(lane, channel, sandbox, listings.values())

    assert result.levels == {listings["TEE-M"].pk: 5}
    assert result.throttled == counters["by_outcome"]["throttled"] >= 1
    assert result.calls == counters["calls"] == result.throttled + 1
    assert shop_time.slept > 0  # waited for Shopify's bucket, on Shopify's arithmetic


def test_a_read_larger_than_the_bucket_waits_for_it_and_every_call_still_counts(
    sandbox, channel, lane, shop_time
):
    listings = stock(sandbox, channel, {f"SKU-{n:04d}": 1 for n in range(2000)})

    result, counters = read(lane, channel, sandbox, listings.values())

    assert set(result.levels.values()) == {1}
    assert result.calls == counters["calls"]
    assert result.calls >= math.ceil(2000 / 250)
    # 6000 points through a 2000-point bucket restoring 100 a second: about 40 s of waiting
    assert shop_time.slept >= (counters["requested_cost_total"] - 2000) / 100 - 1


def test_the_lane_options_own_call_hook_still_sees_every_call(sandbox, channel, shop_time):
    listings = stock(sandbox, channel, {"TEE-M": 5, "CAP": 1})
    seen = []
    lane = ShopifyLane(
        **CLIENT_OPTIONS,
        throttle=LocalThrottle(2000, 100, clock=shop_time),
        sleep=shop_time.sleep,
        on_call=seen.append,
    )
    sandbox.faults.add("http_503", 1)

    result, counters = read(lane, channel, sandbox, listings.values())

    assert result.calls == counters["calls"] == 2
    assert sum(len(call.attempts) for call in seen) == 2
