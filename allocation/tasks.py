"""Periodic allocation work run by the worker."""

import logging

from celery import shared_task

from . import services, velocity

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def reservations_expire_task() -> int:
    """End reservations past their expiry. Idempotent; no retry (the next run repeats it)."""
    return services.reservations_expire()


@shared_task(ignore_result=True)
def velocity_recompute_task() -> int:
    """Recompute velocity tiers from trailing sales. Idempotent; no retry."""
    outcome = velocity.velocity_recompute()
    logger.info("velocity: %d SKUs, %d tier(s) changed", outcome.skus, outcome.tiers_changed)
    return outcome.tiers_changed
