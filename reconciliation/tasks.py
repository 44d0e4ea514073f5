"""Celery entry points of reconciliation: thin wrappers around its services."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from channels.models import Channel

from . import alerts, deadman, discrepancies, order_health_watch, readback, watch
from .models import ReconciliationRun
from .runs import read_phase, start_run, unexpected_sku_codes
from .services import confirm_due_runs, confirm_phase

logger = logging.getLogger(__name__)

# One run at a time per scope: a slow run is not doubled by the next schedule.
RUN_LOCK_SECONDS = 15 * 60
# Level reports are gathered this long before one run looks at them all.
SIGNAL_DEBOUNCE_SECONDS = 10


def wake_read_back() -> None:
    """A push was acknowledged: read it back within READ_BACK_SECONDS, together with every
    other push acknowledged meanwhile (one bulk read per channel, not one per push: the
    read spends the same budget the pushes do)."""
    every = read_back_seconds()
    if cache.add("inventory-sync:read-back:pending", 1, timeout=every):
        read_back_task.apply_async(countdown=every)


def read_back_seconds() -> float:
    return float(getattr(settings, "READ_BACK_SECONDS", 5))


@shared_task(ignore_result=True)
def read_back_task() -> int:
    return readback.read_back_all()


def look_at_unexpected_levels() -> None:
    """A channel reported a level we did not expect: reconcile those SKUs soon (at most one
    such run per short while, however many reports a storm brings)."""
    if cache.add("inventory-sync:reconcile-unexpected", 1, timeout=SIGNAL_DEBOUNCE_SECONDS):
        reconcile_unexpected_task.apply_async(countdown=SIGNAL_DEBOUNCE_SECONDS)


@shared_task(ignore_result=True)
def reconcile_unexpected_task() -> int | None:
    codes = unexpected_sku_codes(now=timezone.now())
    if not codes:
        return None
    return reconcile_task(trigger=ReconciliationRun.Trigger.SIGNAL, sku_codes=codes)


@shared_task(ignore_result=True)
def reconcile_task(
    trigger: str = "schedule",
    channel_id: int | None = None,
    sku_codes: list[str] | None = None,
    velocity_tier: str = "",
    requested_by: str = "",
    run_id: int | None = None,
) -> int | None:
    """Read phase now; the confirm phase is scheduled for the end of the grace window.
    `run_id`: a run someone already created (the console shows its progress at once)."""
    key = f"inventory-sync:reconcile:{channel_id}:{velocity_tier}:{','.join(sku_codes or [])}"
    if run_id is None and not cache.add(key, 1, timeout=RUN_LOCK_SECONDS):
        logger.info("reconciliation %s skipped: the previous one is still running", key)
        return None
    run = None
    try:
        run = ReconciliationRun.objects.filter(pk=run_id).first() if run_id else None
        run = run or start_run(
            trigger=trigger,
            channel=Channel.objects.filter(pk=channel_id).first() if channel_id else None,
            sku_codes=sku_codes or (),
            velocity_tier=velocity_tier,
            requested_by=requested_by,
        )
        run = read_phase(run)
    except Exception as error:
        if run is not None:
            ReconciliationRun.objects.filter(pk=run.pk).update(
                status=ReconciliationRun.Status.FAILED, error=str(error)[:2000]
            )
        raise
    finally:
        if run_id is None:
            cache.delete(key)
    confirm_run_task.apply_async((run.pk,), eta=run.confirm_after)
    return run.pk


@shared_task(ignore_result=True)
def confirm_run_task(run_id: int) -> None:
    run = ReconciliationRun.objects.filter(pk=run_id).first()
    if run is not None:
        confirm_phase(run)


@shared_task(ignore_result=True)
def confirm_due_runs_task() -> int:
    return confirm_due_runs()


@shared_task(ignore_result=True)
def dead_man_check_task() -> int:
    return len(deadman.check())


@shared_task(ignore_result=True)
def send_alerts_task() -> int:
    watch.collect()
    return alerts.send_pending()


@shared_task(ignore_result=True)
def order_health_check_task() -> int:
    """Hourly: alert on marketplace channels near an account-health bar. No retry: the next
    hour looks again, and an alert already raised today is not raised twice."""
    return order_health_watch.check()


@shared_task(ignore_result=True)
def cycle_count_scan_task() -> int:
    return discrepancies.scan()
