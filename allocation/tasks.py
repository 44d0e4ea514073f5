"""Periodic allocation work run by the worker."""

import logging

from celery import shared_task

from . import services, velocity

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def reservations_expire_task() -> int:
    """End reservations past their expiry. Idempotent; no retry (the next run repeats it).

    A reservation that cannot end is logged and marked by the service; the others still end.
    """
    outcome = services.reservations_expire()
    if outcome.expired or outcome.failed:
        logger.info(
            "reservations: %d expired, %d could not expire (%s)",
            outcome.expired,
            len(outcome.failed),
            ", ".join(f"#{pk}" for pk in outcome.failed) or "none",
        )
    return outcome.expired


@shared_task(ignore_result=True)
def velocity_recompute_task() -> int:
    """Recompute velocity tiers from trailing sales. Idempotent; no retry."""
    outcome = velocity.velocity_recompute()
    logger.info("velocity: %d SKUs, %d tier(s) changed", outcome.skus, outcome.tiers_changed)
    return outcome.tiers_changed
