"""Insight: days of cover and reorder suggestions from the rates the velocity job stores per
location, the draft purchase order per supplier, FBA health and allocation effectiveness."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from allocation.models import LocationVelocity
from allocation.velocity import velocity_recompute
from channels.models import ChannelOrder, ChannelOrderLine, FbaCount, Listing
from insight import cover, effectiveness, fba
from ledger import services
from ledger.models import Location
from ledger.rules import EventLine, EventRequest
from tests.factories import ChannelFactory, ListingFactory, LocationFactory, SkuFactory

pytestmark = pytest.mark.django_db


def sell(code: str, location: str, quantity: int, days_ago: float, key: str) -> None:
    services.record_events(
        [
            EventRequest(
                kind="sale",
                lines=(EventLine(code, location, quantity),),
                idempotency_key=key,
                source="test",
                occurred_at=timezone.now() - timedelta(days=days_ago),
            )
        ]
    )


def rate(sku, location, per_day: str) -> LocationVelocity:
    return LocationVelocity.objects.create(
        sku=sku, location=location, week_per_day=Decimal(per_day), month_per_day=Decimal(per_day),
        computed_at=timezone.now(),
    )  # fmt: skip


def test_the_velocity_job_stores_each_locations_rates(receive):
    warehouse, store = LocationFactory(code="WH"), LocationFactory(code="STORE")
    tee = SkuFactory(code="TEE")
    receive(tee, warehouse, 500)
    receive(tee, store, 50)
    sell("TEE", "WH", 70, days_ago=2, key="recent")  # this week: 10 a day
    sell("TEE", "WH", 230, days_ago=20, key="older")  # the month: 300 / 30 = 10 a day
    sell("TEE", "STORE", 3, days_ago=40, key="too-old")  # outside the month

    velocity_recompute()

    rates = {row.location.code: row for row in LocationVelocity.objects.select_related("location")}
    assert set(rates) == {"WH"}
    assert (rates["WH"].week_per_day, rates["WH"].month_per_day) == (Decimal(10), Decimal(10))


@pytest.mark.parametrize(
    ("sellable", "incoming", "per_day", "tier", "kind", "days", "low", "suggested"),
    [
        (20, 0, "10", "core", "warehouse", Decimal("2.0"), True, 330),  # 10 × (5 + 30) − 20
        (60, 0, "10", "core", "warehouse", Decimal("6.0"), False, 290),
        (20, 40, "10", "core", "warehouse", Decimal("6.0"), False, 290),
        (100, 0, "10", "core", "fba", Decimal("10.0"), True, 350),  # lead 5 + 10 receiving
        (-3, 0, "1", "slow", "warehouse", Decimal("0.0"), True, 44),  # oversold: cover 0
    ],
)  # fmt: skip
def test_cover_lead_time_and_suggested_order(
    sellable, incoming, per_day, tier, kind, days, low, suggested
):
    row = cover.Cover(
        sku=SkuFactory.build(velocity_tier=tier), location=LocationFactory.build(kind=kind),
        sellable=sellable, incoming=incoming, per_day=Decimal(per_day),
    )  # fmt: skip
    assert (row.days, row.low, row.suggested) == (days, low, suggested)


def test_nothing_sold_covers_forever():
    row = cover.Cover(SkuFactory.build(), LocationFactory.build(), 5, 0, Decimal(0))
    assert (row.days, row.low) == (None, False)


@pytest.fixture
def shelf(receive):
    warehouse = LocationFactory(code="WH")
    low = SkuFactory(code="TEE-M", title="Tee", velocity_tier="core", supplier="Cotton Co")
    fine = SkuFactory(code="MUG", velocity_tier="core", supplier="Kiln")
    odd = SkuFactory(code="=CMD", velocity_tier="core", supplier="Cotton Co")
    for sku, quantity in ((low, 20), (fine, 500), (odd, 1)):
        receive(sku, warehouse, quantity)
        rate(sku, warehouse, "10")
    return warehouse


def test_the_page_lists_low_stock_and_exports_a_supplier_draft_order(shelf, client, user):
    client.force_login(user)
    page = client.get(reverse("insight:insight")).content.decode()
    assert 'data-sku="TEE-M"' in page
    assert 'data-sku="MUG"' not in page
    assert 'data-supplier="Cotton Co"' in page

    answer = client.get(reverse("insight:reorder-csv"), {"supplier": "Cotton Co"})

    assert answer["Content-Type"].startswith("text/csv")
    assert 'filename="reorder-Cotton-Co-' in answer["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(answer.content.decode())))
    assert rows[0] == cover.REORDER_COLUMNS
    by_sku = {row[1]: row for row in rows[1:]}
    assert set(by_sku) == {"TEE-M", "'=CMD"}  # a formula is kept as text
    assert by_sku["TEE-M"][-1] == "330"


def test_the_page_reads_as_many_queries_for_many_rows_as_for_one(shelf, client, user, receive):
    client.force_login(user)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            client.get(reverse("insight:insight"))
        return len(captured)

    queries()  # allocation effectiveness is worked out every few minutes: both reads use it
    one = queries()
    for n in range(10):
        sku = SkuFactory(code=f"MORE-{n}", velocity_tier="tail")
        receive(sku, shelf, 1)
        rate(sku, shelf, "5")
    assert queries() == one


def test_fba_health_names_stranded_slow_and_unfulfillable_units(receive):
    pool = LocationFactory(code="FBA-US", kind=Location.Kind.FBA)
    amazon = ChannelFactory(code="amazon-us", kind="amazon")
    stranded, slow, fine = SkuFactory(code="STRAND"), SkuFactory(code="SLOW"), SkuFactory(code="OK")
    for sku, quantity in ((stranded, 10), (slow, 1000), (fine, 30)):
        receive(sku, pool, quantity)
    for sku in (slow, fine):
        ListingFactory(channel=amazon, sku=sku, fulfilment=Listing.Fulfilment.FBA)
    rate(slow, pool, "2")  # 500 days of cover
    rate(fine, pool, "3")  # 10 days
    FbaCount.objects.create(
        location=pool, sku=fine, counted_at=timezone.now(), fulfillable=30, unfulfillable=2
    )

    rows = {row.sku.code: row for row in fba.pool_stock()}

    assert rows["STRAND"].stranded
    assert rows["SLOW"].slow
    assert not rows["SLOW"].stranded
    assert rows["OK"].unfulfillable == 2
    assert not rows["OK"].slow


def test_a_channel_shown_more_than_it_sells_is_flagged():
    shop, market = ChannelFactory(code="shop"), ChannelFactory(code="market")
    sku = SkuFactory(code="TEE", velocity_tier="core")
    ListingFactory(channel=shop, sku=sku, desired_quantity=80)
    ListingFactory(channel=market, sku=sku, desired_quantity=20)
    now = timezone.now()
    for channel, units in ((shop, 2), (market, 8)):
        order = ChannelOrder.objects.create(
            channel=channel, external_id=f"{channel.code}-1", placed_at=now - timedelta(days=3),
            channel_updated_at=now,
        )  # fmt: skip
        ChannelOrderLine.objects.create(
            order=order, external_id="1", sku=sku, quantity=units, current_quantity=units
        )

    found = {(s.channel.code, s.days): s for s in effectiveness.shares(now=now)}

    assert found[("shop", 30)].allocated == pytest.approx(0.8)
    assert found[("shop", 30)].sold == pytest.approx(0.2)
    assert found[("shop", 30)].diverges
    assert found[("shop", 30)].gap_points == 60
    assert found[("market", 90)].gap_points == -60


def test_the_dashboard_signals_low_stock_and_links_to_it(shelf, client, user):
    client.force_login(user)
    panel = client.get("/signals/").content.decode()
    assert 'data-signal="low-stock"' in panel
    assert (
        '<a href="/insight/">2 SKU/locations run out before a new order could arrive</a>' in panel
    )
