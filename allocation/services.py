"""Writes to allocation settings. Each one marks the SKUs it affects dirty, so the planner
recomputes their listings in the next round (design I5)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from inventory_sync.lib import wakeups
from ledger.models import Sku
from ledger.services import LEDGER_CHANGED

from .models import SalesHalt


def skus_mark_dirty(*, sku_ids: Iterable[int] | None = None) -> int:
    """Mark SKUs for recomputation (all SKUs when `sku_ids` is None); wakes the planner.

    Idempotent. Takes no explicit lock: the UPDATE locks each row briefly, and a SKU already
    dirty keeps its older timestamp (it has waited longest).
    """
    skus = Sku.objects.filter(allocation_dirty_since__isnull=True)
    if sku_ids is not None:
        skus = skus.filter(pk__in=list(sku_ids))
    marked = skus.update(allocation_dirty_since=timezone.now())
    wakeups.notify_on_commit(LEDGER_CHANGED)
    return marked


@transaction.atomic
def halt_create(*, sku: Sku, channel_id: int | None, reason: str, actor: str) -> SalesHalt:
    """Force a SKU to 0 everywhere (channel_id None) or on one channel, until released."""
    halt = SalesHalt.objects.create(sku=sku, channel_id=channel_id, reason=reason, created_by=actor)
    skus_mark_dirty(sku_ids=[sku.pk])
    return halt


@transaction.atomic
def halt_release(*, halt: SalesHalt, actor: str) -> SalesHalt:
    """Release a halt (a person's decision); idempotent: releasing twice keeps the first."""
    updated = SalesHalt.objects.filter(pk=halt.pk, released_at__isnull=True).update(
        released_at=timezone.now(), released_by=actor
    )
    if updated:
        skus_mark_dirty(sku_ids=[halt.sku_id])
    halt.refresh_from_db()
    return halt
