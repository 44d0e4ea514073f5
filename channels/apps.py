from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "channels"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from inventory_sync.lib import wakeups
        from ledger.services import LEDGER_CHANGED

        from .tasks import wake_planner

        wakeups.listen(LEDGER_CHANGED, wake_planner)
