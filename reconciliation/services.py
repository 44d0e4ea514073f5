"""Reconciliation's entry points for tasks, commands, views and the API."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import timedelta

from django.utils import timezone

from channels.lanes.registry import lane_for
from channels.models import Channel

from . import resolve
from .confirm import confirm_phase
from .models import ReconciliationRun
from .runs import LaneFactory, Progress, read_phase, start_run

__all__ = ["confirm_due_runs", "confirm_phase", "read_phase", "reconcile", "start_run"]


def reconcile(
    *,
    trigger: str = ReconciliationRun.Trigger.MANUAL,
    channel: Channel | None = None,
    sku_codes: Sequence[str] = (),
    velocity_tier: str = "",
    requested_by: str = "",
    progress: Progress | None = None,
    wait: Callable[[float], None] = time.sleep,
    lanes: LaneFactory = lane_for,
) -> ReconciliationRun:
    """A whole run in this process: read, wait out the grace window, confirm."""
    run = start_run(
        trigger=trigger,
        channel=channel,
        sku_codes=sku_codes,
        velocity_tier=velocity_tier,
        requested_by=requested_by,
    )
    run = read_phase(run, progress=progress, lanes=lanes)
    if run.suspects and run.confirm_after:
        remaining = (run.confirm_after - timezone.now()).total_seconds()
        if remaining > 0:
            if progress:
                progress(f"waiting {remaining:.0f} s for orders on their way before confirming")
            wait(remaining)
    return confirm_phase(run, progress=progress, lanes=lanes)


# A run still reading after this long lost its worker: it is marked failed.
LOST_RUN_AFTER = timedelta(hours=1)


def confirm_due_runs() -> int:
    """Confirm every run whose grace window has passed (the safety net behind the task
    scheduled for it), and fail runs whose worker was lost. Returns how many were confirmed."""
    ReconciliationRun.objects.filter(
        status=ReconciliationRun.Status.READING, started_at__lt=timezone.now() - LOST_RUN_AFTER
    ).update(
        status=ReconciliationRun.Status.FAILED,
        finished_at=timezone.now(),
        error="never finished reading: its worker was lost",
    )
    # A confirm whose worker died: confirmed again.
    ReconciliationRun.objects.filter(
        status=ReconciliationRun.Status.CONFIRMING,
        confirm_after__lt=timezone.now() - LOST_RUN_AFTER,
    ).update(status=ReconciliationRun.Status.WAITING)
    resolve.settle_released_halts()
    due = ReconciliationRun.objects.filter(
        status=ReconciliationRun.Status.WAITING, confirm_after__lte=timezone.now()
    ).order_by("id")
    done = 0
    for run in due:
        if confirm_phase(run).status == ReconciliationRun.Status.DONE:
            done += 1
    return done
