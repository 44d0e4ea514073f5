"""The seed scenario of I8, over real HTTP and real PostgreSQL: one unit left of a SKU listed on
a Shopify shop and an Amazon merchant-fulfilled offer (both sandboxes still show 2, the sync
lag), an Amazon order placed at 14:23:01 and a Shopify order at 14:23:02, arriving Amazon
first, Shopify first, or at once in two ingest threads. Whatever the arrival, the Amazon order
stands, the Shopify order is flagged to cancel, the incident lists both, and one planner pass
and one push per channel bring the SKU to 0 on both channels, read back over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from allocation.models import OversellIncident
from channels import inbound, planner, push
from channels.incidents import incident_orders
from channels.models import ChannelOrder, InboundEvent, Listing
from tests.channels.amazon_world import mixed_world
from tests.concurrency import run_concurrently

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SKU = "TEE-M"
DAY = (datetime.now(UTC) - timedelta(days=1)).date()
AMAZON_AT = datetime.combine(DAY, time(14, 23, 1), tzinfo=UTC)
SHOPIFY_AT = datetime.combine(DAY, time(14, 23, 2), tzinfo=UTC)


@pytest.fixture
def world(live_server, receive, settings, monkeypatch):
    with mixed_world(live_server.url, receive, settings, monkeypatch, {SKU: 1}) as built:
        built.shop = built.open_shop("shop", stock={SKU: 2}, location=built.warehouse, seed=1)
        built.seller = built.open_seller(
            "amazon-us", mfn={SKU: 2}, location=built.warehouse, seed=2, wall_start=AMAZON_AT
        )
        yield built


def place_both(world) -> tuple[str, str]:
    """Both shoppers check out; nothing has reached us yet."""
    amazon = world.seller.sandbox.place_order(SKU, 1)  # the seller's clock reads 14:23:01
    world.shop.sandbox.config.now = lambda: SHOPIFY_AT
    shopify = world.shop.sandbox.sell(SKU, 1)
    return amazon["orderId"], str(shopify["id"])


def deliver(send) -> list[int]:
    """Let a sandbox deliver what it has to our endpoint; the inbound events it stored."""
    before = InboundEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    send()
    return list(
        InboundEvent.objects.filter(id__gt=before).order_by("id").values_list("id", flat=True)
    )


def flush_amazon(world) -> None:
    """Every notification the seller has, now: retries of a delivery that failed under load
    without their backoff, and none left for a later due time (the test is not about delay)."""
    world.seller.sandbox.flush(everything=True)


def amazon_first(world) -> None:
    deliver(lambda: flush_amazon(world))
    inbound.process_pending()
    deliver(world.shop.sandbox.flush_webhooks)
    inbound.process_pending()


def shopify_first(world) -> None:
    deliver(world.shop.sandbox.flush_webhooks)
    inbound.process_pending()
    deliver(lambda: flush_amazon(world))
    inbound.process_pending()


def concurrently(world) -> None:
    """Both orders' events stored, then applied by two ingest threads released together."""
    events = deliver(lambda: flush_amazon(world)) + deliver(world.shop.sandbox.flush_webhooks)
    orders = list(
        InboundEvent.objects.filter(pk__in=events, topic__in=["ORDER_CHANGE", "orders/create"])
        .order_by("id")
        .values_list("id", flat=True)
    )
    assert len(orders) == 2
    outcomes = run_concurrently(inbound.process_one, [(pk,) for pk in orders])
    assert all(outcome.ok for outcome in outcomes), [o.error for o in outcomes]
    inbound.process_pending()  # the rest (quantity echoes, inventory level updates)


@pytest.mark.parametrize(
    "arrival", [amazon_first, shopify_first, concurrently], ids=lambda f: f.__name__
)
def test_the_earlier_amazon_order_stands_and_the_sku_shows_zero_everywhere(world, arrival):
    amazon_id, shopify_id = place_both(world)

    arrival(world)

    amazon_order = ChannelOrder.objects.get(channel=world.seller.channel, external_id=amazon_id)
    shopify_order = ChannelOrder.objects.get(channel=world.shop.channel, external_id=shopify_id)
    assert (amazon_order.placed_at, shopify_order.placed_at) == (AMAZON_AT, SHOPIFY_AT)
    assert planner.plan_dirty_skus().skus >= 1  # one planner pass
    incident = OversellIncident.objects.get(sku__code=SKU, status="open")
    assert incident.units_short == 1
    rows = {row.order.pk: row for row in incident_orders(incident)}
    assert set(rows) == {amazon_order.pk, shopify_order.pk}  # the incident lists both
    assert rows[amazon_order.pk].verdict == "stands"
    assert rows[shopify_order.pk].verdict == "cancel or backorder"
    assert rows[shopify_order.pk].losing_units == 1
    listings = list(Listing.objects.filter(sku__code=SKU).select_related("channel"))
    assert {listing.channel.code: listing.desired_quantity for listing in listings} == {
        "shop": 0,
        "amazon-us": 0,
    }

    for listing in listings:  # each channel took its own sale off the 2 it showed
        shown = world.lane_for(listing.channel).read_levels(listing.channel, [listing])
        assert shown == {listing.pk: 1}, listing.channel.code

    for channel in (world.shop.channel, world.seller.channel):  # one push each
        push.push_channel(channel, world.lane_for(channel))
    world.seller.sandbox.advance(5)  # Amazon applies an accepted patch a few seconds later

    for listing in listings:
        shown = world.lane_for(listing.channel).read_levels(listing.channel, [listing])
        assert shown == {listing.pk: 0}, listing.channel.code
