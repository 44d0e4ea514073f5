from django.apps import AppConfig

from ledger.checks import register_check

from .checks import RESERVATIONS_CHECK


class AllocationConfig(AppConfig):
    name = "allocation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # verify_ledger proves the reserved buckets against our reservations.
        register_check(RESERVATIONS_CHECK)
