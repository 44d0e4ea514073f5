"""The Shopify lane end to end, over real HTTP: sandbox shops → signed webhooks → our endpoint
→ ledger → planner → compare-and-set pushes back to every shop (I3–I6)."""

from __future__ import annotations

import pytest

from channels import push
from channels.lanes.shopify.lane import ShopifyLane
from channels.models import ChannelOrder, InboundEvent, Listing, PushAttempt
from tests.channels.shopify_world import CLIENT_OPTIONS, World, balance, listing
from tests.factories import LocationFactory, SkuFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def world(live_server, receive):
    warehouse = LocationFactory(code="WH-EAST")
    for code, quantity in (("TEE-M", 10), ("MUG-RED", 10), ("HERO-1", 1000)):
        receive(SkuFactory(code=code), warehouse, quantity)
    built = World(live_server.url)
    built.warehouse = warehouse
    yield built
    built.close()


def two_shops(world, **webhooks):
    stock = {"TEE-M": 10, "MUG-RED": 10, "HERO-1": 1000}
    a = world.open_shop("shop-a", stock=stock, location=world.warehouse, seed=1, **webhooks)
    b = world.open_shop("shop-b", stock=stock, location=world.warehouse, seed=2, **webhooks)
    world.settle()
    return a, b


def test_a_sale_on_one_shop_moves_the_other_shops_listing(world):
    a, b = two_shops(world)
    assert (a.available("TEE-M"), b.available("TEE-M")) == (10, 10)
    a.sandbox.sell("TEE-M", 3)
    world.settle()
    assert balance("TEE-M", "WH-EAST", "committed") == 3
    assert b.available("TEE-M") == 7
    assert a.available("TEE-M") == 7  # Shopify moved it at checkout; we did not need to
    assert listing(b, "TEE-M").pushed_quantity == 7
    ack = PushAttempt.objects.filter(channel=b.channel, status="acknowledged").latest("id")
    assert ack.latency_ms is not None
    assert ack.request["variables"]["input"]["quantities"][0]["changeFromQuantity"] == 10


def test_two_hundred_sales_in_a_burst_cost_a_handful_of_pushes(world):
    a, b = two_shops(world)
    calls_before = b.set_calls()
    for _ in range(200):
        a.sandbox.sell("HERO-1", 1)
    world.settle()
    assert InboundEvent.objects.filter(topic="orders/create").count() == 200
    assert balance("HERO-1", "WH-EAST", "committed") == 200
    assert b.available("HERO-1") == 800
    assert b.set_calls() - calls_before <= 5


def test_a_stale_compare_never_overwrites_a_sale_not_yet_ingested(world, receive):
    a, b = two_shops(world)
    # the shopper's webhook is slow to arrive: Shopify sold a unit we do not know of yet
    a.sandbox.subscribe_webhooks(
        f"{world.live_server_url}/webhooks/shopify/{a.channel.pk}/",
        "shpss_e2e_webhook_secret",
        delay_ms=(60_000, 60_000),
    )
    a.sandbox.sell("TEE-M", 1)
    assert a.available("TEE-M") == 9
    # meanwhile we receive stock: every shop should go up by 5
    from ledger.models import Location, Sku

    receive(Sku.objects.get(code="TEE-M"), Location.objects.get(code="WH-EAST"), 5)
    from channels import planner

    planner.plan_dirty_skus()
    outcome = push.push_channel(a.channel, ShopifyLane(**CLIENT_OPTIONS))
    # the compare failed, the level was re-read, and the unexplained unit is waited for
    assert outcome.stale == 1
    assert outcome.held == 1
    assert a.available("TEE-M") == 9  # not overwritten with 15
    held = listing(a, "TEE-M")
    assert held.push_held_until is not None
    assert "waiting for the order" in held.push_error
    # the order arrives: the hold lifts and the shop gets 10 + 5 − 1
    world.settle()
    assert a.available("TEE-M") == 14
    assert b.available("TEE-M") == 14
    assert listing(a, "TEE-M").push_held_until is None


def test_duplicated_and_reordered_webhooks_give_the_ledger_a_clean_replay_gives(world):
    a, b = two_shops(world, duplicate_rate=0.4, reorder_rate=0.4)
    orders = [a.sandbox.sell("TEE-M", 1)["id"] for _ in range(4)]
    orders += [b.sandbox.sell("MUG-RED", 2)["id"] for _ in range(2)]
    a.sandbox.cancel(orders[0], restock=True)
    a.sandbox.cancel(orders[2], restock=True)
    world.settle()
    deliveries = sum(event.deliveries for event in InboundEvent.objects.all())
    assert deliveries > InboundEvent.objects.count()  # duplicates did arrive
    # the ledger carries exactly what the shops say is still ordered
    assert balance("TEE-M", "WH-EAST", "committed") == 2
    assert balance("MUG-RED", "WH-EAST", "committed") == 4
    assert set(
        ChannelOrder.objects.filter(status="cancelled").values_list("external_id", flat=True)
    ) == {
        str(orders[0]),
        str(orders[2]),
    }
    assert a.available("TEE-M") == b.available("TEE-M") == 8
    assert a.available("MUG-RED") == b.available("MUG-RED") == 6


def test_throttling_429_5xx_and_timeouts_end_converged(world):
    a, b = two_shops(world)
    faults = b.sandbox.faults
    faults.add("throttled", 2, match="inventorySetQuantities")
    faults.add("http_429", 1, match="inventorySetQuantities", retry_after=0.01)
    faults.add("http_502", 2, match="inventorySetQuantities")
    faults.add("slow", 1, match="inventorySetQuantities", seconds=CLIENT_OPTIONS["timeout"] + 1)
    faults.add("http_500", 4, match="inventorySetQuantities")
    a.sandbox.sell("TEE-M", 4)
    a.sandbox.sell("MUG-RED", 1)
    world.settle()
    assert b.available("TEE-M") == 6
    assert b.available("MUG-RED") == 9
    # the set that timed out had landed: its resend under the same key was replayed, not applied twice
    assert not Listing.objects.filter(in_flight_attempt__isnull=False).exists()
    assert not b.sandbox.faults.pending()


def test_a_worker_killed_mid_push_loses_no_push(world, receive):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from django.db import connection

    from channels import planner
    from ledger.models import Location, Sku

    a, b = two_shops(world)
    receive(Sku.objects.get(code="TEE-M"), Location.objects.get(code="WH-EAST"), 5)
    planner.plan_dirty_skus()
    assert listing(b, "TEE-M").desired_quantity == 15
    groups_before = len(b.sandbox.adjustment_groups)
    # Shopify applies the set, then the answer takes 5 s: the worker dies before it arrives
    b.sandbox.faults.add("slow", 1, match="inventorySetQuantities", seconds=5, apply=True)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "inventory_sync.settings_test",
        "DATABASE_URL": "postgres://{USER}@{HOST}:{PORT}/{NAME}".format(**connection.settings_dict),
    }
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "push_channel", "shop-b"],
        cwd=Path(__file__).resolve().parents[4],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while b.available("TEE-M") != 15:  # wait for the condition, not for a time
            assert worker.poll() is None, "the worker ended before the set landed"
            assert time.monotonic() < deadline, "the set never reached the shop"
            time.sleep(0.01)
        worker.send_signal(signal.SIGKILL)
    finally:
        worker.wait(timeout=30)
    assert worker.returncode == -signal.SIGKILL
    stranded = PushAttempt.objects.get(channel=b.channel, status="sending")
    assert listing(b, "TEE-M").in_flight_attempt_id == stranded.pk
    # the next worker resends the stranded attempt under its key: replayed, not applied twice
    world.settle()
    stranded.refresh_from_db()
    assert stranded.status == "acknowledged"
    assert listing(b, "TEE-M").pushed_quantity == 15
    assert b.available("TEE-M") == 15
    assert len(b.sandbox.adjustment_groups) == groups_before + 1


def test_push_latency_runs_from_the_ledger_event(world):
    a, b = two_shops(world)
    a.sandbox.sell("TEE-M", 1)
    world.settle()
    pushed = listing(b, "TEE-M")
    sale = InboundEvent.objects.filter(topic="orders/create").latest("id")
    assert pushed.desired_cause_at is not None
    # the cause is the ledger write, after the webhook arrived and before the push was answered
    assert sale.received_at <= pushed.desired_cause_at <= pushed.pushed_at


def test_a_ring_fenced_rebalance_is_break_before_make(world):
    from allocation.models import SkuPolicy
    from allocation.services import skus_mark_dirty
    from channels.models import Channel
    from ledger.models import Sku

    tee = Sku.objects.get(code="TEE-M")
    SkuPolicy.objects.create(sku=tee, mode="ring_fenced")
    skus_mark_dirty(sku_ids=[tee.pk])
    a, b = two_shops(world)
    Channel.objects.filter(pk=a.channel.pk).update(priority=1)
    Channel.objects.filter(pk=b.channel.pk).update(priority=2)
    skus_mark_dirty(sku_ids=[tee.pk])
    world.settle()
    shown = a.available("TEE-M"), b.available("TEE-M")
    assert sum(shown) == 10  # never more than the 10 sellable, across both shops
    # a sale on A: A's share goes up by rebalancing, B's must come down first
    a.sandbox.sell("TEE-M", shown[0])
    b.sandbox.faults.add("http_503", 50, match="inventorySetQuantities")  # B is down
    from channels import inbound, planner

    a.sandbox.flush_webhooks()
    inbound.process_pending()
    planner.plan_dirty_skus()
    wanted_a, wanted_b = listing(a, "TEE-M").desired_quantity, listing(b, "TEE-M").desired_quantity
    assert wanted_a > 0
    assert wanted_b < b.available("TEE-M")
    lane = ShopifyLane(**CLIENT_OPTIONS)
    assert push.push_channel(Channel.objects.get(pk=b.channel.pk), lane).failed
    waiting = push.push_channel(Channel.objects.get(pk=a.channel.pk), lane)
    # A's increase waits for B's unconfirmed decrease: the shops never advertise 11 units
    assert waiting.rebalance_waiting == 1
    assert a.available("TEE-M") == 0
    assert a.available("TEE-M") + b.available("TEE-M") <= 10 - shown[0]
    b.sandbox.faults.clear()
    world.settle()
    assert (a.available("TEE-M"), b.available("TEE-M")) == (wanted_a, wanted_b)
    assert wanted_a + wanted_b <= 10 - shown[0]


def test_an_edited_order_is_read_back_and_applied(world):
    a, b = two_shops(world)
    order = a.sandbox.sell("TEE-M", 3)
    world.settle()
    assert balance("TEE-M", "WH-EAST", "committed") == 3
    a.sandbox.edit_order(order["id"], changes=[{"sku": "TEE-M", "quantity": 1}])
    world.settle()
    assert InboundEvent.objects.get(topic="orders/edited").status == "applied"
    assert balance("TEE-M", "WH-EAST", "committed") == 1
    assert b.available("TEE-M") == 9


def test_shipping_and_cancelling_through_shopify_reach_the_ledger(world):
    from channels.lanes.shopify.api import cancel_order, confirm_shipment

    a, b = two_shops(world)
    shipped = a.sandbox.sell("TEE-M", 2)
    cancelled = a.sandbox.sell("MUG-RED", 1)
    world.settle()
    result = confirm_shipment(
        ChannelOrder.objects.get(external_id=str(shipped["id"])), company="UPS", number="1Z999"
    )
    assert result.fulfillment_id
    cancel_order(ChannelOrder.objects.get(external_id=str(cancelled["id"])))
    world.settle()
    assert ChannelOrder.objects.get(external_id=str(shipped["id"])).status == "fulfilled"
    assert ChannelOrder.objects.get(external_id=str(cancelled["id"])).status == "cancelled"
    assert balance("TEE-M", "WH-EAST", "committed") == 0
    assert balance("TEE-M", "WH-EAST", "on_hand") == 8
    assert balance("MUG-RED", "WH-EAST", "committed") == 0
    assert (b.available("TEE-M"), b.available("MUG-RED")) == (8, 10)


def test_an_order_whose_webhook_never_came_is_caught_by_polling(world):
    from channels.models import Channel
    from channels.polling import poll_orders

    a, b = two_shops(world)
    # the first poll (when the channel goes live) only starts the watermark
    assert poll_orders(Channel.objects.get(pk=a.channel.pk)).stored == 0
    # the shop stops sending order webhooks (a failing subscription, an outage)
    a.sandbox.subscribe_webhooks(
        f"{world.live_server_url}/webhooks/shopify/{a.channel.pk}/",
        "shpss_e2e_webhook_secret",
        topics=["inventory_levels/update"],
        delay_ms=(0, 0),
    )
    order = a.sandbox.sell("TEE-M", 2)
    world.settle()
    assert balance("TEE-M", "WH-EAST", "committed") == 0
    outcome = poll_orders(Channel.objects.get(pk=a.channel.pk))
    assert outcome.stored == 1
    world.settle()
    assert balance("TEE-M", "WH-EAST", "committed") == 2
    assert ChannelOrder.objects.get(external_id=str(order["id"])).lines.get().sold_units == 2
    assert b.available("TEE-M") == 8
    # polling again finds nothing new: the snapshot is stored once
    assert poll_orders(Channel.objects.get(pk=a.channel.pk)).stored == 0


def test_webhooks_signed_with_another_secret_store_nothing(world):
    a, b = two_shops(world)
    stored_before = InboundEvent.objects.count()
    a.sandbox.subscribe_webhooks(
        f"{world.live_server_url}/webhooks/shopify/{a.channel.pk}/",
        "not-the-channels-secret",
        delay_ms=(0, 0),
        max_retries=0,
    )
    a.sandbox.sell("TEE-M", 1)
    a.sandbox.flush_webhooks()
    refused = [d for d in a.sandbox.webhooks.attempts if d["status"] == 401]
    assert refused  # Shopify saw 401s
    assert InboundEvent.objects.count() == stored_before


def test_the_mapping_import_matches_by_sku_or_barcode_and_lists_the_rest(world):
    from channels.lanes.shopify.mapping import import_mapping
    from ledger.models import Sku

    Sku.objects.filter(code="MUG-RED").update(barcode="0810000000042")
    a, b = two_shops(world)
    a.sandbox.seed(
        [
            {"sku": "SCARF-UNKNOWN", "title": "Scarf"},
            {"sku": "mug-red-old-code", "barcode": "0810000000042", "title": "Red mug (old)"},
        ]
    )
    report = import_mapping(a.channel)
    assert report.already_mapped == 3
    assert [row["sku"] for row in report.unmatched] == ["SCARF-UNKNOWN"]
    # matched by barcode: a second listing of MUG-RED on the shop
    assert len(report.created) == 1
    assert Listing.objects.filter(channel=a.channel, sku__code="MUG-RED").count() == 2
    # importing again creates nothing
    again = import_mapping(a.channel)
    assert (again.created, again.already_mapped) == ([], 4)


def _late_webhooks(world, shop):
    shop.sandbox.subscribe_webhooks(
        f"{world.live_server_url}/webhooks/shopify/{shop.channel.pk}/",
        "shpss_e2e_webhook_secret",
        delay_ms=(60_000, 60_000),
    )


def _receive_more(receive, quantity):
    from channels import planner
    from ledger.models import Location, Sku

    receive(Sku.objects.get(code="TEE-M"), Location.objects.get(code="WH-EAST"), quantity)
    planner.plan_dirty_skus()


def test_a_sale_overwritten_after_the_grace_period_is_not_counted_twice(world, receive):
    from datetime import timedelta

    from django.utils import timezone

    a, b = two_shops(world)
    _late_webhooks(world, a)
    a.sandbox.sell("TEE-M", 1)  # shows 9; its webhook is more than the grace period late
    _receive_more(receive, 5)
    lane = ShopifyLane(**CLIENT_OPTIONS)
    assert push.push_channel(a.channel, lane).held == 1
    # the grace period has passed
    Listing.objects.filter(pk=listing(a, "TEE-M").pk).update(
        unseen_since=timezone.now() - timedelta(minutes=5), push_held_until=None
    )
    outcome = push.push_channel(a.channel, lane)
    # stale again, recorded as drift, then overwritten under a fresh compare
    assert (outcome.stale, outcome.acknowledged) == (1, 1)
    overwritten = listing(a, "TEE-M")
    assert overwritten.unseen_sold_items == 1
    assert a.available("TEE-M") == 15  # the shop's 9 overwritten with what we wanted then
    # the late order arrives: the ledger counts it, the shop must come down to 14 — the
    # sale must not also be taken as already subtracted on the shop's side
    world.settle()
    assert balance("TEE-M", "WH-EAST", "committed") == 1
    assert a.available("TEE-M") == b.available("TEE-M") == 14
    assert listing(a, "TEE-M").unseen_sold_items == 0


def test_a_leftover_refusal_hold_does_not_skip_the_grace_period(world, receive):
    from datetime import timedelta

    from django.utils import timezone

    a, b = two_shops(world)
    # an old refusal, long expired
    Listing.objects.filter(pk=listing(a, "TEE-M").pk).update(
        push_held_until=timezone.now() - timedelta(minutes=1), push_error="refused earlier"
    )
    _late_webhooks(world, a)
    a.sandbox.sell("TEE-M", 1)
    _receive_more(receive, 5)
    outcome = push.push_channel(a.channel, ShopifyLane(**CLIENT_OPTIONS))
    assert outcome.held == 1
    assert a.available("TEE-M") == 9  # the unseen sale is not overwritten


def test_an_oversell_lists_the_later_orders_and_cancelling_one_on_shopify_resolves_it(
    world, client, django_user_model
):
    from django.contrib.auth.models import Group
    from django.urls import reverse

    from access.models import AuditEntry
    from allocation.models import OversellIncident
    from channels.models import Channel

    a, b = two_shops(world)
    Channel.objects.filter(pk=a.channel.pk).update(priority=1)
    Channel.objects.filter(pk=b.channel.pk).update(priority=2)
    # both shops sell 6 of the 10 before either hears of the other's sales
    first = a.sandbox.sell("TEE-M", 6)
    second = b.sandbox.sell("TEE-M", 6)
    world.settle()
    incident = OversellIncident.objects.get(status="open")
    assert incident.units_short == 2
    assert (a.available("TEE-M"), b.available("TEE-M")) == (0, 0)  # everything at 0
    person = django_user_model.objects.create_user("ops")
    person.groups.add(Group.objects.get(name="operator"))
    client.force_login(person)
    page = client.get(reverse("channels:incident-list")).content.decode()
    # the later order (or, placed in the same second, the worse channel's) is the one to
    # cancel; the other stands
    assert f'data-order="shop-b:{second["id"]}" data-verdict="losing"' in page
    assert f'data-order="shop-a:{first["id"]}" data-verdict="stands"' in page
    order = ChannelOrder.objects.get(channel=b.channel, external_id=str(second["id"]))
    response = client.post(
        reverse("channels:incident-order-cancel", args=[order.pk]),
        {"confirm": "yes", "reason": "oversold: shop A sold first"},
    )
    assert response.status_code == 302
    signed = AuditEntry.objects.get(action="order.cancel", target_id=str(order.pk))
    assert (signed.actor, signed.reason) == ("ops", "oversold: shop A sold first")
    world.settle()
    incident.refresh_from_db()
    assert incident.status == "resolved"
    assert ChannelOrder.objects.get(pk=order.pk).status == "cancelled"
    assert balance("TEE-M", "WH-EAST", "committed") == 6
    assert a.available("TEE-M") == b.available("TEE-M") == 4


def test_a_pusher_whose_shop_is_down_keeps_trying_in_its_loop_until_it_answers(world, settings):
    from channels import planner
    from channels.tasks import push_channel_task
    from ledger import services
    from ledger.rules import EventLine

    a, b = two_shops(world)
    settings.SHOPIFY_MAX_ATTEMPTS = 2
    settings.SHOPIFY_BACKOFF_BASE_SECONDS = 0.01
    settings.LOOP_IDLE_EXIT_SECONDS = 0.0
    settings.LOOP_MAX_RUN_SECONDS = 30.0
    # shop B answers 503 to the next four sets: two whole push rounds fail
    b.sandbox.faults.add("http_503", 4, match="inventorySetQuantities")
    services.record_event(
        kind="receipt",
        lines=[EventLine("TEE-M", "WH-EAST", 3)],
        idempotency_key="down-shop:receipt",
        source="test",
    )
    planner.plan_dirty_skus()
    push_channel_task(b.channel.pk)  # one loop task, run here: it retries until B answers
    assert b.available("TEE-M") == 13
    assert not b.sandbox.faults.pending()
    assert PushAttempt.objects.filter(channel=b.channel, status="acknowledged").exists()
