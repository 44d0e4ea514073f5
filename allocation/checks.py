"""Allocation's part of verify_ledger: every reserved bucket holds exactly its reservations.

Imported by AppConfig.ready() before models may be imported, so the check is one SQL
statement over the tables (one statement also sees one snapshot: a hold made meanwhile cannot
show up in one side only).
"""

from __future__ import annotations

from django.db import connection

from ledger.checks import Disagreement, LedgerCheck

# FBA pools are left out: Amazon's snapshots set their reserved units (its own count of units
# held for orders and transfers), and reservation_create refuses them.
_RESERVED_VS_RESERVATIONS = """
    SELECT s.code, l.code, x.reserved, x.held FROM (
        SELECT sku_id, location_id, SUM(reserved) AS reserved, SUM(held) AS held FROM (
            SELECT sku_id, location_id, quantity AS reserved, 0 AS held
            FROM ledger_balance WHERE bucket = 'reserved'
            UNION ALL
            SELECT sku_id, location_id, 0, quantity
            FROM allocation_reservation WHERE status = 'active'
        ) both_sides
        GROUP BY sku_id, location_id
    ) x
    JOIN ledger_sku s ON s.id = x.sku_id
    JOIN ledger_location l ON l.id = x.location_id
    WHERE x.reserved <> x.held AND l.kind <> 'fba'
    ORDER BY s.code, l.code
"""


def reserved_bucket_disagreements() -> list[Disagreement]:
    """Every non-FBA SKU/location whose reserved bucket differs from its active reservations."""
    with connection.cursor() as cursor:
        cursor.execute(_RESERVED_VS_RESERVATIONS)
        return [Disagreement(*row) for row in cursor.fetchall()]


RESERVATIONS_CHECK = LedgerCheck(
    name="reservations",
    proves="every reserved bucket equals the sum of its active reservations",
    fails="reserved bucket(s) differ from the sum of their active reservations",
    ledger_column="RESERVED",
    records_column="RESERVATIONS",
    find=reserved_bucket_disagreements,
)
