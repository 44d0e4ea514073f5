"""Reads of the ledger for the console, the API and the checks."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.db.models import F, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from .models import Balance, Bucket, InventoryEvent, LedgerEntry, Location, Sku


def sku_list(*, search: str = "") -> QuerySet[Sku]:
    """SKUs by code with their totals per bucket. Each total is a subquery of the SKU's own
    balances, worked out for the rows of the page alone (a join grouped every balance of the
    catalogue first), and the count a paginator asks for reads the SKUs only."""
    skus = Sku.objects.all()
    if search:
        skus = skus.filter(
            Q(code__icontains=search) | Q(title__icontains=search) | Q(barcode=search)
        )
    totals = {bucket: _bucket_total(bucket) for bucket in BUCKETS_LISTED}
    return (
        skus.annotate(**totals)
        .annotate(available=F("on_hand") - F("committed") - F("reserved") - F("unsellable"))
        .order_by("code")
    )


BUCKETS_LISTED = (Bucket.ON_HAND, Bucket.COMMITTED, Bucket.RESERVED, Bucket.UNSELLABLE,
                  Bucket.INCOMING)  # fmt: skip


def _bucket_total(bucket: str) -> Coalesce:
    summed = (
        Balance.objects.filter(sku=OuterRef("pk"), bucket=bucket)
        .order_by()
        .values("sku")
        .annotate(total=Sum("quantity"))
        .values("total")
    )
    return Coalesce(Subquery(summed, output_field=IntegerField()), 0)


@dataclass(frozen=True)
class LocationBalances:
    location: Location
    quantities: dict[str, int]

    @property
    def available(self) -> int:
        q = self.quantities
        return q["on_hand"] - q["committed"] - q["reserved"] - q["unsellable"]


def sku_balances_by_location(*, sku: Sku) -> list[LocationBalances]:
    """One row per location that ever held the SKU, every bucket filled in (0 when absent)."""
    rows: dict[int, LocationBalances] = {}
    for balance in (
        Balance.objects.filter(sku=sku)
        .select_related("location")
        .order_by("location__code", "bucket")
    ):
        row = rows.get(balance.location_id)
        if row is None:
            row = LocationBalances(
                location=balance.location, quantities=dict.fromkeys(Bucket.values, 0)
            )
            rows[balance.location_id] = row
        row.quantities[balance.bucket] = balance.quantity
    return list(rows.values())


def sku_entries(*, sku: Sku) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(sku=sku).select_related("event", "location").order_by("-id")


def event_list() -> QuerySet[InventoryEvent]:
    return InventoryEvent.objects.prefetch_related("entries__sku", "entries__location").order_by(
        "-id"
    )


def balance_list() -> QuerySet[Balance]:
    return Balance.objects.select_related("sku", "location").order_by(
        "sku__code", "location__code", "bucket"
    )


def ledger_totals() -> dict[str, int]:
    totals = dict.fromkeys(Bucket.values, 0)
    for row in Balance.objects.values("bucket").annotate(total=Sum("quantity")):
        totals[row["bucket"]] = row["total"]
    totals["available"] = (
        totals["on_hand"] - totals["committed"] - totals["reserved"] - totals["unsellable"]
    )
    totals["skus"] = Sku.objects.count()
    totals["locations"] = Location.objects.count()
    # The latest event's number, not a count: counting the ledger reads all of it (65 ms at a
    # million events, growing), the latest id is one index probe. Ids never repeat; a write
    # that rolled back leaves a gap, so the number can run ahead of the count.
    totals["latest_event"] = (
        InventoryEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    )
    totals["dirty_skus"] = Sku.objects.filter(allocation_dirty_since__isnull=False).count()
    return totals


def oversold_accounts(*, limit: int = 20) -> list[dict[str, object]]:
    """SKU/locations whose committed and held units exceed what is on hand (available < 0),
    by SKU code. Grouped by ids in the database, which keeps only the oversold ones; the codes
    are read for those alone (joining every balance to its SKU cost 40 ms at 10,000 SKUs)."""
    rows = list(
        Balance.objects.values("sku_id", "location_id")
        .annotate(
            on_hand=Sum("quantity", filter=Q(bucket=Bucket.ON_HAND), default=0),
            held=Sum(
                "quantity",
                filter=Q(bucket__in=[Bucket.COMMITTED, Bucket.RESERVED, Bucket.UNSELLABLE]),
                default=0,
            ),
        )
        .filter(held__gt=F("on_hand"))
        .order_by()
    )
    skus = Sku.objects.in_bulk({row["sku_id"] for row in rows})
    locations = Location.objects.in_bulk({row["location_id"] for row in rows})
    out = [
        {
            "sku__code": skus[row["sku_id"]].code,
            "location__code": locations[row["location_id"]].code,
            "on_hand": row["on_hand"],
            "held": row["held"],
            "available": row["on_hand"] - row["held"],
        }
        for row in rows
    ]
    out.sort(key=lambda row: (row["sku__code"], row["location__code"]))
    return out[:limit]


@dataclass(frozen=True)
class Mismatch:
    sku: str
    location: str
    bucket: str
    stored: int | None
    from_entries: int


def ledger_mismatches() -> list[Mismatch]:
    """Every balance that differs from the sum of its entries (I2), incl. missing rows."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH sums AS (
                SELECT sku_id, location_id, bucket, SUM(delta) AS total
                FROM ledger_ledgerentry GROUP BY sku_id, location_id, bucket
            )
            SELECT s.code, l.code, x.bucket, x.stored, x.from_entries FROM (
                SELECT COALESCE(b.sku_id, e.sku_id) AS sku_id,
                       COALESCE(b.location_id, e.location_id) AS location_id,
                       COALESCE(b.bucket, e.bucket) AS bucket,
                       b.quantity AS stored, COALESCE(e.total, 0) AS from_entries
                FROM ledger_balance b
                LEFT JOIN sums e ON e.sku_id = b.sku_id AND e.location_id = b.location_id
                    AND e.bucket = b.bucket
                UNION ALL
                SELECT e.sku_id, e.location_id, e.bucket, NULL, e.total
                FROM sums e
                WHERE NOT EXISTS (
                    SELECT 1 FROM ledger_balance b WHERE b.sku_id = e.sku_id
                    AND b.location_id = e.location_id AND b.bucket = e.bucket
                )
            ) x
            JOIN ledger_sku s ON s.id = x.sku_id
            JOIN ledger_location l ON l.id = x.location_id
            WHERE x.stored IS NULL OR x.stored <> x.from_entries
            ORDER BY s.code, l.code, x.bucket
            """
        )
        return [Mismatch(*row) for row in cursor.fetchall()]
