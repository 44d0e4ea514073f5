"""Reconciliation against Shopify sandbox shops over real HTTP: lost writes caught by the
read-after-write check, manual edits recorded as drift and halted, orders in flight left
alone, halts released and channel numbers adopted."""

from __future__ import annotations

import pytest
from django.utils import timezone

from allocation.models import SalesHalt
from channels import inbound
from channels.lanes.shopify.lane import ShopifyLane
from ledger.models import InventoryEvent, Location
from reconciliation import readback, resolve
from reconciliation.confirm import confirm_phase
from reconciliation.models import Drift, ReconciliationRun
from reconciliation.runs import read_phase, start_run, unexpected_sku_codes
from tests.channels.shopify_world import CLIENT_OPTIONS, World, balance, listing
from tests.factories import LocationFactory, SkuFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def lanes(channel):
    return ShopifyLane(**CLIENT_OPTIONS)


@pytest.fixture
def world(live_server, receive):
    warehouse = LocationFactory(code="WH-EAST")
    for code, quantity in (("TEE-M", 10), ("MUG-RED", 99)):
        receive(SkuFactory(code=code), warehouse, quantity)
    built = World(live_server.url)
    yield built
    built.close()


@pytest.fixture
def shops(world):
    stock = {"TEE-M": 10, "MUG-RED": 99}
    location = Location.objects.get(code="WH-EAST")
    a = world.open_shop("shop-a", stock=stock, location=location, seed=1)
    b = world.open_shop("shop-b", stock=stock, location=location, seed=2)
    world.settle()
    return a, b


def reconcile(channel=None) -> ReconciliationRun:
    """Both phases, the grace window passed at once (the test delivers what is on its way)."""
    run = read_phase(start_run(channel=channel), lanes=lanes)
    return confirm_phase(run, now=run.confirm_after, lanes=lanes)


def test_a_lost_write_is_caught_by_the_read_back_and_resynced(world, shops):
    a, b = shops
    b.sandbox.faults.add("lost_write", count=1)
    a.sandbox.sell("TEE-M", 3)
    world.settle()
    assert listing(b, "TEE-M").pushed_quantity == 7
    assert b.available("TEE-M") == 10  # answered success, kept the old level

    (drift,) = readback.read_back_channel(b.channel, lanes=lanes)

    drift.refresh_from_db()
    assert (drift.expected, drift.observed, drift.delta) == (7, 10, 3)
    assert drift.cause == Drift.Cause.LOST_WRITE
    assert drift.resolution == Drift.Resolution.RESYNCED
    world.settle()
    assert b.available("TEE-M") == 7
    assert readback.read_back_channel(b.channel, lanes=lanes) == []


def test_a_manual_edit_is_drift_and_a_large_one_halts_until_released(world, shops):
    a, b = shops
    a.sandbox.admin_edit("MUG-RED", a.location_gid, available=500)
    world.settle()  # the edit's own webhook is ingested: a drift signal, nothing more

    run = reconcile()

    assert (run.status, run.listings_checked, run.drifted, run.halted) == ("done", 4, 1, 1)
    drift = Drift.objects.get(run=run)
    assert (drift.expected, drift.observed, drift.delta) == (99, 500, 401)
    assert drift.cause == Drift.Cause.MANUAL_EDIT
    assert drift.resolution == Drift.Resolution.HALTED
    halt = SalesHalt.objects.get(sku__code="MUG-RED", channel=a.channel, released_at=None)
    world.settle()
    assert a.available("MUG-RED") == 0  # the next push sent 0 (compare-and-set from 500)
    assert b.available("MUG-RED") == 99

    resolve.release_halt(halt, actor="ops@example.com", reason="shop admin fixed")
    world.settle()
    assert a.available("MUG-RED") == 99
    halt.refresh_from_db()
    assert (halt.released_by, halt.release_reason) == ("ops@example.com", "shop admin fixed")
    drift.refresh_from_db()
    assert drift.resolution == Drift.Resolution.RESOLVED


def test_a_small_drift_is_resynced(world, shops):
    a, _ = shops
    a.sandbox.admin_edit("MUG-RED", a.location_gid, available=101)
    run = reconcile(a.channel)
    drift = Drift.objects.get(run=run)
    assert (drift.delta, drift.resolution) == (2, Drift.Resolution.RESYNCED)
    assert not SalesHalt.objects.filter(released_at=None).exists()
    world.settle()
    assert a.available("MUG-RED") == 99


def test_an_order_on_its_way_during_a_run_is_not_drift(world, shops):
    a, _ = shops
    a.sandbox.sell("TEE-M", 2)  # its webhook is delivered but not yet ingested
    run = read_phase(start_run(channel=a.channel), lanes=lanes)
    assert list(run.suspects) == [str(listing(a, "TEE-M").pk)]

    a.sandbox.flush_webhooks()
    inbound.process_pending()  # the order arrives within the grace window
    run = confirm_phase(run, now=run.confirm_after, lanes=lanes)

    assert (run.status, run.drifted) == ("done", 0)
    assert not Drift.objects.exists()


def test_the_confirm_phase_waits_for_the_grace_window(world, shops):
    a, _ = shops
    a.sandbox.admin_edit("TEE-M", a.location_gid, available=11)
    run = read_phase(start_run(channel=a.channel), lanes=lanes)
    early = confirm_phase(run, now=run.started_at, lanes=lanes)
    assert early.status == ReconciliationRun.Status.WAITING
    assert not Drift.objects.exists()


def test_an_unseen_order_is_told_from_an_edit_by_the_shops_committed_units(world, shops):
    a, _ = shops
    # Webhooks for products only from now on: the order's never come.
    a.sandbox.subscribe_webhooks("http://127.0.0.1:9/", "x", topics=["products/update"])
    a.sandbox.sell("MUG-RED", 1)  # an order whose webhook never comes
    run = reconcile(a.channel)
    drift = Drift.objects.get(run=run)
    assert (drift.delta, drift.cause) == (-1, Drift.Cause.UNSEEN_ORDER)


def test_adopting_the_channels_number_counts_the_stock_and_moves_the_other_shop(world, shops):
    a, b = shops
    a.sandbox.admin_edit("MUG-RED", a.location_gid, available=120)
    run = reconcile()
    drift = Drift.objects.get(run=run)
    assert drift.resolution == Drift.Resolution.HALTED

    resolve.adopt(drift, actor="ops@example.com", reason="counted 120 on the shelf")

    event = InventoryEvent.objects.get(kind="cycle_count")
    assert (event.actor, event.reason) == ("ops@example.com", "counted 120 on the shelf")
    assert balance("MUG-RED", "WH-EAST", "on_hand") == 120
    world.settle()
    assert (a.available("MUG-RED"), b.available("MUG-RED")) == (120, 120)
    drift.refresh_from_db()
    assert (drift.resolution, drift.event_id) == (Drift.Resolution.ADOPTED, event.pk)
    assert not SalesHalt.objects.filter(released_at=None).exists()


def test_a_level_the_shop_reports_unexpectedly_is_reconciled_before_the_schedule(world, shops):
    a, _ = shops
    a.sandbox.admin_edit("MUG-RED", a.location_gid, available=500)
    world.settle()  # its inventory_levels/update webhook records what the shop shows
    assert unexpected_sku_codes(now=timezone.now()) == ["MUG-RED"]
    run = read_phase(start_run(sku_codes=["MUG-RED"], trigger="signal"), lanes=lanes)
    run = confirm_phase(run, now=run.confirm_after, lanes=lanes)
    assert (run.listings_checked, run.drifted, run.halted) == (2, 1, 1)


def test_a_sale_lowering_the_shops_level_starts_no_run_of_its_own(world, shops):
    a, _ = shops
    a.sandbox.sell("TEE-M", 2)
    a.sandbox.flush_webhooks()
    inbound.process_pending()  # the level webhook may come before or after the order's
    assert unexpected_sku_codes(now=timezone.now()) == []


def test_a_no_restock_refund_of_an_unshipped_unit_leaves_the_ledger_equal_to_the_shop(world, shops):
    a, _ = shops
    order = a.sandbox.sell("TEE-M", 2)
    world.settle()
    where = a.channel.default_location.code
    on_hand_before = balance("TEE-M", where, "on_hand")
    a.sandbox.refund(order["id"], [{"sku": "TEE-M", "quantity": 1}], restock_type="no_restock")
    world.settle()  # the shop took the unit off hand; so does the ledger

    run = reconcile(a.channel)

    assert not Drift.objects.filter(run=run).exists()
    gone = on_hand_before - balance("TEE-M", where, "on_hand")
    assert (gone, balance("TEE-M", where, "committed")) == (1, 1)
    removal = InventoryEvent.objects.get(kind="write_off")
    assert "refunded without restock" in removal.reason
