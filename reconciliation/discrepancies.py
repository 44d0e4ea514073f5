"""Cycle counts that moved a balance by more than the threshold open a discrepancy for a
person to review; shrinkage (stock counted or written off as gone) adds up per location and
quarter.

The ledger never calls up: a scan reads cycle-count events after a watermark.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.db.models.functions import TruncQuarter
from django.utils import timezone

from ledger.models import EventKind, InventoryEvent, LedgerEntry
from ledger.rules import ON_HAND

from . import alerts
from .models import CycleCountDiscrepancy, Watermark
from .resolve import ResolutionError

WATERMARK = "cycle-count-scan"
SCAN_BATCH = 5000


def threshold_percent() -> Decimal:
    return Decimal(str(getattr(settings, "CYCLE_COUNT_DISCREPANCY_PERCENT", 5)))


def scan(*, batch: int = SCAN_BATCH) -> int:
    """Open a discrepancy for each new cycle count beyond the threshold. Returns how many."""
    with transaction.atomic():
        mark, _ = Watermark.objects.select_for_update().get_or_create(name=WATERMARK)
        entries = list(
            LedgerEntry.objects.filter(
                event_id__gt=mark.position, event__kind=EventKind.CYCLE_COUNT, bucket=ON_HAND
            )
            .select_related("sku", "location")
            .order_by("event_id", "id")[:batch]
        )
        opened = []
        limit = threshold_percent()
        for entry in entries:
            if entry.delta == 0:
                continue
            counted = _counted(entry)
            before = counted - entry.delta
            percent = Decimal(100) if before <= 0 else Decimal(abs(entry.delta) * 100) / before
            if percent <= limit:
                continue
            opened.append(
                CycleCountDiscrepancy(
                    event_id=entry.event_id, sku=entry.sku, location=entry.location,
                    before=before, counted=counted, delta=entry.delta,
                    percent=min(percent, Decimal("99999")).quantize(Decimal("0.01")),
                )
            )  # fmt: skip
        CycleCountDiscrepancy.objects.bulk_create(opened, ignore_conflicts=True)
        last = max((e.event_id for e in entries), default=None)
        if last is not None:
            Watermark.objects.filter(pk=mark.pk).update(position=last)
    for item in opened:
        alerts.raise_alert(
            "discrepancy",
            key=f"event:{item.event_id}",
            subject=(
                f"Cycle count of {item.sku.code} at {item.location.code}: {item.before} -> "
                f"{item.counted} ({item.percent}%)"
            ),
            link="/reconciliation/discrepancies/",
        )
    return len(opened)


def _counted(entry: LedgerEntry) -> int:
    """The absolute quantity the count set: the balance after this entry (the event's line)."""
    event = InventoryEvent.objects.only("payload").get(pk=entry.event_id)
    for line in (event.payload or {}).get("lines", []):
        if line.get("sku") == entry.sku.code and line.get("location") == entry.location.code:
            return int(line["quantity"])
    return entry.delta  # a count from zero


def review(item: CycleCountDiscrepancy, *, actor: str, note: str) -> CycleCountDiscrepancy:
    if not note.strip():
        raise ResolutionError("Say what the review found.")
    updated = CycleCountDiscrepancy.objects.filter(pk=item.pk, status="open").update(
        status="reviewed", reviewed_at=timezone.now(), reviewed_by=actor, review_note=note[:500]
    )
    if not updated:
        raise ResolutionError("This discrepancy was reviewed already.")
    item.refresh_from_db()
    return item


@dataclass(frozen=True, slots=True)
class Shrinkage:
    location: str
    quarter: date
    units: int  # units lost (positive): cycle counts below the books, write-offs


def shrinkage_by_quarter() -> list[Shrinkage]:
    rows = (
        LedgerEntry.objects.filter(
            event__kind__in=[EventKind.CYCLE_COUNT, EventKind.WRITE_OFF],
            bucket=ON_HAND,
            delta__lt=0,
        )
        .annotate(quarter=TruncQuarter("event__occurred_at"))
        .values("location__code", "quarter")
        .annotate(units=Sum("delta"))
        .order_by("-quarter", "location__code")
    )
    return [
        Shrinkage(
            location=row["location__code"], quarter=row["quarter"].date(), units=-row["units"]
        )
        for row in rows
    ]
