from django.contrib import admin
from django.contrib.admin import helpers
from django.template.response import TemplateResponse

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


class RecomputesAllocation(admin.ModelAdmin):
    """Saving or deleting a setting marks the SKUs it affects for the planner."""

    def affected_sku_ids(self, obj):
        return None  # all SKUs

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        services.skus_mark_dirty(sku_ids=self.affected_sku_ids(obj))

    def delete_model(self, request, obj):
        affected = self.affected_sku_ids(obj)
        super().delete_model(request, obj)
        services.skus_mark_dirty(sku_ids=affected)


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
    # Who opened and who released a halt, and why, are recorded, never typed.
    readonly_fields = ["created_by", "created_at", "released_at", "released_by", "release_reason"]
    actions = ["release_halts"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.readonly_fields
        return ["sku", "channel", *self.readonly_fields]  # a halt's scope is what was decided

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user.get_username()
        super().save_model(request, obj, form, change)

    @admin.action(description="Release the selected halts (asks for a reason)")
    def release_halts(self, request, queryset):
        active = queryset.filter(released_at__isnull=True).select_related("sku", "channel")
        reason = request.POST.get("release_reason", "").strip()
        if request.POST.get("apply") and reason:
            released = [
                services.halt_release(halt=halt, actor=request.user.get_username(), reason=reason)
                for halt in active.order_by("id")
            ]
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


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    """Reservations move stock: made and released through the API, never edited here."""

    list_display = ["sku", "location", "quantity", "partner", "status", "expires_at", "created_at"]
    list_filter = ["status"]
    search_fields = ["sku__code", "partner"]
    list_select_related = ["sku", "location"]


@admin.register(OversellIncident)
class OversellIncidentAdmin(admin.ModelAdmin):
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

    @admin.action(description="Close the selected incidents (orders handled)")
    def close_incidents(self, request, queryset):
        for incident in queryset:
            services.incident_close(incident=incident, actor=request.user.get_username())
