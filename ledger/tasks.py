"""Periodic ledger checks run by the worker."""

import logging

from celery import shared_task

from . import selectors
from .checks import registered_checks

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def ledger_verify_task() -> int:
    """Check I2 (every balance equals the sum of its entries) and the checks other apps
    registered (ledger.checks), and log any mismatch; returns how many there are.

    Read-only, so safe to run any number of times; no retry (the next run repeats it).
    """
    mismatches = selectors.ledger_mismatches()
    for mismatch in mismatches:
        logger.error("ledger mismatch: %s", mismatch)
    if not mismatches:
        logger.info("ledger verified: every balance equals the sum of its entries")
    found = len(mismatches)
    for check in registered_checks():
        disagreements = check.find()
        for disagreement in disagreements:
            logger.error("ledger check %s: %s", check.name, disagreement)
        if not disagreements:
            logger.info("ledger verified: %s", check.proves)
        found += len(disagreements)
    return found
