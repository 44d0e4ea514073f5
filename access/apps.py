from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


def _sync_roles(sender, **kwargs) -> None:
    # Once per migrate, after the last app's permissions exist (post_migrate is sent app by
    # app, in INSTALLED_APPS order, to the apps that have models).
    last = [config for config in apps.get_app_configs() if config.models_module][-1]
    if sender is not last:
        return
    # roles imports models, which cannot load before the app registry is ready.
    from .roles import sync_roles

    sync_roles()


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Access and audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # After every app's migrations (not only ours, which run before the apps whose
        # permissions the admin role holds), so models added later reach the admin role too.
        post_migrate.connect(_sync_roles, dispatch_uid="access.sync_roles")
