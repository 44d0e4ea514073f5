"""No console page's query count grows with the rows it shows: every main page is read with a
few of everything, then with several times as many, and must cost the same queries."""

from __future__ import annotations

from decimal import Decimal
from itertools import count

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from access import audit
from allocation.models import LocationVelocity, OversellIncident, SalesHalt
from channels import unmapped
from channels.models import ChannelOrder, ChannelOrderLine, ChannelReturn, InboundEvent
from ledger import services
from ledger.rules import EventLine
from reconciliation.models import Drift
from tests.factories import ChannelFactory, ListingFactory, LocationFactory, SkuFactory

pytestmark = pytest.mark.django_db

PAGES = [
    "/", "/oversold/", "/signals/", "/trends/", "/skus/", "/skus/HERO/", "/channels/", "/channels/shop/",
    "/channels/shop/activity/",
    "/channels/quarantine/", "/incidents/", "/order-health/", "/order-health/?channel=shop",
    "/orders/", "/returns/", "/reconciliation/", "/reconciliation/drift/",
    "/reconciliation/halts/", "/reconciliation/dead-man/", "/audit/", "/insight/", "/metrics",
]  # fmt: skip
_n = count()


@pytest.fixture
def shop():
    warehouse = LocationFactory(code="WH")
    channel = ChannelFactory(code="shop", default_location=warehouse)
    hero = SkuFactory(code="HERO", velocity_tier="hero")
    services.record_event(
        kind="receipt", lines=[EventLine("HERO", "WH", 1000)], idempotency_key="hero", source="t"
    )
    ListingFactory(channel=channel, sku=hero, desired_quantity=5, pushed_quantity=5)
    return channel, warehouse, hero


def more_of_everything(channel, warehouse, hero, rows: int) -> None:
    """`rows` more of each thing a page lists: SKUs with stock, sales and listings, orders,
    drift, halts, oversells, quarantined events, returns, audit entries, velocity rates."""
    now = timezone.now()
    for _ in range(rows):
        n = next(_n)
        sku = SkuFactory(code=f"ROW-{n}", velocity_tier="core", supplier="Acme")
        for kind, code, quantity in (("receipt", sku.code, 3), ("sale", sku.code, 5),
                                     ("sale", "HERO", 1)):  # fmt: skip
            services.record_event(
                kind=kind, lines=[EventLine(code, "WH", quantity)], source="t",
                idempotency_key=f"{kind}-{code}-{n}",
            )  # fmt: skip
        listing = ListingFactory(channel=channel, sku=sku, desired_quantity=0, push_error="no")
        order = ChannelOrder.objects.create(
            channel=channel, external_id=f"o-{n}", name=f"#{n}", placed_at=now,
            channel_updated_at=now,
        )  # fmt: skip
        ChannelOrderLine.objects.create(
            order=order, external_id="1", sku=sku, location=warehouse, quantity=1,
            current_quantity=1,
        )  # fmt: skip
        Drift.objects.create(
            channel=channel, listing=listing, sku=sku, expected=3, observed=5, delta=2
        )
        SalesHalt.objects.create(sku=sku, channel=channel, reason="check", created_by="ana")
        OversellIncident.objects.create(sku=sku, units_short=2)
        InboundEvent.objects.create(
            channel=channel, source="webhook", topic="orders/create", dedupe_key=f"q-{n}",
            body=b"{}", status="quarantined",
            outcome=unmapped.describe(f"#{n}", "1", f"gid://shopify/ProductVariant/{n}", f"X-{n}"),
        )  # fmt: skip
        ChannelReturn.objects.create(
            channel=channel, dedupe_key=f"r-{n}", order=order, order_external_id=order.external_id,
            sku=sku, channel_sku=sku.code, quantity=1, fulfilment="merchant", returned_at=now,
            handling=ChannelReturn.Handling.AWAITING_GRADING,
        )  # fmt: skip
        LocationVelocity.objects.create(
            sku=sku, location=warehouse, week_per_day=Decimal(2), month_per_day=Decimal(2),
            computed_at=now,
        )  # fmt: skip
        audit.record(None, "halt.open", sku, after={"n": n}, reason="check")


def queries_of(client, page: str) -> int:
    client.get(page)  # warm: what a page caches for a minute is cached for both reads
    with CaptureQueriesContext(connection) as captured:
        response = client.get(page)
    assert response.status_code == 200, page
    return len(captured)


def test_no_page_costs_more_queries_for_more_rows(client, user, shop):
    client.force_login(user)
    more_of_everything(*shop, rows=2)
    few = {page: queries_of(client, page) for page in PAGES}

    more_of_everything(*shop, rows=8)
    many = {page: queries_of(client, page) for page in PAGES}

    assert many == few
