from django.apps import AppConfig


class InventorySyncConfig(AppConfig):
    """The project package as an app only to host process-wiring commands (demo)."""

    name = "inventory_sync"
    verbose_name = "inventory-sync"
