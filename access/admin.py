"""The admin keeps Django's model permissions; every change made there is also signed in the
audit trail with the row before and after. Every ModelAdmin of the project derives from
`AuditedAdmin` (tests/access/test_url_walk.py checks it), or changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db import transaction

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
            # The admin asks no reason; say at least what the person changed.
            reason=f"Changed in the admin: {', '.join(form.changed_data)}" if change else "",
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
        label, pk, text = obj._meta.label_lower, obj.pk, audit.describe(obj)
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
        # "Delete selected" runs outside the admin's change-form transaction: open one, so no
        # row goes without its entry.
        with transaction.atomic():
            gone = [
                (obj._meta.label_lower, obj.pk, audit.describe(obj), audit.snapshot(obj))
                for obj in queryset
            ]
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


def _signed_action(action: Callable, name: str) -> Callable:
    @wraps(action)
    def run(model_admin, request, queryset):
        ids = [str(pk) for pk in queryset.values_list("pk", flat=True)[:500]]
        label = queryset.model._meta.label_lower
        with transaction.atomic():
            answer = action(model_admin, request, queryset)
            audit.record(
                request,
                f"{queryset.model._meta.model_name}.{name}",
                target_type=label,
                target_id=",".join(ids),
                target_repr=f"{len(ids)} {queryset.model._meta.verbose_name_plural}",
                after={"ids": ids},
            )
        return answer

    return run


class SignsTheirActions:
    """Actions written by others change rows without a word to the trail (the beat schedules'
    enable, disable and run, the lockouts' clean-up): each is signed with the ids it was given,
    in the action's transaction. "Delete selected" is signed row by row by delete_queryset."""

    def get_actions(self, request):
        return {
            name: (func if name == "delete_selected" else _signed_action(func, name), name, text)
            for name, (func, name, text) in super().get_actions(request).items()
        }


class SignsPasswordChanges:
    """The admin's password form saves without save_model: sign it here, never its values."""

    def user_change_password(self, request, id, form_url=""):
        with transaction.atomic():
            response = super().user_change_password(request, id, form_url)
            if request.method == "POST" and response.status_code == 302:
                person = self.get_object(request, unquote(id))
                audit.record(request, "user.password_change", person)
        return response


# Apps of others whose admin pages change state: users, groups, API tokens, the beat
# schedules and login lockouts. They registered before this module loads (INSTALLED_APPS
# order); each is registered again with the same admin class, signed.
THIRD_PARTY_APPS = ("auth", "authtoken", "django_celery_beat", "axes")


def sign_third_party_admins(site: admin.AdminSite = admin.site) -> None:
    for model, model_admin in list(site._registry.items()):
        if model._meta.app_label not in THIRD_PARTY_APPS or isinstance(model_admin, AuditedAdmin):
            continue
        base = type(model_admin)
        mixins = (SignsPasswordChanges,) if hasattr(base, "user_change_password") else ()
        signed = type(
            f"Audited{base.__name__}",
            (*mixins, SignsTheirActions, AuditedAdmin, base),
            {"__module__": __name__},
        )
        site.unregister(model)
        site.register(model, signed)


sign_third_party_admins()
