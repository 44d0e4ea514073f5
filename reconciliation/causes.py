"""Why a listing probably drifted, from the evidence we hold (a guess for the person who
reviews it, never a reason to trust the channel's number).

- lost write: the channel still shows its level from before our last acknowledged set (a
  lower one only where its open orders rule out a sale on its way);
- refund semantics: a refund or cancel of this listing since that set moved stock back (or not)
  on one side only, by no more units than it carried;
- unseen order: the channel holds more units in open orders than the orders we ingested
  (Shopify tells `committed`), by the units missing;
- manual edit: more than expected with no other explanation, or a gap with the channel's
  committed units as we expect them (its on-hand was edited);
- unknown: fewer than expected where the channel does not say why.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import F, Q, Sum

from channels.models import ChannelOrderLine, Listing, PushAttempt

from .models import Drift

Cause = Drift.Cause


@dataclass(frozen=True, slots=True)
class Evidence:
    expected: int
    observed: int
    # The channel's quantity before our last acknowledged set, as that set compared it.
    before_last_set: int | None = None
    last_set: int | None = None
    # Units refunded, cancelled or restocked on this listing since our last set.
    refunded_units: int = 0
    committed_observed: int | None = None
    committed_expected: int | None = None


def probable_cause(evidence: Evidence) -> tuple[str, str]:
    """The probable cause and the evidence behind it, in words."""
    delta = evidence.observed - evidence.expected
    before, last = evidence.before_last_set, evidence.last_set
    seen, ours = evidence.committed_observed, evidence.committed_expected
    orders_agree = seen is not None and ours is not None and seen == ours
    # The channel still shows its level from before our set. Higher than we set: a decrease
    # not kept. Lower: an increase not kept, or a sale of exactly its units on its way (I6):
    # a lost write only where the channel's open orders say no sale is missing.
    if before is not None and last is not None and before != last:
        same = evidence.observed == before + (evidence.expected - last)
        if same and (delta > 0 or orders_agree):
            return Cause.LOST_WRITE, f"shows {before} from before our set of {last}"
    if evidence.refunded_units and abs(delta) <= evidence.refunded_units:
        return Cause.REFUND_SEMANTICS, (
            f"{evidence.refunded_units} unit(s) refunded or cancelled since our last set"
        )
    if seen is not None and ours is not None:
        if delta < 0 and seen - ours == -delta:
            return Cause.UNSEEN_ORDER, f"the channel holds {seen} in open orders, we know {ours}"
        if seen == ours:
            return Cause.MANUAL_EDIT, "open orders agree: the channel's on-hand was edited"
    if delta > 0:
        return Cause.MANUAL_EDIT, "more than we set and no order explains it"
    return Cause.UNKNOWN, "fewer than expected: an order we have not seen, or an edit"


def last_sets(channel_id: int, listings: dict[int, Listing]) -> dict[int, tuple[int, int]]:
    """Per listing, (quantity compared from, quantity set) of its last acknowledged set."""
    if not listings:
        return {}
    oldest = _oldest_set(listings.values())
    if oldest is None:
        return {}
    found: dict[int, tuple[int, int]] = {}
    attempts = (
        PushAttempt.objects.filter(
            channel_id=channel_id,
            status=PushAttempt.Status.ACKNOWLEDGED,
            finished_at__gte=oldest - timedelta(seconds=1),
        )
        .order_by("-id")
        .values_list("items", flat=True)
    )
    for items in attempts.iterator(chunk_size=200):
        for item in items:
            listing_id = item.get("listing")
            known = listing_id in listings and listing_id not in found
            if known and item.get("change_from") is not None:
                found[listing_id] = (int(item["change_from"]), int(item["quantity"]))
        if len(found) == len(listings):
            break
    return found


def refunded_units(listings: dict[int, Listing]) -> dict[int, int]:
    """Units refunded, cancelled or restocked per listing on orders changed since its last set."""
    units: dict[int, int] = defaultdict(int)
    lines = ChannelOrderLine.objects.filter(listing_id__in=list(listings))
    if all(item.pushed_at for item in listings.values()):
        # (A listing never pushed since it was read takes every order into account.)
        lines = lines.filter(order__updated_at__gte=_oldest_set(listings.values()))
    rows = lines.filter(
        Q(refund_cancelled_items__gt=0) | Q(cancelled_units__gt=0) | Q(restocked_units__gt=0)
    ).values_list(
        "listing_id",
        "order__updated_at",
        "refund_cancelled_items",
        "refund_returned_items",
        "cancelled_units",
        "units_per_item",
    )
    for listing_id, updated_at, refunded, returned, cancelled, per_item in rows:
        pushed_at = listings[listing_id].pushed_at
        if pushed_at is not None and updated_at < pushed_at:
            continue
        units[listing_id] += max(refunded + returned, cancelled // max(per_item, 1))
    return units


def committed_expected(listing_ids: Iterable[int]) -> dict[int, int]:
    """Items of each listing in open orders we ingested, not shipped or cancelled: what the
    channel's own `committed` should be."""
    rows = (
        ChannelOrderLine.objects.filter(listing_id__in=list(listing_ids), order__status="open")
        .values("listing_id")
        .annotate(
            units=Sum(F("sold_units") - F("cancelled_units") - F("shipped_units")),
        )
        .values_list("listing_id", "units", "units_per_item")
    )
    found: dict[int, int] = defaultdict(int)
    for listing_id, units, per_item in rows:
        found[listing_id] += max(units or 0, 0) // max(per_item or 1, 1)
    return found


def _oldest_set(listings: Iterable[Listing]) -> datetime | None:
    return min((item.pushed_at for item in listings if item.pushed_at), default=None)
