"""The Amazon lane's periodic jobs: FBA counts, the fulfilment check and returns reports.

Task names are the ones beat schedules and django-celery-beat rows already carry (they were
defined in channels.tasks), so a running installation keeps its schedule across the move.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.schedules import crontab

from channels.lanes.base import PeriodicJob
from channels.models import Channel

from .fba import sync_fba_inventory
from .mapping import check_fulfilment
from .returns import sync_fba_returns, sync_merchant_returns

logger = logging.getLogger(__name__)


def _live_channels():
    return Channel.objects.filter(kind=Channel.Kind.AMAZON, mode=Channel.Mode.LIVE).order_by("id")


@shared_task(name="channels.tasks.sync_fba_inventory_task", ignore_result=True)
def sync_fba_inventory_task() -> int:
    """Read every live Amazon channel's FBA inventory summaries into its region's pool (the
    periodic authority behind FBA availability notifications, which Amazon may drop).

    Idempotent: a summary already applied records nothing new (channels.lanes.amazon.fba
    keys each snapshot by Amazon's update time and quantities). No retry: the next run (every
    15 minutes) reads everything again. Returns the number of summaries applied.
    """
    applied = 0
    for channel in _live_channels():
        try:
            outcome = sync_fba_inventory(channel)
        except Exception:  # one channel's outage must not stop the others' syncs
            logger.exception("channel %s: FBA inventory sync failed", channel.code)
            continue
        applied += outcome.applied
        if outcome.unmapped:
            logger.warning(
                "channel %s: FBA stock of unmapped seller SKU(s) %s",
                channel.code,
                ", ".join(outcome.unmapped[:20]),
            )
    return applied


@shared_task(name="channels.tasks.check_amazon_fulfilment_task", ignore_result=True)
def check_amazon_fulfilment_task() -> int:
    """Read every live Amazon channel's listings and take Amazon's word for each mapped
    listing's fulfilment: a merchant quantity sent to an offer switched to FBA in Seller
    Central would switch it back and strand its FBA stock. Hourly; creates no listing (that
    stays the mapping import's, run by a person). Returns the listings corrected."""
    corrected = 0
    for channel in _live_channels():
        try:
            corrected += len(check_fulfilment(channel))
        except Exception:  # one channel's outage must not stop the others' checks
            logger.exception("channel %s: fulfilment check failed", channel.code)
    return corrected


@shared_task(name="channels.tasks.sync_fba_returns_task", ignore_result=True)
def sync_fba_returns_task() -> int:
    """Read every live Amazon channel's customer returns since the last read (daily: Amazon
    refreshes the reports about once a day): merchant-fulfilled requests into the grading
    queue, FBA returns by disposition. Returns are recorded once each (by license plate),
    so an overlapping or repeated read records nothing new."""
    recorded = 0
    for channel in _live_channels():
        # Merchant-fulfilled requests first: the FBA read moves the shared watermark.
        for sync in (sync_merchant_returns, sync_fba_returns):
            try:
                recorded += sync(channel).recorded
            except Exception:  # one channel's outage must not stop the others
                logger.exception("channel %s: %s failed", channel.code, sync.__name__)
    return recorded


JOBS = (
    # Amazon's FBA customer returns report (refreshed by Amazon about daily).
    PeriodicJob(
        "channels-sync-fba-returns",
        sync_fba_returns_task.name,
        crontab(minute=20, hour=5),
        6 * 3600,
    ),
    # Amazon's FBA counts, read in full (notifications carry the changes in between).
    PeriodicJob("channels-sync-fba", sync_fba_inventory_task.name, crontab(minute="*/15"), 10 * 60),
    # Amazon's word on each mapped listing's fulfilment (an offer switched to FBA in Seller
    # Central must stop getting merchant quantities within the hour).
    PeriodicJob(
        "channels-check-amazon-fulfilment",
        check_amazon_fulfilment_task.name,
        crontab(minute=40),
        50 * 60,
    ),
)
