"""The plain rules of reconciliation: what differs, what is large, the probable cause; and the
cycle-count discrepancy scan and the reconcile_now command's answers to bad input."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from channels.models import Channel, Listing
from ledger import services
from ledger.rules import EventLine
from reconciliation import discrepancies, resolve
from reconciliation.causes import Evidence, probable_cause
from reconciliation.compare import Threshold, differs, is_large, threshold_for
from reconciliation.models import CycleCountDiscrepancy, Drift
from tests.factories import SkuFactory


def test_a_listing_differs_only_from_every_state_of_ours():
    assert not differs(7, None, 7)
    assert differs(7, None, 10)
    assert not differs(7, 10, 10)  # our set on its way
    assert not differs(None, None, 10)  # never pushed: nothing to compare with
    assert not differs(0, None, None)
    assert differs(3, None, None)


@pytest.mark.parametrize(
    ("delta", "expected", "large"),
    [
        (3, 100, False),
        (4, 100, True),
        (-3, 100, False),
        (2, 10, True),
        (1, 10, False),
        (1, 0, True),
    ],
)
def test_small_means_within_both_the_units_and_the_percent(delta, expected, large):
    assert is_large(delta, expected, Threshold(3, Decimal(10))) is large


def test_thresholds_per_channel_and_tier_win_over_the_default(settings):
    settings.RECONCILE_HALT_THRESHOLDS = {
        "default": (3, 10), "tier:hero": (1, 5), "channel:shop-a": (10, 50),
    }  # fmt: skip
    assert threshold_for("shop-b", "core") == Threshold(3, Decimal(10))
    assert threshold_for("shop-b", "hero") == Threshold(1, Decimal(5))
    assert threshold_for("shop-a", "hero") == Threshold(10, Decimal(50))


@pytest.mark.parametrize(
    ("evidence", "cause"),
    [
        (Evidence(expected=7, observed=10, before_last_set=10, last_set=7), Drift.Cause.LOST_WRITE),
        # a sale ingested since our set moved both sides
        (Evidence(expected=6, observed=9, before_last_set=10, last_set=7), Drift.Cause.LOST_WRITE),
        (Evidence(expected=7, observed=8, refunded_units=1), Drift.Cause.REFUND_SEMANTICS),
        # an increase not kept, where the shop's open orders rule out a sale on its way
        (Evidence(expected=50, observed=0, before_last_set=0, last_set=50,
                  committed_observed=0, committed_expected=0), Drift.Cause.LOST_WRITE),
        (Evidence(expected=50, observed=0, before_last_set=0, last_set=50), Drift.Cause.UNKNOWN),
        # a sale of exactly the units our last increase added is not a lost write (I6)
        (Evidence(expected=50, observed=0, before_last_set=0, last_set=50,
                  committed_observed=50, committed_expected=0), Drift.Cause.UNSEEN_ORDER),
        (Evidence(expected=7, observed=5, committed_observed=3, committed_expected=1),
         Drift.Cause.UNSEEN_ORDER),
        (Evidence(expected=7, observed=5, committed_observed=1, committed_expected=1),
         Drift.Cause.MANUAL_EDIT),
        (Evidence(expected=7, observed=50), Drift.Cause.MANUAL_EDIT),
        (Evidence(expected=7, observed=5), Drift.Cause.UNKNOWN),
    ],
)  # fmt: skip
def test_probable_cause(evidence, cause):
    assert probable_cause(evidence)[0] == cause


@pytest.mark.django_db
def test_a_cycle_count_beyond_five_percent_opens_a_discrepancy(sku, warehouse, receive):
    receive(sku, warehouse, 100)
    for key, counted in (("a", 97), ("b", 90)):
        services.record_event(
            kind="cycle_count",
            lines=[EventLine(sku=sku.code, location=warehouse.code, quantity=counted)],
            idempotency_key=f"count:{key}",
            source="test",
        )
    assert discrepancies.scan() == 1
    item = CycleCountDiscrepancy.objects.get()
    assert (item.before, item.counted, item.delta) == (97, 90, -7)
    assert item.percent == Decimal("7.22")
    assert discrepancies.scan() == 0  # the watermark moved on
    (shrink,) = discrepancies.shrinkage_by_quarter()
    assert (shrink.location, shrink.units) == (warehouse.code, 10)


@pytest.mark.django_db
def test_reconcile_now_refuses_what_it_does_not_know():
    with pytest.raises(CommandError, match="No channel 'nope'"):
        call_command("reconcile_now", "--channel", "nope")
    with pytest.raises(CommandError, match="Unknown SKU"):
        call_command("reconcile_now", "--sku", "NOPE-1")


@pytest.mark.django_db
def test_a_resolved_drift_refuses_another_resolution_before_touching_anything():
    drift = _drift(SkuFactory(code="TEE-M"), resolution=Drift.Resolution.DISMISSED)
    with pytest.raises(resolve.ResolutionError, match="already Dismissed"):
        resolve.adopt(drift, actor="ops", reason="counted")
    with pytest.raises(resolve.ResolutionError, match="already Dismissed"):
        resolve.resync(drift)


def _drift(sku, **fields):
    channel = Channel.objects.create(code="shop-a", name="Shop A", kind="shopify", mode="live")
    listing = Listing.objects.create(channel=channel, sku=sku, external_id="v1", pushed_quantity=5)
    return Drift.objects.create(
        channel=channel, listing=listing, sku=sku, expected=5, observed=9, delta=4, **fields
    )
