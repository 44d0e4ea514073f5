"""Days of cover, low stock and reorder suggestions, per SKU and location.

Days of cover = (sellable + incoming) / units sold per day, the rate being the higher of the
last week's and month's (allocation.velocity stores them per location; this reads no ledger
entry). A SKU is low when its cover is shorter than its lead time: the tier's days from order
to shelf (settings.REORDER_LEAD_DAYS), plus Amazon's receiving time for an FBA pool. The
suggested order brings it to the lead time plus REORDER_COVER_DAYS of sales.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db.models import Q, Sum

from allocation.models import LocationVelocity
from ledger.models import Balance, Bucket, Location, Sku


@dataclass(frozen=True, slots=True)
class Cover:
    sku: Sku
    location: Location
    sellable: int  # on hand less committed, reserved and unsellable
    incoming: int
    per_day: Decimal

    @property
    def days(self) -> Decimal | None:
        """None: nothing sells here, the stock covers forever."""
        if self.per_day <= 0:
            return None
        return (Decimal(max(self.sellable, 0) + self.incoming) / self.per_day).quantize(
            Decimal("0.1")
        )

    @property
    def lead_days(self) -> int:
        lead = settings.REORDER_LEAD_DAYS.get(self.sku.velocity_tier, 14)
        if self.location.kind == Location.Kind.FBA:
            lead += settings.FBA_RESTOCK_LAG_DAYS
        return lead

    @property
    def low(self) -> bool:
        return self.days is not None and self.days < self.lead_days

    @property
    def suggested(self) -> int:
        """Units to order now: enough for the lead time and the cover days after it."""
        wanted = self.per_day * (self.lead_days + settings.REORDER_COVER_DAYS)
        return max(math.ceil(wanted) - max(self.sellable, 0) - self.incoming, 0)


def covers(*, sku_ids=None, supplier: str | None = None) -> list[Cover]:
    """Every SKU/location that sells, with its stock and rate (three queries)."""
    rates = LocationVelocity.objects.select_related("sku", "location")
    if sku_ids is not None:
        rates = rates.filter(sku_id__in=sku_ids)
    if supplier is not None:
        rates = rates.filter(sku__supplier=supplier)
    rates = list(rates)
    stock = stock_by_account(sku_id__in={rate.sku_id for rate in rates})
    return [
        Cover(
            sku=rate.sku,
            location=rate.location,
            sellable=stock.get((rate.sku_id, rate.location_id), {}).get("sellable", 0),
            incoming=stock.get((rate.sku_id, rate.location_id), {}).get("incoming", 0),
            per_day=rate.per_day,
        )
        for rate in rates
        if rate.per_day > 0
    ]


def stock_by_account(**balances) -> dict[tuple[int, int], dict[str, int]]:
    """(SKU id, location id) -> sellable and incoming units, of the balances named."""
    held = [Bucket.COMMITTED, Bucket.RESERVED, Bucket.UNSELLABLE]
    rows = (
        Balance.objects.filter(**balances)
        .values("sku_id", "location_id")
        .annotate(
            on_hand=Sum("quantity", filter=Q(bucket=Bucket.ON_HAND), default=0),
            held=Sum("quantity", filter=Q(bucket__in=held), default=0),
            incoming=Sum("quantity", filter=Q(bucket=Bucket.INCOMING), default=0),
        )
        .order_by()
    )
    return {
        (row["sku_id"], row["location_id"]): {
            "sellable": row["on_hand"] - row["held"],
            "incoming": row["incoming"],
        }
        for row in rows
    }


def low_stock(*, supplier: str | None = None) -> list[Cover]:
    """What runs out before a new order could arrive, shortest cover first."""
    found = [cover for cover in covers(supplier=supplier) if cover.low]
    return sorted(found, key=lambda cover: (cover.days, cover.sku.code, cover.location.code))


REORDER_COLUMNS = [
    "supplier", "sku", "title", "barcode", "location", "sellable", "incoming",
    "units_per_day", "days_of_cover", "lead_days", "suggested_quantity",
]  # fmt: skip


def reorder_rows(supplier: str) -> list[list[str]]:
    """A draft purchase order for one supplier ("" for SKUs without one): the low SKUs and
    how many to order, one line per SKU and location."""
    return [
        [
            supplier,
            cover.sku.code,
            cover.sku.title,
            cover.sku.barcode,
            cover.location.code,
            str(cover.sellable),
            str(cover.incoming),
            str(cover.per_day),
            str(cover.days),
            str(cover.lead_days),
            str(cover.suggested),
        ]  # fmt: skip
        for cover in low_stock(supplier=supplier)
        if cover.suggested > 0
    ]


def suppliers_with_low_stock() -> list[tuple[str, int]]:
    """(supplier, low SKU/locations) for the export links, suppliers by name."""
    counts: dict[str, int] = {}
    for cover in low_stock():
        counts[cover.sku.supplier] = counts.get(cover.sku.supplier, 0) + 1
    return sorted(counts.items())
