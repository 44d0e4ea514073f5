"""The admin keeps Django's model permissions; every change made there is also signed in the
audit trail with the row before and after. Every ModelAdmin of the project derives from
`AuditedAdmin` (tests/access/test_url_walk.py checks it), or changes nothing."""

from __future__ import annotations

from django.contrib import admin

from inventory_sync.lib.admin import ReadOnlyAdmin

from . import audit
from .models import AuditEntry
from .roles import Capability, can


class RoleActions:
    """Admin actions that change state name the role capability they need, like the console:
    `@admin.action(permissions=["operate"])` (halts, incidents, quarantine) or
    `permissions=["administer"]` (set-up). Without one, anyone who may view the list runs it."""

    def has_operate_permission(self, request) -> bool:
        return can(request.user, Capability.OPERATE)

    def has_administer_permission(self, request) -> bool:
        return can(request.user, Capability.ADMINISTER)


class AuditedAdmin(RoleActions, admin.ModelAdmin):
    def save_model(self, request, obj, form, change) -> None:
        before = audit.snapshot(type(obj).objects.filter(pk=obj.pk).first()) if change else None
        super().save_model(request, obj, form, change)
        after = audit.snapshot(obj)
        if change and not form.changed_data and after == before:
            return  # saved as it was: nothing to sign (a redacted secret shows in changed_data)
        verb = "change" if change else "add"
        audit.record(
            request,
            f"{obj._meta.model_name}.{verb}",
            obj,
            before=before,
            after=after,
            reason=", ".join(form.changed_data) if change else "",
        )

    def save_related(self, request, form, formsets, change) -> None:
        before = audit.snapshot(form.instance) if change else None
        super().save_related(request, form, formsets, change)
        if form.instance.pk and before is not None and before != audit.snapshot(form.instance):
            audit.record(
                request,
                f"{form.instance._meta.model_name}.change_related",
                form.instance,
                before=before,
                after=audit.snapshot(form.instance),
            )

    def delete_model(self, request, obj) -> None:
        before = audit.snapshot(obj)
        label, pk, text = obj._meta.label_lower, obj.pk, str(obj)
        super().delete_model(request, obj)
        audit.record(
            request,
            f"{obj._meta.model_name}.delete",
            target_type=label,
            target_id=pk,
            target_repr=text,
            before=before,
        )

    def delete_queryset(self, request, queryset) -> None:
        gone = [(obj._meta.label_lower, obj.pk, str(obj), audit.snapshot(obj)) for obj in queryset]
        super().delete_queryset(request, queryset)
        for label, pk, text, before in gone:
            audit.record(
                request,
                f"{label.split('.')[1]}.delete",
                target_type=label,
                target_id=pk,
                target_repr=text,
                before=before,
            )


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor", "via", "action", "target_repr", "reason")
    list_filter = ("via", "action")
    search_fields = ("actor", "action", "target_repr", "target_id", "reason")
    date_hierarchy = "at"


# Apps of others whose admin pages change state: users, groups, API tokens, the beat
# schedules and login lockouts. They registered before this module loads (INSTALLED_APPS order); each is
# registered again with the same admin class, signed.
THIRD_PARTY_APPS = ("auth", "authtoken", "django_celery_beat", "axes")


def sign_third_party_admins(site: admin.AdminSite = admin.site) -> None:
    for model, model_admin in list(site._registry.items()):
        if model._meta.app_label not in THIRD_PARTY_APPS or isinstance(model_admin, AuditedAdmin):
            continue
        base = type(model_admin)
        signed = type(f"Audited{base.__name__}", (AuditedAdmin, base), {"__module__": __name__})
        site.unregister(model)
        site.register(model, signed)


sign_third_party_admins()
