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
from django.core.cache import cache
from django.db import connection
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
        """Stock under the rate times the lead time (as low_stock asks the database)."""
        stock = max(self.sellable, 0) + self.incoming
        return self.per_day > 0 and stock < self.per_day * self.lead_days

    @property
    def suggested(self) -> int:
        """Units to order now: enough for the lead time and the cover days after it."""
        wanted = self.per_day * (self.lead_days + settings.REORDER_COVER_DAYS)
        return max(math.ceil(wanted) - max(self.sellable, 0) - self.incoming, 0)


def low_stock(*, supplier: str | None = None) -> list[Cover]:
    """What runs out before a new order could arrive, shortest cover first. Worked out in the
    database (stock under rate × lead time, every account's stock summed in one pass): only
    the low rows are read, not every SKU's."""
    found_stock = _low_accounts(supplier)
    rates = LocationVelocity.objects.filter(pk__in=found_stock).select_related("sku", "location")
    found = [
        Cover(
            sku=rate.sku,
            location=rate.location,
            sellable=found_stock[rate.pk][0],
            incoming=found_stock[rate.pk][1],
            per_day=rate.per_day,
        )  # fmt: skip
        for rate in rates
    ]
    return sorted(found, key=lambda cover: (cover.days, cover.sku.code, cover.location.code))


# Rate × lead time against stock: the rate is the higher of the week's and month's, so stock
# under either one × lead is under the rate × lead (the same test as Cover.low). Portable SQL:
# PostgreSQL in production, SQLite in the demo.
LOW_ACCOUNTS = """
WITH stock AS (
    SELECT sku_id, location_id,
           SUM(CASE WHEN bucket = %s THEN quantity
                    WHEN bucket IN (%s, %s, %s) THEN -quantity ELSE 0 END) AS sellable,
           SUM(CASE WHEN bucket = %s THEN quantity ELSE 0 END) AS incoming
    FROM {balance} GROUP BY sku_id, location_id
), accounts AS (
    SELECT rate.id, COALESCE(stock.sellable, 0) AS sellable,
           COALESCE(stock.incoming, 0) AS incoming,
           CASE WHEN COALESCE(stock.sellable, 0) > 0 THEN stock.sellable ELSE 0 END
               + COALESCE(stock.incoming, 0) AS units,
           rate.week_per_day, rate.month_per_day,
           {lead} + CASE WHEN location.kind = %s THEN %s ELSE 0 END AS lead_days
    FROM {rate} rate
    JOIN {sku} sku ON sku.id = rate.sku_id
    JOIN {location} location ON location.id = rate.location_id
    LEFT JOIN stock ON stock.sku_id = rate.sku_id AND stock.location_id = rate.location_id
    WHERE {supplier}
)
SELECT id, sellable, incoming FROM accounts
WHERE units < week_per_day * lead_days OR units < month_per_day * lead_days
"""


def _low_accounts(supplier: str | None) -> dict[int, tuple[int, int]]:
    """Rate id -> (sellable, incoming) of every low account."""
    tiers = settings.REORDER_LEAD_DAYS
    lead = "CASE sku.velocity_tier " + "WHEN %s THEN %s " * len(tiers) + "ELSE 14 END"
    params: list = [Bucket.ON_HAND, *HELD, Bucket.INCOMING]
    params += [value for tier, days in tiers.items() for value in (tier, days)]
    params += [Location.Kind.FBA, settings.FBA_RESTOCK_LAG_DAYS]
    where = "sku.supplier = %s" if supplier is not None else "1 = 1"
    params += [supplier] if supplier is not None else []
    with connection.cursor() as cursor:
        tables = {
            "balance": Balance._meta.db_table,
            "rate": LocationVelocity._meta.db_table,
            "sku": Sku._meta.db_table,
            "location": Location._meta.db_table,
        }
        cursor.execute(LOW_ACCOUNTS.format(lead=lead, supplier=where, **tables), params)
        return {rate_id: (sellable, incoming) for rate_id, sellable, incoming in cursor}


HELD = (Bucket.COMMITTED, Bucket.RESERVED, Bucket.UNSELLABLE)


def stock_by_account(**balances) -> dict[tuple[int, int], dict[str, int]]:
    """(SKU id, location id) -> sellable and incoming units, of the balances named."""
    held = list(HELD)
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


# The page's low stock may be this old (the rates behind it are the hourly velocity job's);
# the CSV export reads it fresh.
LOW_STOCK_FOR = 60


def cached_low_stock() -> list[Cover]:
    return cache.get_or_set("insight:low-stock", low_stock, LOW_STOCK_FOR)


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


def suppliers_of(low: list[Cover]) -> list[tuple[str, int]]:
    """(supplier, low SKU/locations) for the export links, suppliers by name."""
    counts: dict[str, int] = {}
    for cover in low:
        counts[cover.sku.supplier] = counts.get(cover.sku.supplier, 0) + 1
    return sorted(counts.items())
