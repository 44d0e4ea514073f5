"""Reconciliation against an SP-API sandbox seller over real HTTP: a Seller Central edit is
drift with its delta and cause; a large one halts the listing and the next push sends 0."""

from __future__ import annotations

import pytest

from allocation.models import SalesHalt
from reconciliation.confirm import confirm_phase
from reconciliation.models import Drift
from reconciliation.runs import read_phase, start_run
from tests.channels.amazon_world import mixed_world
from tests.channels.shopify_world import listing

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

STOCK = {"TEE-M": 40, "MUG-RED": 40}


@pytest.fixture
def world(live_server, receive, settings, monkeypatch):
    with mixed_world(live_server.url, receive, settings, monkeypatch, STOCK) as built:
        yield built


def test_a_seller_central_edit_is_drift_and_a_large_one_halts_the_listing(world):
    seller = world.open_seller("amazon-us", mfn=dict(STOCK), location=world.warehouse, seed=2)
    world.settle()
    shown = listing(seller, "TEE-M").desired_quantity
    assert seller.mfn("TEE-M") == shown > 0
    seller.sandbox.set_mfn_quantity("TEE-M", shown + 25)
    world.settle()  # its MFN quantity notification is ingested: a drift signal only

    run = read_phase(start_run(channel=seller.channel), lanes=world.lane_for)
    run = confirm_phase(run, now=run.confirm_after, lanes=world.lane_for)

    assert (run.listings_checked, run.drifted, run.halted) == (2, 1, 1)
    assert run.api_calls > 0
    drift = Drift.objects.get(run=run)
    assert (drift.expected, drift.observed, drift.delta) == (shown, shown + 25, 25)
    assert drift.cause == Drift.Cause.MANUAL_EDIT
    assert SalesHalt.objects.filter(
        sku__code="TEE-M", channel=seller.channel, released_at=None
    ).exists()
    world.settle()
    assert seller.mfn("TEE-M") == 0
    assert seller.mfn("MUG-RED") == listing(seller, "MUG-RED").desired_quantity > 0


def test_a_small_seller_central_edit_is_resynced(world):
    seller = world.open_seller("amazon-us", mfn=dict(STOCK), location=world.warehouse, seed=2)
    world.settle()
    shown = listing(seller, "MUG-RED").desired_quantity
    seller.sandbox.set_mfn_quantity("MUG-RED", shown - 1)

    run = read_phase(start_run(channel=seller.channel), lanes=world.lane_for)
    run = confirm_phase(run, now=run.confirm_after, lanes=world.lane_for)

    drift = Drift.objects.get(run=run)
    assert (drift.delta, drift.resolution) == (-1, Drift.Resolution.RESYNCED)
    world.settle()
    assert seller.mfn("MUG-RED") == shown
