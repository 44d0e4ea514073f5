"""Velocity tiers from trailing sales: hero, core, tail, slow.

A tier sets the default marketplace buffer (allocation.rules.TIER_BUFFER_PERCENT) and, later,
how often reconciliation reads a SKU back. Explicit rules override the tier default.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from ledger.models import LedgerEntry, Sku

from . import services
from .models import LocationVelocity, SkuPolicy

# Units per day, lower bounds, highest first.
TIER_THRESHOLDS = (("hero", 100), ("core", 20), ("tail", 5), ("slow", 0))


def tier_for(units_per_day: Decimal) -> str:
    for tier, lower in TIER_THRESHOLDS:
        if units_per_day >= lower:
            return tier
    return "slow"


@dataclass
class VelocityOutcome:
    skus: int = 0
    tiers_changed: int = 0


def velocity_recompute(*, now: datetime | None = None) -> VelocityOutcome:
    """Recompute every SKU's trailing 7- and 30-day sales per day and its tier.

    The tier follows the 7-day rate (a launch or a flash sale shows within a week); the rate
    also feeds auto ring-fencing through the SKU's policy. SKUs whose tier changed are marked
    for the planner. Idempotent for a given `now`.
    """
    now = now or timezone.now()
    by_location = _sales_by_location(now)
    sold: dict[int, dict[str, int]] = {}
    for (sku_id, _), units in by_location.items():
        totals = sold.setdefault(sku_id, {"week": 0, "month": 0})
        totals["week"] += units["week"]
        totals["month"] += units["month"]
    outcome = VelocityOutcome()
    changed: list[int] = []
    with transaction.atomic():
        for sku_id, tier in Sku.objects.values_list("id", "velocity_tier"):
            per_day = Decimal(sold.get(sku_id, {}).get("week", 0)) / 7
            new_tier = tier_for(per_day)
            outcome.skus += 1
            if new_tier != tier:
                changed.append(sku_id)
                Sku.objects.filter(pk=sku_id).update(velocity_tier=new_tier)
            if sku_id in sold:
                SkuPolicy.objects.update_or_create(
                    sku_id=sku_id, defaults={"velocity_per_day": per_day.quantize(Decimal("0.01"))}
                )
        _store_location_rates(by_location, now)
        if changed:
            services.skus_mark_dirty(sku_ids=changed)
    outcome.tiers_changed = len(changed)
    return outcome


def _sales_by_location(now: datetime) -> dict[tuple[int, int], dict[str, int]]:
    """(SKU id, location id) -> units sold in the last 7 and 30 days (committed by sales)."""
    week, month = now - timedelta(days=7), now - timedelta(days=30)
    rows = (
        LedgerEntry.objects.filter(
            bucket="committed", delta__gt=0, event__kind="sale", event__occurred_at__gte=month
        )
        .values("sku_id", "location_id")
        .annotate(
            week=Sum("delta", filter=Q(event__occurred_at__gte=week), default=0),
            month=Sum("delta", default=0),
        )
        .order_by()
    )
    return {(row["sku_id"], row["location_id"]): row for row in rows}


def _store_location_rates(by_location: dict, now: datetime) -> None:
    """Replace every location's rates with this run's (a SKU that stopped selling drops out)."""
    LocationVelocity.objects.all().delete()
    LocationVelocity.objects.bulk_create(
        (
            LocationVelocity(
                sku_id=sku_id,
                location_id=location_id,
                week_per_day=(Decimal(units["week"]) / 7).quantize(CENT),
                month_per_day=(Decimal(units["month"]) / 30).quantize(CENT),
                computed_at=now,
            )
            for (sku_id, location_id), units in by_location.items()
        ),
        batch_size=2000,
    )


CENT = Decimal("0.01")
