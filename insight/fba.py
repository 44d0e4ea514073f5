"""FBA health: what sits in Amazon's pools too long, what Amazon cannot sell, and what it
holds with no active offer of ours (stranded)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from allocation.models import LocationVelocity
from channels.models import FbaCount, Listing
from ledger.models import Location, Sku

from .cover import stock_by_account


@dataclass(frozen=True, slots=True)
class PoolStock:
    sku: Sku
    location: Location
    sellable: int
    unfulfillable: int
    per_day: Decimal
    listed: bool  # an active FBA offer of ours sells it

    @property
    def days(self) -> Decimal | None:
        if self.per_day <= 0:
            return None
        return (Decimal(max(self.sellable, 0)) / self.per_day).quantize(Decimal("0.1"))

    @property
    def slow(self) -> bool:
        """More than FBA_SLOW_COVER_DAYS of sales in the pool (or stock that never sells)."""
        if self.sellable <= 0:
            return False
        return self.days is None or self.days > settings.FBA_SLOW_COVER_DAYS

    @property
    def stranded(self) -> bool:
        return self.sellable > 0 and not self.listed

    @property
    def needs_a_look(self) -> bool:
        return self.slow or self.stranded or self.unfulfillable > 0


def pool_stock() -> list[PoolStock]:
    """Every SKU in an FBA pool that needs a look, worst first (a handful of queries)."""
    pools = Location.objects.filter(kind=Location.Kind.FBA).in_bulk()
    if not pools:
        return []
    stock = {
        account: units["sellable"]
        for account, units in stock_by_account(location__in=pools).items()
    }
    unfulfillable = {
        (sku_id, location_id): units
        for sku_id, location_id, units in FbaCount.objects.filter(location__in=pools).values_list(
            "sku_id", "location_id", "unfulfillable"
        )
    }
    rates = {
        (rate.sku_id, rate.location_id): rate.per_day
        for rate in LocationVelocity.objects.filter(location__in=pools)
    }
    keys = set(stock) | {key for key, units in unfulfillable.items() if units}
    skus = Sku.objects.in_bulk({sku_id for sku_id, _ in keys})
    listed = set(
        Listing.objects.filter(
            sku_id__in=skus, fulfilment=Listing.Fulfilment.FBA, is_active=True
        ).values_list("sku_id", flat=True)
    )
    rows = [
        PoolStock(
            sku=skus[sku_id],
            location=pools[location_id],
            sellable=stock.get((sku_id, location_id), 0),
            unfulfillable=unfulfillable.get((sku_id, location_id), 0),
            per_day=rates.get((sku_id, location_id), Decimal(0)),
            listed=sku_id in listed,
        )  # fmt: skip
        for sku_id, location_id in keys
    ]
    found = [row for row in rows if row.needs_a_look]
    return sorted(found, key=lambda row: (not row.stranded, -row.sellable, row.sku.code))
