"""Allocation effectiveness: does each channel get a share of the stock that matches its share
of the sales? Per velocity tier, over 30 and 90 days; a gap of more than DIVERGENCE (in share
points) is flagged: stock parked where it does not sell, or a channel starved of what it
would sell."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db.models import Sum
from django.utils import timezone

from channels.models import Channel, ChannelOrderLine, Listing

DIVERGENCE = 0.15
WINDOWS = (30, 90)


@dataclass(frozen=True, slots=True)
class Share:
    channel: Channel
    tier: str
    days: int
    allocated: float  # of the tier's units shown on every channel
    sold: float  # of the tier's units sold on every channel in the window
    units_sold: int

    @property
    def diverges(self) -> bool:
        return abs(self.allocated - self.sold) > DIVERGENCE

    @property
    def gap_points(self) -> int:
        return round((self.allocated - self.sold) * 100)


# Shares over 30 and 90 days move slowly, and reading them adds up every listing: the page
# reuses them for this long.
SHARES_FOR = 300


def cached_shares() -> list[Share]:
    return cache.get_or_set("insight:shares", shares, SHARES_FOR)


def shares(*, now: datetime | None = None) -> list[Share]:
    """Every channel and tier with stock or sales, for each window (the allocated side is
    what the listings show now)."""
    now = now or timezone.now()
    allocated = _by_channel_and_tier(
        Listing.objects.filter(is_active=True)
        .exclude(fulfilment=Listing.Fulfilment.FBA)  # Amazon's own pool, not ours to split
        .values("channel_id", "sku__velocity_tier")
        .annotate(units=Sum("desired_quantity"))
    )
    channels = Channel.objects.in_bulk()
    found = []
    for days in WINDOWS:
        sold = _by_channel_and_tier(
            ChannelOrderLine.objects.filter(order__placed_at__gte=now - timedelta(days=days))
            .values("order__channel_id", "sku__velocity_tier")
            .annotate(units=Sum("quantity")),
            channel="order__channel_id",
        )
        for channel_id, tier in sorted(set(allocated) | set(sold)):
            found.append(
                Share(
                    channel=channels[channel_id],
                    tier=tier,
                    days=days,
                    allocated=_share(allocated, channel_id, tier),
                    sold=_share(sold, channel_id, tier),
                    units_sold=sold.get((channel_id, tier), 0),
                )  # fmt: skip
            )
    return found


def _by_channel_and_tier(rows, channel: str = "channel_id") -> dict[tuple[int, str], int]:
    return {
        (row[channel], row["sku__velocity_tier"]): row["units"] or 0
        for row in rows.order_by()
        if row["sku__velocity_tier"]
    }


def _share(units: dict[tuple[int, str], int], channel_id: int, tier: str) -> float:
    total = sum(value for (_, other), value in units.items() if other == tier)
    return units.get((channel_id, tier), 0) / total if total else 0.0
