from django.apps import AppConfig


class ReconciliationConfig(AppConfig):
    name = "reconciliation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The wiring needs the app registry (it imports models through the tasks).
        from .wiring import connect

        connect()
