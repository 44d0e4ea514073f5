"""Reconciliation: what each channel really shows, compared with what it should show.

A run reads every listing of its channels back in bulk and records a `Drift` row for each one
that shows something else than expected once the grace window for orders in flight has passed.
Drift is resolved by a resync (small), a sales halt (large, until a person reviews it), by
adopting the channel's number (a cycle count in the ledger) or dismissed with a reason.

The dead-man switch watches each channel's signs of life (an inbound event, a successful push)
and our own pipeline's heartbeats; an episode caps the channel at its safety quantity until a
person clears it. Alerts are grouped per kind and destination so a storm is one message.
"""

from __future__ import annotations

from datetime import time

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Now


class ReconciliationRun(models.Model):
    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        HERO = "hero", "Schedule (hero SKUs)"
        MANUAL = "manual", "On demand"
        # A channel told us (a webhook, a notification) it shows a level we did not expect.
        SIGNAL = "signal", "A channel's unexpected level"

    class Status(models.TextChoices):
        READING = "reading", "Reading the channels"
        WAITING = "waiting", "Waiting out the grace window"
        CONFIRMING = "confirming", "Reading the mismatches again"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    trigger = models.CharField(max_length=12, choices=Trigger.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.READING)
    # Blank: every live channel / every SKU. A run for a few SKUs reads only their listings.
    channel = models.ForeignKey(
        "channels.Channel", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    sku_codes = models.JSONField(default=list, blank=True)
    velocity_tier = models.CharField(max_length=8, blank=True)
    requested_by = models.CharField(max_length=150, blank=True)
    started_at = models.DateTimeField(db_default=Now(), editable=False)
    # Suspects are read again from then on (orders placed on the channel meanwhile arrive).
    confirm_after = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    listings_total = models.PositiveIntegerField(default=0)
    listings_checked = models.PositiveIntegerField(default=0)
    suspects = models.JSONField(default=dict, blank=True)  # listing id -> first observation
    drifted = models.PositiveIntegerField(default=0)
    resynced = models.PositiveIntegerField(default=0)
    halted = models.PositiveIntegerField(default=0)
    api_calls = models.PositiveIntegerField(default=0)
    throttled = models.PositiveIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    # Per channel code: {"listings", "drifted", "calls", "method", "error"}.
    channels = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status"], name="recon_run_status_idx")]

    def __str__(self) -> str:
        return f"run {self.pk} ({self.trigger}, {self.status})"

    @property
    def drift_rate(self) -> float:
        return self.drifted / self.listings_checked if self.listings_checked else 0.0


class Drift(models.Model):
    """A listing that showed something else than we expected, and what was done about it."""

    class Cause(models.TextChoices):
        MANUAL_EDIT = "manual_edit", "Manual edit on the channel"
        LOST_WRITE = "lost_write", "Lost write (acknowledged, not kept)"
        UNSEEN_ORDER = "unseen_order", "Order on the channel we have not seen"
        REFUND_SEMANTICS = "refund", "Refund or cancel restocked differently"
        UNKNOWN = "unknown", "Unknown"

    class Resolution(models.TextChoices):
        OPEN = "open", "Open"
        RESYNCED = "resynced", "Resynced"
        HALTED = "halted", "Halted for review"
        ADOPTED = "adopted", "Channel's number adopted"
        DISMISSED = "dismissed", "Dismissed"
        RESOLVED = "resolved", "Resolved on its own"

    run = models.ForeignKey(
        ReconciliationRun, null=True, blank=True, on_delete=models.PROTECT, related_name="drift"
    )
    # run is None for a drift the read-after-write check found.
    channel = models.ForeignKey("channels.Channel", on_delete=models.PROTECT, related_name="+")
    listing = models.ForeignKey("channels.Listing", on_delete=models.PROTECT, related_name="+")
    sku = models.ForeignKey("ledger.Sku", on_delete=models.PROTECT, related_name="+")
    expected = models.IntegerField()
    observed = models.IntegerField(null=True)
    delta = models.IntegerField()  # observed - expected
    cause = models.CharField(max_length=16, choices=Cause.choices, default=Cause.UNKNOWN)
    evidence = models.CharField(max_length=500, blank=True)
    detected_at = models.DateTimeField(db_default=Now(), editable=False)
    resolution = models.CharField(
        max_length=12, choices=Resolution.choices, default=Resolution.OPEN
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=150, blank=True)
    resolution_reason = models.CharField(max_length=500, blank=True)
    halt = models.ForeignKey(
        "allocation.SalesHalt", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The ledger event an adoption recorded (a cycle count).
    event = models.ForeignKey(
        "ledger.InventoryEvent", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["listing", "-detected_at"], name="drift_listing_idx"),
            models.Index(fields=["channel", "-detected_at"], name="drift_channel_idx"),
            models.Index(
                fields=["-id"],
                name="drift_open_idx",
                condition=models.Q(resolution__in=["open", "halted"]),
            ),
        ]

    def __str__(self) -> str:
        return f"drift {self.listing_id}: {self.observed} vs {self.expected}"


def business_days() -> list[int]:
    return [1, 2, 3, 4, 5]


class DeadManSwitch(models.Model):
    """A channel's business hours and quiet limit, and whether the switch is tripped now."""

    channel = models.OneToOneField(
        "channels.Channel", on_delete=models.CASCADE, related_name="dead_man"
    )
    is_enabled = models.BooleanField(default=True)
    quiet_minutes = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(5), MaxValueValidator(24 * 60)]
    )
    time_zone = models.CharField(max_length=64, default="UTC")
    opens_at = models.TimeField(default=time(8))
    closes_at = models.TimeField(default=time(20))
    # ISO weekdays (1 = Monday) on which the business hours apply.
    weekdays = models.JSONField(default=business_days)

    class Meta:
        ordering = ["channel_id"]

    def __str__(self) -> str:
        return f"dead-man switch of {self.channel_id}"


class DeadManEpisode(models.Model):
    """One trip of the switch, from the moment it tripped until a person cleared it."""

    class Reason(models.TextChoices):
        CHANNEL_QUIET = "quiet", "No inbound event and no successful push"
        PUSHES_FAILING = "pushes", "Every push failing"
        PIPELINE_STALLED = "pipeline", "Our own pipeline stalled"

    channel = models.ForeignKey("channels.Channel", on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=12, choices=Reason.choices)
    detail = models.CharField(max_length=500, blank=True)
    last_sign_of_life = models.DateTimeField(null=True, blank=True)
    tripped_at = models.DateTimeField(db_default=Now(), editable=False)
    cleared_at = models.DateTimeField(null=True, blank=True)
    cleared_by = models.CharField(max_length=150, blank=True)
    clear_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel"],
                condition=models.Q(cleared_at__isnull=True),
                name="dead_man_one_open_episode",
            )
        ]

    def __str__(self) -> str:
        return f"dead-man {self.channel_id} {self.reason} @ {self.tripped_at}"


class AlertDestination(models.Model):
    """Where alerts go: an email address, a Slack-compatible incoming webhook, or both."""

    name = models.CharField(max_length=100, unique=True)
    email = models.EmailField(blank=True)
    webhook_url = models.URLField(max_length=500, blank=True)
    # Alert kinds sent here; empty: every kind.
    kinds = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Alert(models.Model):
    """Something a person should know. Repeats of one kind and key while unsent add to
    `count`; the sender groups unsent alerts per kind into one message."""

    class Kind(models.TextChoices):
        DRIFT_HALT = "drift_halt", "Drift halted a listing"
        DEAD_MAN_TRIPPED = "dead_man", "Dead-man switch tripped"
        DEAD_MAN_CLEARED = "dead_man_clear", "Dead-man switch cleared"
        OVERSELL = "oversell", "Oversell incident"
        BRITTLE = "brittle", "Brittle listing (repeated drift)"
        PUSH_FAILING = "push_failing", "Pushes failing"
        DISCREPANCY = "discrepancy", "Cycle-count discrepancy"
        ORDER_HEALTH = "order_health", "A channel nears its order-health bar"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    key = models.CharField(max_length=255)  # what makes two alerts the same (a listing, a channel)
    subject = models.CharField(max_length=255)
    body = models.TextField(blank=True)
    link = models.CharField(max_length=255, blank=True)
    count = models.PositiveIntegerField(default=1)
    first_at = models.DateTimeField(db_default=Now(), editable=False)
    last_at = models.DateTimeField(db_default=Now())
    sent_at = models.DateTimeField(null=True, blank=True)
    # "email:ops@example.com: ok" lines, one per destination tried.
    delivery = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "key"],
                condition=models.Q(sent_at__isnull=True),
                name="alert_one_unsent_per_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.key} x{self.count}"


class CycleCountDiscrepancy(models.Model):
    """A cycle count that moved a balance by more than the threshold: a person reviews it."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        REVIEWED = "reviewed", "Reviewed"

    event = models.OneToOneField(
        "ledger.InventoryEvent", on_delete=models.PROTECT, related_name="+"
    )
    sku = models.ForeignKey("ledger.Sku", on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey("ledger.Location", on_delete=models.PROTECT, related_name="+")
    before = models.IntegerField()
    counted = models.IntegerField()
    delta = models.IntegerField()
    percent = models.DecimalField(max_digits=7, decimal_places=2)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.CharField(max_length=150, blank=True)
    review_note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"discrepancy {self.sku_id}@{self.location_id}: {self.delta}"


class Watermark(models.Model):
    """How far a scan has read (the cycle-count scan: the last ledger event id seen)."""

    name = models.CharField(max_length=64, unique=True)
    position = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}@{self.position}"


__all__ = [
    "Alert",
    "AlertDestination",
    "CycleCountDiscrepancy",
    "DeadManEpisode",
    "DeadManSwitch",
    "Drift",
    "ReconciliationRun",
    "Watermark",
]
