"""Admin of reconciliation: the history (runs, drift, episodes, alerts, discrepancies) is
read-only, written by the services and acted on in the console. Two things are configured
here: each channel's dead-man switch (business hours, time zone, quiet limit and the channel's
safety quantity) and where alerts go (email, Slack-compatible webhook)."""

from __future__ import annotations

import zoneinfo

from django import forms
from django.contrib import admin

from access import audit
from access.admin import AuditedAdmin
from allocation.services import skus_mark_dirty
from channels.models import Channel, Listing
from inventory_sync.lib.admin import ReadOnlyAdmin

from .models import (
    Alert,
    AlertDestination,
    CycleCountDiscrepancy,
    DeadManEpisode,
    DeadManSwitch,
    Drift,
    ReconciliationRun,
)

WEEKDAYS = [
    (1, "Monday"),
    (2, "Tuesday"),
    (3, "Wednesday"),
    (4, "Thursday"),
    (5, "Friday"),
    (6, "Saturday"),
    (7, "Sunday"),
]


class DeadManSwitchForm(forms.ModelForm):
    time_zone = forms.ChoiceField(
        choices=[(name, name) for name in sorted(zoneinfo.available_timezones())]
    )
    weekdays = forms.TypedMultipleChoiceField(
        choices=WEEKDAYS,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        help_text="The days the business hours apply; outside them a quiet channel trips nothing.",
    )
    # Kept on the channel (the planner reads it there); edited here, beside the switch it
    # belongs to.
    safety_quantity = forms.IntegerField(
        min_value=0,
        initial=0,
        help_text="What each listing of the channel shows at most while the switch is tripped.",
    )

    class Meta:
        model = DeadManSwitch
        fields = [
            "channel",
            "is_enabled",
            "quiet_minutes",
            "time_zone",
            "opens_at",
            "closes_at",
            "weekdays",
        ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["safety_quantity"].initial = self.instance.channel.safety_quantity


@admin.register(DeadManSwitch)
class DeadManSwitchAdmin(AuditedAdmin):
    form = DeadManSwitchForm
    list_display = [
        "channel",
        "is_enabled",
        "quiet_minutes",
        "time_zone",
        "opens_at",
        "closes_at",
        "safety_quantity",
    ]
    list_filter = ["is_enabled"]
    list_select_related = ["channel"]

    @admin.display(description="Safety quantity")
    def safety_quantity(self, switch: DeadManSwitch) -> int:
        return switch.channel.safety_quantity

    def get_readonly_fields(self, request, obj=None):
        return ["channel"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        quantity = form.cleaned_data["safety_quantity"]
        changed = Channel.objects.filter(pk=obj.channel_id).exclude(safety_quantity=quantity)
        capped = changed.filter(capped_since__isnull=False).exists()
        before = changed.values("safety_quantity").first()
        if changed.update(safety_quantity=quantity):
            # Kept on the channel: signed there, in the channel's own history.
            audit.record(
                request,
                "channel.safety_quantity",
                obj.channel,
                before=before,
                after={"safety_quantity": quantity},
            )
        if capped:
            # A capped channel shows the new safety quantity in the next planner round.
            skus_mark_dirty(
                sku_ids=Listing.objects.filter(channel_id=obj.channel_id).values_list(
                    "sku_id", flat=True
                )
            )


class AlertDestinationForm(forms.ModelForm):
    webhook_url = forms.URLField(
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text="A Slack (or compatible) incoming webhook URL.",
    )
    kinds = forms.TypedMultipleChoiceField(
        choices=Alert.Kind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every kind.",
    )

    class Meta:
        model = AlertDestination
        fields = ["name", "email", "webhook_url", "kinds", "is_active"]


@admin.register(AlertDestination)
class AlertDestinationAdmin(AuditedAdmin):
    form = AlertDestinationForm
    list_display = ["name", "email", "has_webhook", "kinds", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name", "email"]

    # The webhook URL is itself the credential: not shown in the list.
    @admin.display(boolean=True, description="Webhook")
    def has_webhook(self, destination: AlertDestination) -> bool:
        return bool(destination.webhook_url)


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "trigger",
        "status",
        "channel",
        "started_at",
        "listings_checked",
        "drifted",
        "resynced",
        "halted",
        "api_calls",
        "duration_ms",
    ]
    list_filter = ["status", "trigger"]
    list_select_related = ["channel"]
    exclude = ["suspects"]


@admin.register(Drift)
class DriftAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "channel",
        "sku",
        "expected",
        "observed",
        "delta",
        "cause",
        "resolution",
        "detected_at",
    ]
    list_filter = ["resolution", "cause", "channel"]
    list_select_related = ["channel", "sku"]
    search_fields = ["sku__code", "listing__external_id"]


@admin.register(DeadManEpisode)
class DeadManEpisodeAdmin(ReadOnlyAdmin):
    list_display = ["id", "channel", "reason", "tripped_at", "cleared_at", "cleared_by"]
    list_filter = ["reason", "channel"]
    list_select_related = ["channel"]


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "subject", "count", "first_at", "last_at", "sent_at"]
    list_filter = ["kind"]
    search_fields = ["subject", "key"]


@admin.register(CycleCountDiscrepancy)
class CycleCountDiscrepancyAdmin(ReadOnlyAdmin):
    list_display = ["id", "sku", "location", "before", "counted", "percent", "status", "created_at"]
    list_filter = ["status", "location"]
    list_select_related = ["sku", "location"]
    search_fields = ["sku__code"]
