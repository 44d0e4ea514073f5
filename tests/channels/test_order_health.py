"""Order health from our own orders: the oversell rate per channel and ISO week, the
account-health proxies over 30 days against Amazon's bars, and the alert before a marketplace
channel nears a bar."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from allocation.models import OversellIncident
from channels import order_health
from channels.models import (
    Channel,
    ChannelOrder,
    ChannelOrderLine,
    ChannelReturn,
    ConflictAction,
    OrderShipment,
)
from ledger import services
from ledger.rules import EventLine
from reconciliation import order_health_watch
from reconciliation.models import Alert
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # a Thursday of ISO week 48


def orders(channel, count, *, start, prefix, sku=None, shipped=0, **fields):
    made = []
    for n in range(count):
        placed = start + timedelta(minutes=n)
        order = ChannelOrder.objects.create(
            channel=channel,
            external_id=f"{prefix}-{n}",
            name=f"{prefix}-{n}",
            placed_at=placed,
            channel_updated_at=placed,
            **fields,
        )
        ChannelOrderLine.objects.create(
            order=order, external_id="1", sku=sku, quantity=1, current_quantity=1,
            sold_units=1, shipped_units=shipped,
        )  # fmt: skip
        made.append(order)
    return made


def cancelled_for_stock(order):
    ChannelOrder.objects.filter(pk=order.pk).update(
        status=ChannelOrder.Status.CANCELLED,
        cancelled_at=order.placed_at + timedelta(hours=1),
        conflict_action=ConflictAction.CANCEL_REQUESTED,
        conflict_action_at=order.placed_at + timedelta(minutes=30),
    )


@pytest.fixture
def amazon(db):
    return ChannelFactory(code="amazon-us", name="Amazon US", kind="amazon", is_marketplace=True)


@pytest.fixture
def shop(db):
    return ChannelFactory(code="shop", name="Shop", kind="shopify")


def test_the_oversell_rate_counts_our_cancels_and_cancels_of_orders_an_incident_named(
    sku, warehouse, receive, amazon, shop
):
    this_week = orders(amazon, 10, start=NOW - timedelta(days=2), prefix="A", sku=sku)
    last_week = orders(amazon, 4, start=NOW - timedelta(days=8), prefix="B", sku=sku)
    orders(shop, 5, start=NOW - timedelta(days=1), prefix="S", sku=sku)
    cancelled_for_stock(this_week[9])
    # B-3 was cancelled on the channel while an incident named its sale as uncovered.
    receive(sku, warehouse, 1)
    sale = services.record_event(
        kind="sale",
        lines=[EventLine(sku.code, warehouse.code, 1)],
        idempotency_key="amazon-us:order:B-3:line:1:sold:1",
        source="test",
        reference="amazon-us:order:B-3",
    )
    incident = OversellIncident.objects.create(
        sku=sku, units_short=1, sale_event_ids=[sale.event.pk]
    )
    named = last_week[3]
    ChannelOrder.objects.filter(pk=named.pk).update(
        status="cancelled", cancelled_at=incident.opened_at + timedelta(minutes=1)
    )
    # A buyer's own cancel of an order nobody named is not an oversell.
    ChannelOrder.objects.filter(pk=this_week[0].pk).update(status="cancelled", cancelled_at=NOW)

    weeks = order_health.weekly_oversell(weeks=2, now=NOW)

    assert [(w.channel.code, w.week, w.placed, w.cancelled_for_stock) for w in weeks] == [
        ("amazon-us", "2026-W48", 10, 1),
        ("shop", "2026-W48", 5, 0),
        ("amazon-us", "2026-W47", 4, 1),
    ]
    assert weeks[0].percent == "10.0 %"


def test_the_cancel_rate_counts_stock_cancels_before_shipping_against_the_bar(amazon, sku):
    placed = orders(amazon, 40, start=NOW - timedelta(days=3), prefix="A", sku=sku)
    cancelled_for_stock(placed[0])

    [rates] = order_health.channel_rates(channels=[amazon], now=NOW)

    assert (rates.orders, rates.cancel.count, rates.cancel.of) == (40, 1, 40)
    assert rates.cancel.percent == "2.5 %"
    assert rates.cancel.over
    assert rates.cancel.near
    ChannelOrder.objects.filter(pk=placed[0].pk).update(status="open")  # not cancelled after all
    [rates] = order_health.channel_rates(channels=[amazon], now=NOW)
    assert (rates.cancel.count, rates.cancel.near) == (0, False)


def test_late_shipments_come_from_the_shipment_outbox(amazon, sku):
    placed = orders(amazon, 4, start=NOW - timedelta(days=5), prefix="A", sku=sku)
    for n, order in enumerate(placed):
        ChannelOrder.objects.filter(pk=order.pk).update(ship_by=order.placed_at + timedelta(days=1))
        shipped = order.placed_at + timedelta(hours=12)
        OrderShipment.objects.create(
            order=order,
            key=f"ship-{n}",
            shipped_at=shipped,
            # 0 on time; 1 confirmed after its ship-by; 2 still unconfirmed long after it
            confirmed_at={0: shipped, 1: shipped + timedelta(days=1), 2: None, 3: shipped}[n],
            status="pending" if n == 2 else "confirmed",
        )
    orders(amazon, 1, start=NOW - timedelta(days=1), prefix="N", sku=sku)  # no ship-by

    [rates] = order_health.channel_rates(channels=[amazon], now=NOW)

    assert (rates.late.count, rates.late.of, rates.late_from) == (2, 4, "shipments")
    assert rates.late.percent == "50.0 %"


def test_without_shipment_rows_late_shipments_come_from_the_order_status(amazon, sku):
    placed = orders(amazon, 2, start=NOW - timedelta(days=5), prefix="A", sku=sku)
    for order, late in zip(placed, (False, True), strict=True):
        ship_by = order.placed_at + timedelta(days=1)
        ChannelOrder.objects.filter(pk=order.pk).update(
            status="fulfilled",
            ship_by=ship_by,
            channel_updated_at=ship_by + timedelta(hours=2 if late else -2),
        )

    [rates] = order_health.channel_rates(channels=[amazon], now=NOW)

    assert (rates.late.count, rates.late.of, rates.late_from) == (1, 2, "order status")


def test_the_defect_proxy_counts_defect_returns_and_cancels_after_shipping(amazon, sku):
    placed = orders(amazon, 10, start=NOW - timedelta(days=3), prefix="A", sku=sku)
    for n, reason in ((0, "DEFECTIVE"), (1, "UNWANTED_ITEM")):
        ChannelReturn.objects.create(
            channel=amazon, dedupe_key=f"r-{n}", order=placed[n], sku=sku, channel_sku=sku.code,
            quantity=1, fulfilment="merchant", reason=reason, returned_at=NOW,
            handling=ChannelReturn.Handling.AWAITING_GRADING,
        )  # fmt: skip
    ChannelOrderLine.objects.filter(order=placed[2]).update(shipped_units=1)
    ChannelOrder.objects.filter(pk=placed[2].pk).update(status="cancelled", cancelled_at=NOW)

    [rates] = order_health.channel_rates(channels=[amazon], now=NOW)

    assert (rates.defect.count, rates.defect.of) == (2, 10)


def test_a_marketplace_near_a_bar_is_alerted_once_a_day(amazon, shop, sku, settings):
    settings.ORDER_HEALTH_MIN_ORDERS = 20
    placed = orders(amazon, 50, start=NOW - timedelta(days=3), prefix="A", sku=sku)
    cancelled_for_stock(placed[0])  # 2.0 %: at 80 % of the 2.5 % bar
    shop_orders = orders(shop, 50, start=NOW - timedelta(days=3), prefix="S", sku=sku)
    for order in shop_orders[:5]:
        cancelled_for_stock(order)  # a shop, not a marketplace: Amazon's bars are not its own
    few = ChannelFactory(code="amazon-ca", kind="amazon", is_marketplace=True)
    cancelled_for_stock(orders(few, 3, start=NOW - timedelta(days=1), prefix="C", sku=sku)[0])

    assert order_health_watch.check(now=NOW) == 1
    assert order_health_watch.check(now=NOW + timedelta(hours=1)) == 0  # told today already
    assert order_health_watch.check(now=NOW + timedelta(days=1)) == 1

    alert = Alert.objects.filter(kind="order_health").earliest("id")
    assert alert.key == "order-health:amazon-us:cancel:2026-11-26"
    assert "pre-fulfilment cancel rate 2.0 % nears Amazon's bar of 2.5 %" in alert.subject
    assert alert.link == "/channels/amazon-us/"


def test_the_rates_are_in_the_api_and_on_the_pages(client, user, api_client, amazon, sku):
    placed = orders(amazon, 4, start=datetime.now(UTC) - timedelta(days=1), prefix="A", sku=sku)
    cancelled_for_stock(placed[0])

    answer = api_client.get(f"/api/v1/channels/{amazon.code}/health/")

    assert answer.status_code == 200
    body = answer.json()
    assert (body["channel"], body["orders"], body["window_days"]) == ("amazon-us", 4, 30)
    assert body["oversell_by_week"][0]["cancelled_for_stock"] == 1
    assert body["cancel"] == {
        "count": 1, "of": 4, "rate": 0.25, "bar": 0.025, "near_bar": True, "over_bar": True
    }  # fmt: skip
    client.force_login(user)
    panel = reverse("channels:order-health")
    for page, loaded in (
        (reverse("channels:incident-list"), panel),
        (reverse("channels:channel-detail", args=[amazon.code]), f"{panel}?channel=amazon-us"),
    ):
        # each page loads the panel after itself
        assert f'hx-get="{loaded}"' in client.get(page).content.decode()
        html = client.get(loaded).content.decode()
        assert 'data-channel="amazon-us"' in html
        assert "25.0 %" in html
        assert 'id="oversell-weeks"' in html
    assert client.get(f"{panel}?channel=nope").status_code == 404
    assert Channel.objects.count() == 1
