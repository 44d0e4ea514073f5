"""Admin for the ledger. Events, entries and balances are read-only: stock changes only
through record_event (the API, the channel lanes and the import/replay commands)."""

from django.contrib import admin

from access.admin import AuditedAdmin
from inventory_sync.lib.admin import ReadOnlyAdmin

from .models import Balance, InventoryEvent, LedgerEntry, Location, Sku


class CatalogAdmin(AuditedAdmin):
    def get_readonly_fields(self, request, obj=None):
        # Event payloads, fingerprints and import keys carry the code: it never changes.
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "code"] if obj is not None else fields


@admin.register(Sku)
class SkuAdmin(CatalogAdmin):
    list_display = [
        "code",
        "title",
        "barcode",
        "velocity_tier",
        "supplier",
        "is_bundle",
        "allocation_dirty_since",
    ]
    list_filter = ["velocity_tier", "is_bundle", "supplier"]
    search_fields = ["code", "title", "barcode"]
    readonly_fields = ["allocation_dirty_since", "created_at"]


@admin.register(Location)
class LocationAdmin(CatalogAdmin):
    list_display = ["code", "name", "kind", "region", "can_ship", "can_pickup", "is_active"]
    list_filter = ["kind", "is_active"]
    search_fields = ["code", "name"]


class LedgerEntryInline(admin.TabularInline):
    model = LedgerEntry
    fields = ["sku", "location", "bucket", "delta"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(InventoryEvent)
class InventoryEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "source", "reference", "occurred_at", "recorded_at", "actor"]
    list_filter = ["kind", "source"]
    search_fields = ["idempotency_key", "reference"]
    date_hierarchy = "occurred_at"
    inlines = [LedgerEntryInline]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["id", "event", "sku", "location", "bucket", "delta"]
    list_filter = ["bucket", "location"]
    list_select_related = ["event", "sku", "location"]
    search_fields = ["sku__code", "event__reference"]
    raw_id_fields = ["event", "sku"]


@admin.register(Balance)
class BalanceAdmin(ReadOnlyAdmin):
    list_display = ["sku", "location", "bucket", "quantity", "version", "updated_at"]
    list_filter = ["bucket", "location"]
    list_select_related = ["sku", "location"]
    search_fields = ["sku__code"]
