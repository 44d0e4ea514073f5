from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles(sender, **kwargs) -> None:
    # roles imports models, which cannot load before the app registry is ready.
    from .roles import sync_roles

    sync_roles()


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Access and audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Models added by later migrations reach the admin role without a migration of ours.
        post_migrate.connect(_sync_roles, sender=self, dispatch_uid="access.sync_roles")
