from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "channels"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings

        from inventory_sync.lib import wakeups
        from ledger.services import LEDGER_CHANGED

        from .inbox import INBOUND_CHANGED
        from .lanes.registry import periodic_jobs
        from .tasks import wake_ingest, wake_planner

        wakeups.listen(LEDGER_CHANGED, wake_planner)
        wakeups.listen(INBOUND_CHANGED, wake_ingest)
        # Each lane's periodic jobs join the beat schedule (an entry in settings wins).
        schedule = settings.CELERY_BEAT_SCHEDULE
        for job in periodic_jobs():
            schedule.setdefault(job.entry, job.beat_entry())
