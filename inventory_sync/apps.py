from django.apps import AppConfig

from inventory_sync import checks  # noqa: F401  (registers the key checks)


class InventorySyncConfig(AppConfig):
    """The project package as an app only to host process-wiring commands (demo) and the
    system checks of its settings."""

    name = "inventory_sync"
    verbose_name = "inventory-sync"
