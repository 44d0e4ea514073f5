from django import forms
from django.contrib import admin, messages
from django.db import transaction

from access import audit
from access.admin import AuditedAdmin, RoleActions
from allocation.models import RoutingRule
from inventory_sync.lib.admin import ReadOnlyAdmin

from . import inbound, tasks
from .lanes import registry
from .lanes.base import ChannelError, CredentialsError
from .lanes.forms import secret_field
from .models import (
    Channel,
    ChannelOrder,
    ChannelOrderLine,
    FulfilmentPartner,
    InboundEvent,
    Listing,
    PushAttempt,
)


class ChannelForm(forms.ModelForm):
    """Credentials are write-only here: typed in, sealed, never shown again. Each lane names
    its own (channels.lanes.*.lane: credential_fields)."""

    api_base_url = forms.URLField(
        required=False,
        assume_scheme="https",
        help_text="https://<shop>.myshopify.com, or a sandbox's address.",
    )
    auth_url = forms.URLField(
        required=False,
        assume_scheme="https",
        help_text="Amazon: the LWA token URL. Blank: Amazon's own; a sandbox's otherwise.",
    )

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
        for secret in CREDENTIALS:
            value = self.cleaned_data.get(secret.name)
            if value:
                if secret.previous and credentials.get(secret.name) not in (None, value):
                    # The channel may still sign or authenticate with the old one for a while.
                    credentials[secret.previous] = credentials[secret.name]
                credentials[secret.name] = value
        channel.credentials = credentials
        if commit:
            channel.save()
        return channel


# Write-only credential fields of every lane: (form field, kept previous value while rotating).
CREDENTIALS = registry.credential_fields()
for _secret in CREDENTIALS:
    ChannelForm.base_fields[_secret.name] = _secret.field
    ChannelForm.declared_fields[_secret.name] = _secret.field


@admin.register(Channel)
class ChannelAdmin(AuditedAdmin):
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
    actions = ["import_mapping", "retry_quarantined"]

    @admin.action(
        description="Import listings from the channel (match by SKU)", permissions=["administer"]
    )
    def import_mapping(self, request, queryset):
        for channel in queryset.order_by("id"):
            lane = registry.lane_for_kind(channel.kind)
            try:
                report = lane.import_mapping(channel)
            except NotImplementedError:
                self.message_user(
                    request,
                    f"{channel.code}: this channel kind has no mapping import.",
                    messages.WARNING,
                )
                continue
            except (ChannelError, CredentialsError) as error:
                self.message_user(
                    request,
                    f"{channel.code}: {lane.label} refused or failed: {error}",
                    messages.ERROR,
                )
                continue
            audit.record(
                request, "channel.import_mapping", channel, after={"report": report.summary()}
            )
            self.message_user(
                request,
                f"{channel.code}: {report.summary()}",
                messages.WARNING if report.unmatched or report.ambiguous else messages.SUCCESS,
            )
            for row in (report.unmatched + report.ambiguous)[:20]:
                self.message_user(
                    request,
                    f"{channel.code}: no SKU for {lane.describe_unmapped(row)}",
                    messages.WARNING,
                )

    @admin.action(description="Apply quarantined inbound events again", permissions=["operate"])
    def retry_quarantined(self, request, queryset):
        total = 0
        for channel in queryset.order_by("id"):
            with transaction.atomic():
                queued = inbound.retry_quarantined(channel=channel)
                if queued:
                    audit.record(request, "quarantine.reapply", channel, after={"queued": queued})
            total += queued
        self.message_user(request, f"{total} quarantined event(s) queued again.")


@admin.register(Listing)
class ListingAdmin(AuditedAdmin):
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
class InboundEventAdmin(RoleActions, ReadOnlyAdmin):
    list_display = ["id", "channel", "source", "topic", "status", "deliveries", "received_at"]
    list_filter = ["channel", "status", "source", "topic"]
    search_fields = ["dedupe_key", "delivery_id"]
    actions = ["queue_again"]

    @admin.action(description="Queue again (after a mapping fix)", permissions=["operate"])
    def queue_again(self, request, queryset):
        waiting = queryset.exclude(status=InboundEvent.Status.APPLIED)
        with transaction.atomic():
            before = list(waiting.order_by("id").values_list("id", "status"))
            count = waiting.filter(id__in=[pk for pk, _ in before]).update(
                status=InboundEvent.Status.RECEIVED, next_attempt_at=None
            )
            for pk, status in before:
                audit.record(
                    request,
                    "inbound.queue_again",
                    target_type=InboundEvent._meta.label_lower,
                    target_id=pk,
                    target_repr=f"inbound event {pk}",
                    before={"status": status},
                    after={"status": InboundEvent.Status.RECEIVED},
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


class FulfilmentPartnerForm(forms.ModelForm):
    """The secret is write-only: typed in, sealed, never shown again."""

    webhook_url = forms.URLField(
        required=False,
        assume_scheme="https",
        max_length=500,
        help_text="Where requests are POSTed. Blank: the partner reads the CSV export instead.",
    )
    secret = secret_field(
        "Signs the requests we send the partner and the messages it sends back (HMAC-SHA256)."
    )

    class Meta:
        model = FulfilmentPartner
        fields = ["name", "location", "webhook_url", "is_active"]

    def save(self, commit=True):
        partner = super().save(commit=False)
        if self.cleaned_data.get("secret"):
            partner.secret = self.cleaned_data["secret"]
        if commit:
            partner.save()
        return partner


@admin.register(FulfilmentPartner)
class FulfilmentPartnerAdmin(AuditedAdmin):
    form = FulfilmentPartnerForm
    list_display = ["name", "location", "webhook_url", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name", "location__code"]


@admin.register(RoutingRule)
class RoutingRuleAdmin(AuditedAdmin):
    """Routing rules (allocation.routing). Saving or deleting one re-routes the open lines not
    yet shipped whose place changes, where the new place holds them (after commit)."""

    list_display = ["name", "priority", "location", "channel", "fulfilment", "prime", "is_enabled"]
    list_filter = ["is_enabled", "fulfilment", "prime", "location"]
    list_editable = ["is_enabled"]
    search_fields = ["name", "channel", "sku", "tag"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        transaction.on_commit(tasks.wake_rule_change)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        transaction.on_commit(tasks.wake_rule_change)

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        transaction.on_commit(tasks.wake_rule_change)
