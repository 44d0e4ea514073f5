"""Celery entry points of the channels app."""

from __future__ import annotations

import logging
import time

from celery import shared_task
from django.core.cache import cache

from . import planner

logger = logging.getLogger(__name__)

# Set while a planner run is queued and not yet started: wake-ups in between add nothing.
PLANNER_PENDING_KEY = "channels:planner:pending"
PLANNER_TIME_BUDGET_SECONDS = 20


def wake_planner() -> None:
    """Queue one planner run unless one is already queued (called after ledger commits).

    At most one run is pending at a time, however many events commit: the planner takes every
    dirty SKU anyway, so one task per burst, not one per event.
    """
    if cache.add(PLANNER_PENDING_KEY, 1, timeout=60):
        plan_allocations_task.delay()


@shared_task(ignore_result=True)
def plan_allocations_task() -> int:
    """Recompute listings of dirty SKUs until none is left (or the time budget is spent).

    Idempotent: recomputing a clean SKU writes nothing. No retry: the periodic sweep runs it
    again, and the dirty flags are the durable record of what is still to do.
    """
    # Clear the pending mark before looking: a write committed from now on queues a new run.
    cache.delete(PLANNER_PENDING_KEY)
    started = time.monotonic()
    done = 0
    while time.monotonic() - started < PLANNER_TIME_BUDGET_SECONDS:
        outcome = planner.plan_dirty_skus()
        done += outcome.skus
        if outcome.skus < planner.BATCH_SIZE:
            break
    if done:
        logger.info("planner: %d SKU(s) recomputed", done)
    return done
