from django.contrib import admin
from django.contrib.admin import helpers
from django.db import transaction
from django.template.response import TemplateResponse

from access import audit
from access.admin import AuditedAdmin
from inventory_sync.lib.admin import ReadOnlyAdmin

from . import services
from .models import (
    AllocationRule,
    BundleComponent,
    OversellIncident,
    Reservation,
    SalesHalt,
    SkuPolicy,
)


class RecomputesAllocation(AuditedAdmin):
    """Saving or deleting a setting marks the SKUs it affects for the planner (and, as every
    admin change, signs it in the audit trail)."""

    def affected_sku_ids(self, obj):
        return None  # all SKUs

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        services.skus_mark_dirty(sku_ids=self.affected_sku_ids(obj))

    def delete_model(self, request, obj):
        affected = self.affected_sku_ids(obj)
        super().delete_model(request, obj)
        services.skus_mark_dirty(sku_ids=affected)

    def delete_queryset(self, request, queryset):
        # "Delete selected" bypasses delete_model: the SKUs are marked all the same.
        affected = [self.affected_sku_ids(obj) for obj in queryset]
        super().delete_queryset(request, queryset)
        if affected:
            every = any(ids is None for ids in affected)
            services.skus_mark_dirty(sku_ids=None if every else sum(affected, []))


@admin.register(AllocationRule)
class AllocationRuleAdmin(RecomputesAllocation):
    list_display = ["name", "kind", "value", "scope", "target", "priority", "is_enabled"]
    list_filter = ["kind", "scope", "is_enabled"]
    list_editable = ["is_enabled"]
    search_fields = ["name", "target"]


@admin.register(SkuPolicy)
class SkuPolicyAdmin(RecomputesAllocation):
    def affected_sku_ids(self, obj):
        return [obj.sku_id]

    list_display = ["sku", "mode", "ring_fence_threshold", "velocity_per_day"]
    list_filter = ["mode"]
    raw_id_fields = ["sku"]
    search_fields = ["sku__code"]


@admin.register(BundleComponent)
class BundleComponentAdmin(RecomputesAllocation):
    def affected_sku_ids(self, obj):
        return [obj.bundle_id]

    list_display = ["bundle", "component", "quantity"]
    raw_id_fields = ["bundle", "component"]
    search_fields = ["bundle__code", "component__code"]


@admin.register(SalesHalt)
class SalesHaltAdmin(RecomputesAllocation):
    def affected_sku_ids(self, obj):
        return [obj.sku_id]

    list_display = ["sku", "channel", "reason", "created_at", "released_at", "released_by"]
    list_filter = ["channel", ("released_at", admin.EmptyFieldListFilter)]
    list_select_related = ["sku", "channel"]
    autocomplete_fields = ["sku"]
    search_fields = ["sku__code", "reason"]
    # Who opened and who released a halt, and why, are recorded, never typed; a halt is never
    # deleted (released instead), so its history stays whole.
    readonly_fields = ["created_by", "created_at", "released_at", "released_by", "release_reason"]
    actions = ["release_halts"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.readonly_fields
        # A halt's scope and reason are what was decided.
        return ["sku", "channel", "reason", *self.readonly_fields]

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user.get_username()
        super().save_model(request, obj, form, change)

    @admin.action(
        description="Release the selected halts (asks for a reason)", permissions=["operate"]
    )
    def release_halts(self, request, queryset):
        active = queryset.filter(released_at__isnull=True).select_related("sku", "channel")
        reason = request.POST.get("release_reason", "").strip()
        if request.POST.get("apply") and reason:
            released = [self._release(request, halt, reason) for halt in active.order_by("id")]
            self.message_user(request, f"{len(released)} halt(s) released.")
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Release sales halts",
            "opts": self.model._meta,
            "halts": active,
            "missing_reason": bool(request.POST.get("apply")),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/allocation/saleshalt/release_halts.html", context)

    def _release(self, request, halt: SalesHalt, reason: str) -> SalesHalt:
        before = audit.snapshot(halt)
        with transaction.atomic():
            released = services.halt_release(
                halt=halt, actor=request.user.get_username(), reason=reason
            )
            audit.record(
                request, "halt.release", released, before=before, after=released, reason=reason
            )
        return released


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    """Reservations move stock: made and released through the API, never edited here."""

    list_display = ["sku", "location", "quantity", "partner", "status", "expires_at", "created_at"]
    list_filter = ["status"]
    search_fields = ["sku__code", "partner"]
    list_select_related = ["sku", "location"]


@admin.register(OversellIncident)
class OversellIncidentAdmin(AuditedAdmin):
    list_display = ["sku", "units_short", "status", "opened_at", "ended_at", "closed_by"]
    list_filter = ["status"]
    search_fields = ["sku__code"]
    readonly_fields = [
        "sku",
        "units_short",
        "sale_event_ids",
        "status",
        "opened_at",
        "ended_at",
        "closed_by",
    ]
    actions = ["close_incidents"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # an oversell is detected, never hidden (I8): close it instead

    @admin.action(
        description="Close the selected incidents (orders handled)", permissions=["operate"]
    )
    def close_incidents(self, request, queryset):
        for incident in queryset.filter(status=OversellIncident.Status.OPEN).order_by("id"):
            before = audit.snapshot(incident)
            with transaction.atomic():
                closed = services.incident_close(
                    incident=incident, actor=request.user.get_username()
                )
                audit.record(request, "incident.close", closed, before=before, after=closed)
