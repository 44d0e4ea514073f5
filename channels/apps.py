from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "channels"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Local: the wiring imports models and tasks, which need the app registry ready.
        from .wiring import connect

        connect()
