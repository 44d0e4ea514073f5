"""The planner keeps rules, locations and channels between rounds: a change is seen at once.

Also: on PostgreSQL the one-statement load and the portable table-by-table load agree.
"""

from decimal import Decimal

import pytest
from django.db import connection, transaction

from allocation.models import AllocationRule, SalesHalt, SkuPolicy
from allocation.services import skus_mark_dirty
from channels import planner
from channels.models import Listing
from ledger import services
from ledger.models import Location
from ledger.rules import EventLine
from tests.factories import ChannelFactory, ListingFactory, LocationFactory, SkuFactory


@pytest.fixture
def shop(db):
    return ChannelFactory(code="shopify", kind="shopify", priority=1)


def desired(listing):
    return Listing.objects.get(pk=listing.pk).desired_quantity


def replan(sku):
    skus_mark_dirty(sku_ids=[sku.pk])
    assert planner.plan_dirty_skus().skus == 1


def test_a_new_or_changed_rule_is_seen_by_the_next_plan(shop, sku, warehouse, receive):
    listing = ListingFactory(channel=shop, sku=sku)
    receive(sku, warehouse, 40)
    planner.plan_dirty_skus()
    assert desired(listing) == 40
    # a rule added after the inputs were kept
    rule = AllocationRule.objects.create(
        name="shop share", kind="share_percent", value=Decimal(50), scope="all"
    )
    replan(sku)
    assert desired(listing) == 20
    # the same rule edited
    rule.value = Decimal(25)
    rule.save()
    replan(sku)
    assert desired(listing) == 10
    # and disabled
    rule.is_enabled = False
    rule.save()
    replan(sku)
    assert desired(listing) == 40


def test_a_new_listing_on_a_new_channel_is_seen_by_the_next_plan(shop, sku, warehouse, receive):
    ListingFactory(channel=shop, sku=sku)
    receive(sku, warehouse, 40)
    planner.plan_dirty_skus()
    marketplace = ChannelFactory(code="etsy", kind="edi", is_marketplace=True, priority=2)
    AllocationRule.objects.create(
        name="etsy buffer", kind="buffer_units", value=Decimal(3), scope="channel", target="etsy"
    )
    listing = ListingFactory(channel=marketplace, sku=sku)
    replan(sku)
    assert desired(listing) == 37


def test_a_location_change_is_seen_by_the_next_plan(shop, sku, warehouse, receive):
    listing = ListingFactory(channel=shop, sku=sku)
    receive(sku, warehouse, 40)
    planner.plan_dirty_skus()
    Location.objects.filter(pk=warehouse.pk).update(can_ship=False)
    replan(sku)
    assert desired(listing) == 0
    Location.objects.filter(pk=warehouse.pk).update(can_ship=True, code="WH-EAST-2")
    replan(sku)
    assert desired(listing) == 40
    trace = Listing.objects.get(pk=listing.pk).desired_trace
    assert trace[0]["label"] == "pool: WH-EAST-2 40"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement load")
def test_the_one_statement_load_agrees_with_the_table_by_table_load(shop, warehouse, store):
    fba = LocationFactory(code="FBA-NA", kind=Location.Kind.FBA, region="NA")
    amazon = ChannelFactory(
        code="amazon-us", kind="amazon", is_marketplace=True, region="NA", priority=2
    )
    AllocationRule.objects.create(
        name="marketplaces", kind="buffer_units", value=Decimal("2.50"), scope="marketplaces"
    )
    AllocationRule.objects.create(
        name="cap", kind="ceiling", value=Decimal(9), scope="tag", target="apparel", priority=5
    )
    skus = [SkuFactory(code=f"MIX-{n}", tags=["apparel"] if n % 2 else []) for n in range(4)]
    SkuPolicy.objects.create(
        sku=skus[1], mode="auto", ring_fence_threshold=7, velocity_per_day=Decimal("12.50")
    )
    SkuPolicy.objects.create(sku=skus[2], mode="ring_fenced")
    SalesHalt.objects.create(sku=skus[3], channel=None, reason="all channels")
    SalesHalt.objects.create(sku=skus[3], channel=amazon, reason="drift")
    for n, item in enumerate(skus):
        ListingFactory(channel=shop, sku=item)
        ListingFactory(channel=amazon, sku=item, fulfilment="fba", external_id=f"afn-{n}")
        bopis = ListingFactory(channel=shop, sku=item, external_id=f"bopis-{n}")
        bopis.source_locations.set([store])
        ListingFactory(channel=amazon, sku=item, external_id=f"off-{n}", is_active=False)
        for location, quantity in ((warehouse, 5 + n), (store, n + 1), (fba, 2 * n + 1)):
            services.record_event(
                kind="receipt",
                lines=[EventLine(item.code, location.code, quantity)],
                idempotency_key=f"mix:{item.code}:{location.code}",
                source="t",
            )
    with transaction.atomic():
        ids, loaded = planner._claim_and_load(planner.BATCH_SIZE)
        assert loaded is not None
        many = planner._load_many(ids)
        assert ids == [item.pk for item in skus]
        assert loaded[0] == many[0]
        assert loaded[1] == many[1]
        assert dict(loaded[2]) == dict(many[2])
        assert loaded[3] == many[3]
        assert tuple(loaded[4]) == tuple(many[4])
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_a_sku_switched_to_ring_fenced_flags_its_listings_even_when_quantities_stay(
    sku, warehouse, receive
):
    listing = ListingFactory(channel=ChannelFactory(code="only-shop"), sku=sku)
    receive(sku, warehouse, 10)
    planner.plan_dirty_skus()
    before = Listing.objects.get(pk=listing.pk)
    assert (before.desired_quantity, before.ring_fenced) == (10, False)
    SkuPolicy.objects.create(sku=sku, mode="ring_fenced")
    skus_mark_dirty(sku_ids=[sku.pk])
    planner.plan_dirty_skus()
    after = Listing.objects.get(pk=listing.pk)
    assert (after.desired_quantity, after.ring_fenced) == (10, True)
    assert after.desired_version == before.desired_version  # nothing new to push
