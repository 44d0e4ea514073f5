"""The three roles and what each may do.

viewer reads everything; operator also runs the day (stock actions, halts and releases, drift,
returns grading, incidents, quarantine re-apply, order actions); admin also changes the set-up
(channels, credentials, rules, reservation programmes, users). Each edge names the capability
it needs; `can()` is the one answer to "may this user do that".
"""

from __future__ import annotations

from enum import StrEnum


class Capability(StrEnum):
    VIEW = "access.view_console"
    OPERATE = "access.operate"
    ADMINISTER = "access.administer"


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"


ROLE_CAPABILITIES: dict[Role, tuple[Capability, ...]] = {
    Role.VIEWER: (Capability.VIEW,),
    Role.OPERATOR: (Capability.VIEW, Capability.OPERATE),
    Role.ADMIN: (Capability.VIEW, Capability.OPERATE, Capability.ADMINISTER),
}

# The admin role also keeps the Django admin's per-model permissions of every app but these
# (Django's own plumbing, which nobody edits by hand).
NOT_ADMINISTERED_APPS = ("admin", "contenttypes", "sessions")


def can(user, capability: Capability) -> bool:
    """Active, logged in and granted the capability (a superuser has them all)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return user.has_perm(str(capability))


def roles_of(user) -> list[str]:
    return sorted(user.groups.values_list("name", flat=True)) if user.is_authenticated else []


def sync_roles(apps=None) -> None:
    """Give each role group its permissions; the admin role also every model permission of the
    apps outside NOT_ADMINISTERED_APPS. Idempotent: runs in the migration and after every `migrate`, so models
    added later reach the admin role too. `apps` is a migration's app registry, or None."""
    if apps is None:
        from django.apps import apps  # noqa: PLC0415  the live registry, outside migrations
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for role, capabilities in ROLE_CAPABILITIES.items():
        group, _ = group_model.objects.get_or_create(name=role.value)
        codenames = [str(capability).split(".", 1)[1] for capability in capabilities]
        wanted = set(
            permission_model.objects.filter(
                content_type__app_label="access", codename__in=codenames
            )
        )
        if role is Role.ADMIN:
            wanted |= set(
                permission_model.objects.exclude(content_type__app_label__in=NOT_ADMINISTERED_APPS)
            )
        group.permissions.add(*wanted)
