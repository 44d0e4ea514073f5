"""What a listing should show, whether what it shows differs, and whether the gap is large.

Plain functions of plain values: tests call them directly, the runs call them per listing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings


@dataclass(frozen=True, slots=True)
class Expectation:
    """A listing's sync state as reconciliation reads it (a values() row)."""

    listing_id: int
    channel_id: int
    sku_id: int
    # Our last acknowledged set plus the channel's own moves we ingested since (its orders).
    expected: int | None
    # A set sent and not answered yet: the channel may already show it.
    in_flight: int | None
    tier: str = ""


def differs(expectation: Expectation, observed: int | None) -> bool:
    """True when the channel shows something no known state of ours explains."""
    if expectation.expected is None:
        return False  # never pushed: the pusher reads it first, nothing to compare with
    if expectation.in_flight is not None:
        return False  # a set on its way: the pusher's own read-back settles it
    return (observed or 0) != expectation.expected


@dataclass(frozen=True, slots=True)
class Threshold:
    units: int
    percent: Decimal


def threshold_for(channel_code: str, tier: str) -> Threshold:
    """The halt threshold: RECONCILE_HALT_THRESHOLDS may name a channel code, a velocity tier
    or "default", each as (units, percent); the most specific wins."""
    table = getattr(settings, "RECONCILE_HALT_THRESHOLDS", {})
    for key in (f"channel:{channel_code}", f"tier:{tier}", "default"):
        if key in table:
            units, percent = table[key]
            return Threshold(int(units), Decimal(str(percent)))
    return Threshold(3, Decimal(10))


def is_large(delta: int, expected: int, threshold: Threshold) -> bool:
    """A drift is small when it is at most `units` AND at most `percent` of what the listing
    should show; anything beyond either halts (a 2-unit gap on a 5-unit listing is 40 %)."""
    size = abs(delta)
    if size > threshold.units:
        return True
    return Decimal(size) * 100 > threshold.percent * max(expected, 0)
