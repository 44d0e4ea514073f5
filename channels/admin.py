from django import forms
from django.contrib import admin, messages

from inventory_sync.lib.admin import ReadOnlyAdmin

from . import inbound
from .models import Channel, ChannelOrder, ChannelOrderLine, InboundEvent, Listing, PushAttempt


def _secret(help_text: str) -> forms.CharField:
    """A write-only credential: typed in, sealed, never rendered back; empty keeps it."""
    return forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=f"{help_text} Leave empty to keep the current one.",
    )


class ChannelForm(forms.ModelForm):
    """Credentials are write-only here: typed in, sealed, never shown again."""

    api_base_url = forms.URLField(
        required=False,
        assume_scheme="https",
        help_text="https://<shop>.myshopify.com, or a sandbox's address.",
    )
    access_token = _secret("Admin API access token (shpat_…).")
    webhook_secret = _secret("The app's client secret that signs webhooks.")
    auth_url = forms.URLField(
        required=False,
        assume_scheme="https",
        help_text="Amazon: the LWA token URL. Blank: Amazon's own; a sandbox's otherwise.",
    )
    refresh_token = _secret("Amazon: the seller's LWA refresh token (Atzr|…).")
    lwa_app_id = forms.CharField(
        required=False,
        help_text="Amazon: the LWA client id of the app. Leave empty to keep it.",
    )
    lwa_client_secret = _secret("Amazon: the LWA client secret.")
    notification_key = _secret("Amazon: the API key notifications carry in X-Api-Key.")

    # Write-only credential fields: (form field, kept previous value while rotating).
    SECRETS = {
        "access_token": None,
        "webhook_secret": "old_webhook_secret",
        "refresh_token": None,
        "lwa_app_id": None,
        "lwa_client_secret": None,
        # The EventBridge connection may still send the old key until it is updated too.
        "notification_key": "old_notification_key",
    }

    class Meta:
        model = Channel
        fields = [
            "code",
            "name",
            "kind",
            "marketplace",
            "region",
            "is_marketplace",
            "mode",
            "priority",
            "api_base_url",
            "api_version",
            "external_location_id",
            "seller_id",
            "auth_url",
            "default_location",
            "push_window_ms",
        ]

    def save(self, commit=True):
        channel = super().save(commit=False)
        credentials = channel.credentials if channel.credentials_sealed else {}
        for name, previous in self.SECRETS.items():
            value = self.cleaned_data.get(name)
            if value:
                if previous and credentials.get(name) not in (None, value):
                    # Shopify may sign with the old secret for up to an hour after a rotation.
                    credentials[previous] = credentials[name]
                credentials[name] = value
        channel.credentials = credentials
        if commit:
            channel.save()
        return channel


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    form = ChannelForm
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
    actions = ["import_shopify_mapping", "import_amazon_mapping", "retry_quarantined"]

    @admin.action(description="Import listings from the shop's variants (match by SKU/barcode)")
    def import_shopify_mapping(self, request, queryset):
        from .adapters.shopify_lane import import_mapping

        for channel in queryset.filter(kind=Channel.Kind.SHOPIFY):
            report = import_mapping(channel)
            self.message_user(
                request,
                f"{channel.code}: {len(report.created)} listing(s) created, "
                f"{report.already_mapped} already mapped, {len(report.unmatched)} unmatched, "
                f"{len(report.ambiguous)} ambiguous.",
                messages.WARNING if report.unmatched or report.ambiguous else messages.SUCCESS,
            )
            for variant in report.unmatched[:20]:
                self.message_user(
                    request,
                    f"{channel.code}: no SKU for variant {variant['variant']} "
                    f"(sku {variant['sku']!r}, barcode {variant['barcode']!r}, {variant['title']})",
                    messages.WARNING,
                )

    @admin.action(description="Import listings from Amazon (match by seller SKU)")
    def import_amazon_mapping(self, request, queryset):
        from .adapters.amazon import AmazonCredentialsError, AmazonError
        from .adapters.amazon_lane import import_mapping

        for channel in queryset.filter(kind=Channel.Kind.AMAZON):
            try:
                report = import_mapping(channel)
            except (AmazonError, AmazonCredentialsError) as error:
                self.message_user(
                    request, f"{channel.code}: Amazon refused or failed: {error}", messages.ERROR
                )
                continue
            self.message_user(
                request,
                f"{channel.code}: {len(report.created)} listing(s) created, "
                f"{report.already_mapped} already mapped, {len(report.unmatched)} unmatched.",
                messages.WARNING if report.unmatched else messages.SUCCESS,
            )
            for row in report.unmatched[:20]:
                self.message_user(
                    request,
                    f"{channel.code}: no SKU for seller SKU {row['seller_sku']!r} "
                    f"(ASIN {row['asin']!r})",
                    messages.WARNING,
                )

    @admin.action(description="Apply quarantined inbound events again")
    def retry_quarantined(self, request, queryset):
        total = sum(inbound.retry_quarantined(channel=channel) for channel in queryset)
        self.message_user(request, f"{total} quarantined event(s) queued again.")


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
        "desired_cause_at",
        "desired_trace",
        "ring_fenced",
        "pushed_quantity",
        "pushed_version",
        "pushed_at",
        "channel_delta",
        "in_flight_quantity",
        "in_flight_version",
        "in_flight_attempt",
        "push_held_until",
        "push_error",
        "observed_quantity",
        "observed_at",
    ]


@admin.register(InboundEvent)
class InboundEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "channel", "source", "topic", "status", "deliveries", "received_at"]
    list_filter = ["channel", "status", "source", "topic"]
    search_fields = ["dedupe_key", "delivery_id"]
    actions = ["queue_again"]

    @admin.action(description="Queue again (after a mapping fix)")
    def queue_again(self, request, queryset):
        count = queryset.exclude(status=InboundEvent.Status.APPLIED).update(
            status=InboundEvent.Status.RECEIVED, next_attempt_at=None
        )
        self.message_user(request, f"{count} event(s) queued again.")


class ChannelOrderLineInline(admin.TabularInline):
    model = ChannelOrderLine
    extra = 0
    can_delete = False
    readonly_fields = [f.name for f in ChannelOrderLine._meta.fields]


@admin.register(ChannelOrder)
class ChannelOrderAdmin(ReadOnlyAdmin):
    list_display = ["name", "channel", "status", "placed_at", "channel_updated_at"]
    list_filter = ["channel", "status"]
    search_fields = ["external_id", "name"]
    inlines = [ChannelOrderLineInline]


@admin.register(PushAttempt)
class PushAttemptAdmin(ReadOnlyAdmin):
    list_display = ["id", "channel", "status", "calls", "throttled", "latency_ms", "started_at"]
    list_filter = ["channel", "status"]
    search_fields = ["idempotency_key"]
