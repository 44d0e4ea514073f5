"""Periodic ledger checks run by the worker."""

import logging

from celery import shared_task

from . import selectors

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def ledger_verify_task() -> int:
    """Check I2 (every balance equals the sum of its entries) and log any mismatch.

    Read-only, so safe to run any number of times; no retry (the next run repeats it).
    """
    mismatches = selectors.ledger_mismatches()
    for mismatch in mismatches:
        logger.error("ledger mismatch: %s", mismatch)
    if not mismatches:
        logger.info("ledger verified: every balance equals the sum of its entries")
    return len(mismatches)
