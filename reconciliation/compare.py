"""What a listing should show, whether what it shows differs, and whether the gap is large.

Plain functions of plain values: tests call them directly, the runs call them per listing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings


def differs(expected: int | None, in_flight: int | None, observed: int | None) -> bool:
    """True when the channel shows something no known state of ours explains: `expected` is
    our last acknowledged set plus the channel's own moves we ingested since (None: never
    pushed, nothing to compare with); `in_flight`, a set sent and not answered yet."""
    if expected is None:
        return False
    if in_flight is not None:
        return False  # a set on its way: the pusher's own read-back settles it
    return (observed or 0) != expected


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
