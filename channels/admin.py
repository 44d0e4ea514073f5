from django.contrib import admin

from .models import Channel, Listing


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "name",
        "kind",
        "marketplace",
        "region",
        "is_marketplace",
        "mode",
        "priority",
    ]
    list_filter = ["kind", "mode", "is_marketplace"]
    search_fields = ["code", "name"]


@admin.register(Listing)
class ListingAdmin(admin.ModelAdmin):
    list_display = [
        "sku",
        "channel",
        "external_id",
        "fulfilment",
        "pack_size",
        "is_active",
        "desired_quantity",
        "pushed_quantity",
        "observed_quantity",
    ]
    list_filter = ["channel", "fulfilment", "is_active"]
    list_select_related = ["sku", "channel"]
    search_fields = ["sku__code", "external_id", "asin"]
    raw_id_fields = ["sku"]
    filter_horizontal = ["source_locations"]
    # The sync state belongs to the planner and the channel lanes.
    readonly_fields = [
        "desired_quantity",
        "desired_version",
        "desired_at",
        "desired_trace",
        "pushed_quantity",
        "pushed_version",
        "pushed_at",
        "observed_quantity",
        "observed_at",
    ]
