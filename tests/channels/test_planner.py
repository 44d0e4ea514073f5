"""The planner: dirty SKUs become listings' desired quantities, once, under the SKU lock."""

import math
from decimal import Decimal

import pytest

from allocation.models import AllocationRule, BundleComponent, SalesHalt
from channels.models import Listing
from channels.planner import plan_dirty_skus
from ledger import services
from ledger.models import Location, Sku
from ledger.rules import EventLine
from tests.concurrency import held_elsewhere
from tests.factories import ChannelFactory, ListingFactory, LocationFactory, SkuFactory


@pytest.fixture
def channels(db):
    return {
        "shopify": ChannelFactory(code="shopify", kind="shopify", priority=1),
        "amazon": ChannelFactory(
            code="amazon-us", kind="amazon", is_marketplace=True, region="NA", priority=2
        ),
        "etsy": ChannelFactory(code="etsy", kind="edi", is_marketplace=True, priority=3),
    }


@pytest.fixture
def listed(channels, sku, warehouse):
    return {name: ListingFactory(channel=channel, sku=sku) for name, channel in channels.items()}


def desired(listings):
    return {
        name: Listing.objects.get(pk=listing.pk).desired_quantity
        for name, listing in listings.items()
    }


def test_a_receipt_becomes_each_listings_desired_quantity(listed, sku, warehouse, receive):
    # given a 5-unit marketplace buffer and 8 units received
    AllocationRule.objects.create(
        name="marketplace buffer", kind="buffer_units", value=Decimal(5), scope="marketplaces"
    )
    receive(sku, warehouse, 8)
    # when the planner runs
    outcome = plan_dirty_skus()
    # then each listing wants its own number, explained, and the SKU is clean
    assert (outcome.skus, outcome.listings_changed) == (1, 3)
    assert desired(listed) == {"shopify": 8, "amazon": 3, "etsy": 3}
    amazon = Listing.objects.get(pk=listed["amazon"].pk)
    assert amazon.desired_version == 1
    assert [step["label"] for step in amazon.desired_trace] == [
        "pool: WH-EAST 8",
        "− marketplace buffer (5 units)",
    ]
    assert Sku.objects.get(pk=sku.pk).allocation_dirty_since is None


def test_nothing_is_written_when_nothing_changed(listed, sku, warehouse, receive):
    receive(sku, warehouse, 8)
    plan_dirty_skus()
    # a count that confirms the stock marks the SKU dirty but changes no quantity
    services.record_event(
        kind="cycle_count",
        lines=[EventLine("TEE-M", "WH-EAST", 8)],
        idempotency_key="count",
        source="test",
    )
    outcome = plan_dirty_skus()
    assert (outcome.skus, outcome.listings_changed) == (1, 0)
    assert {Listing.objects.get(pk=x.pk).desired_version for x in listed.values()} == {1}


def test_a_sale_lowers_every_listing_and_bumps_versions(listed, sku, warehouse, receive):
    receive(sku, warehouse, 8)
    plan_dirty_skus()
    services.record_event(
        kind="sale", lines=[EventLine("TEE-M", "WH-EAST", 3)], idempotency_key="s", source="t"
    )
    plan_dirty_skus()
    assert desired(listed) == {"shopify": 5, "amazon": 4, "etsy": 4}  # slow tier 5 % buffer
    assert {Listing.objects.get(pk=x.pk).desired_version for x in listed.values()} == {2}


def test_a_halt_forces_zero_on_its_channel_only(listed, channels, sku, warehouse, receive):
    receive(sku, warehouse, 8)
    SalesHalt.objects.create(sku=sku, channel=channels["amazon"], reason="drift 4 units")
    plan_dirty_skus()
    assert desired(listed)["amazon"] == 0
    assert desired(listed)["shopify"] == 8
    trace = Listing.objects.get(pk=listed["amazon"].pk).desired_trace
    assert trace[-1]["label"] == "halted: drift 4 units"


def test_an_oversold_sku_shows_zero_everywhere(listed, sku, warehouse, receive):
    receive(sku, warehouse, 2)
    services.record_event(
        kind="sale", lines=[EventLine("TEE-M", "WH-EAST", 3)], idempotency_key="s", source="t"
    )
    plan_dirty_skus()
    assert set(desired(listed).values()) == {0}


def test_a_component_change_recomputes_its_bundles(channels, warehouse, receive):
    a, b = SkuFactory(code="A"), SkuFactory(code="B")
    kit = SkuFactory(code="KIT", is_bundle=True)
    BundleComponent.objects.create(bundle=kit, component=a, quantity=2)
    BundleComponent.objects.create(bundle=kit, component=b, quantity=1)
    listing = ListingFactory(channel=channels["shopify"], sku=kit)
    receive(a, warehouse, 7)
    receive(b, warehouse, 10)
    plan_dirty_skus()
    assert Listing.objects.get(pk=listing.pk).desired_quantity == 3
    services.record_event(
        kind="sale", lines=[EventLine("A", "WH-EAST", 2)], idempotency_key="s", source="t"
    )
    plan_dirty_skus()
    assert Listing.objects.get(pk=listing.pk).desired_quantity == 2
    assert not Sku.objects.filter(allocation_dirty_since__isnull=False).exists()


def test_fba_stock_reaches_only_afn_listings(channels, sku, warehouse, receive):
    pool = LocationFactory(code="FBA-NA", kind=Location.Kind.FBA, region="NA")
    afn = ListingFactory(channel=channels["amazon"], sku=sku, fulfilment="fba")
    mfn = ListingFactory(channel=channels["shopify"], sku=sku)
    services.record_event(
        kind="fba_snapshot",
        lines=[EventLine("TEE-M", "FBA-NA", 30, bucket="on_hand")],
        idempotency_key="snap",
        source="t",
    )
    receive(sku, warehouse, 4)
    plan_dirty_skus()
    assert Listing.objects.get(pk=afn.pk).desired_quantity == 28  # slow tier 5 % buffer
    assert Listing.objects.get(pk=mfn.pk).desired_quantity == 4
    afn_trace = Listing.objects.get(pk=afn.pk).desired_trace
    assert afn_trace[0]["label"] == f"pool: {pool.code} 30"  # never WH-EAST's 4


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_sku_being_written_is_skipped_and_left_dirty(channels, receive):
    # given two dirty SKUs, one of them locked by a ledger write still in progress
    warehouse = LocationFactory(code="WH-EAST")
    busy, free = SkuFactory(code="BUSY"), SkuFactory(code="FREE")
    for item in (busy, free):
        ListingFactory(channel=channels["shopify"], sku=item)
        receive(item, warehouse, 5)
    with held_elsewhere(lambda: Sku.objects.select_for_update(no_key=True).get(pk=busy.pk)):
        # when the planner runs meanwhile
        outcome = plan_dirty_skus()
    # then it did the free SKU without waiting and left the busy one for the next round
    assert outcome.skus == 1
    dirty = set(
        Sku.objects.filter(allocation_dirty_since__isnull=False).values_list("code", flat=True)
    )
    assert dirty == {"BUSY"}
    assert plan_dirty_skus().skus == 1


def test_a_store_listing_draws_only_on_its_store(channels, sku, warehouse, store, receive):
    bopis = ListingFactory(channel=channels["shopify"], sku=sku, external_id="bopis")
    bopis.source_locations.set([store])
    receive(sku, warehouse, 30)
    receive(sku, store, 4)
    plan_dirty_skus()
    assert Listing.objects.get(pk=bopis.pk).desired_quantity == 4


def test_a_large_round_plans_every_sku_the_same_way(channels, warehouse, receive):
    # a round of many SKUs plans each of them as a round of one would
    skus = [SkuFactory(code=f"BULK-{n:02d}") for n in range(25)]
    listings = [ListingFactory(channel=channels["amazon"], sku=item) for item in skus]
    for n, item in enumerate(skus):
        receive(item, warehouse, n + 1)
    assert plan_dirty_skus().skus == 25
    expected = [n + 1 - math.ceil((n + 1) * 5 / 100) for n in range(25)]  # slow tier 5 %
    assert [Listing.objects.get(pk=x.pk).desired_quantity for x in listings] == expected
    # and one SKU on its own comes to the same number
    services.record_event(
        kind="receipt", lines=[EventLine("BULK-00", "WH-EAST", 19)], idempotency_key="r", source="t"
    )
    assert plan_dirty_skus().skus == 1
    assert Listing.objects.get(pk=listings[0].pk).desired_quantity == 19
