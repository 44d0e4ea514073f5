"""What the channels app connects at start-up (AppConfig.ready): the wake-ups that cross the
dependency direction, and each lane's periodic jobs in the beat schedule."""

from __future__ import annotations

from django.conf import settings

from inventory_sync.lib import wakeups
from ledger.services import LEDGER_CHANGED

from .fulfilment import FULFILMENT_CHANGED
from .inbox import INBOUND_CHANGED
from .lanes.registry import periodic_jobs
from .outbox import SHIPMENTS_CHANGED
from .routing import PARTNER_LINES_CHANGED
from .tasks import (
    wake_fulfilment_requests,
    wake_fulfilment_sync,
    wake_ingest,
    wake_planner,
    wake_shipments,
)


def connect() -> None:
    wakeups.listen(LEDGER_CHANGED, wake_planner)
    wakeups.listen(INBOUND_CHANGED, wake_ingest)
    wakeups.listen(PARTNER_LINES_CHANGED, wake_fulfilment_sync)
    wakeups.listen(SHIPMENTS_CHANGED, wake_shipments)
    wakeups.listen(FULFILMENT_CHANGED, wake_fulfilment_requests)
    # An entry of the same name in settings wins over the lane's default schedule.
    schedule = settings.CELERY_BEAT_SCHEDULE
    for job in periodic_jobs():
        schedule.setdefault(job.entry, job.beat_entry())
