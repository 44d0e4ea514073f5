"""Allocation settings: rules, the allocation mode of a SKU, bundles and sales halts."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models.functions import Now

from .rules import AllocationMode, RuleKind, Scope


class AllocationRule(models.Model):
    name = models.CharField(max_length=255)
    kind = models.CharField(max_length=16, choices=[(k.value, k.value) for k in RuleKind])
    # Units for buffer_units, floor and ceiling; percent for buffer_percent and share_percent.
    value = models.DecimalField(max_digits=12, decimal_places=2, validators=[MinValueValidator(0)])
    scope = models.CharField(max_length=16, choices=[(s.value, s.value) for s in Scope])
    # The channel code, SKU code, tag or tier the scope names; empty for all / marketplaces.
    target = models.CharField(max_length=64, blank=True)
    priority = models.PositiveSmallIntegerField(default=100)
    is_enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(value__gte=0), name="rule_value_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ConflictPolicy(models.TextChoices):
    EARLIEST_WINS = "earliest_wins", "Earliest placed order wins"
    HOLD_FOR_REVIEW = "hold_for_review", "Hold every conflicting order for review"


class SkuPolicy(models.Model):
    """How a SKU's stock is split between its listings (design invariant I7b)."""

    sku = models.OneToOneField("ledger.Sku", on_delete=models.CASCADE, related_name="policy")
    mode = models.CharField(
        max_length=16,
        choices=[(m.value, m.value) for m in AllocationMode],
        default=AllocationMode.SHARED.value,
    )
    # auto mode: ring-fence below this many sellable units (or below velocity x lag x safety)
    ring_fence_threshold = models.PositiveIntegerField(default=0)
    velocity_per_day = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    # What one unit costs us: routing rules on margin compare the line's price with it.
    unit_cost = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    # When two orders take the same last unit: the policy picks the standing order
    # (earliest placed wins), or every conflicting order waits for a person.
    conflict_policy = models.CharField(
        max_length=16, choices=ConflictPolicy.choices, default=ConflictPolicy.EARLIEST_WINS
    )

    def __str__(self) -> str:
        return f"{self.sku_id}: {self.mode}"


class RoutingRule(models.Model):
    """Chooses where an order line is fulfilled from (I11). Rules are tried in priority order
    (lower first); every condition left blank matches anything. The first matching rule whose
    location is in the listing's pool and can fill the line wins; when none can, the pool's
    other locations are tried (see allocation.routing)."""

    class Fulfilment(models.TextChoices):
        ANY = "any", "Any"
        MERCHANT = "merchant", "Merchant-fulfilled (MFN)"
        CHANNEL = "channel", "Channel-fulfilled (AFN)"

    class Prime(models.TextChoices):
        ANY = "any", "Any"
        YES = "yes", "Prime only"
        NO = "no", "Not Prime"

    name = models.CharField(max_length=255)
    priority = models.PositiveSmallIntegerField(default=100)
    is_enabled = models.BooleanField(default=True)
    channel = models.CharField(max_length=40, blank=True, help_text="A channel code; blank: any.")
    fulfilment = models.CharField(max_length=8, choices=Fulfilment.choices, default=Fulfilment.ANY)
    prime = models.CharField(max_length=3, choices=Prime.choices, default=Prime.ANY)
    weight_over_grams = models.PositiveIntegerField(null=True, blank=True)
    weight_up_to_grams = models.PositiveIntegerField(null=True, blank=True)
    sku = models.CharField(max_length=64, blank=True, help_text="A SKU code; blank: any.")
    tag = models.CharField(max_length=64, blank=True, help_text="A SKU tag; blank: any.")
    countries = models.CharField(
        max_length=255, blank=True, help_text="ISO country codes, comma-separated; blank: any."
    )
    regions = models.CharField(
        max_length=255, blank=True, help_text="Region or state codes, comma-separated; blank: any."
    )
    margin_below_percent = models.DecimalField(
        max_digits=6, decimal_places=2, null=True, blank=True
    )
    margin_at_least_percent = models.DecimalField(
        max_digits=6, decimal_places=2, null=True, blank=True
    )
    location = models.ForeignKey("ledger.Location", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        ordering = ["priority", "id"]

    def __str__(self) -> str:
        return self.name


class BundleComponent(models.Model):
    bundle = models.ForeignKey("ledger.Sku", on_delete=models.CASCADE, related_name="components")
    component = models.ForeignKey("ledger.Sku", on_delete=models.PROTECT, related_name="in_bundles")
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bundle", "component"], name="bundle_component_unique"),
            models.CheckConstraint(
                condition=models.Q(quantity__gte=1), name="bundle_quantity_positive"
            ),
            models.CheckConstraint(
                condition=~models.Q(bundle=models.F("component")),
                name="bundle_not_its_own_component",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.bundle_id} = {self.quantity} x {self.component_id}"


class SalesHalt(models.Model):
    """A SKU forced to 0 everywhere, or on one channel, until a person releases it."""

    sku = models.ForeignKey("ledger.Sku", on_delete=models.PROTECT, related_name="halts")
    channel = models.ForeignKey(
        "channels.Channel", null=True, blank=True, on_delete=models.PROTECT, related_name="halts"
    )
    reason = models.CharField(max_length=500)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(db_default=Now(), editable=False)
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.CharField(max_length=150, blank=True)
    release_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["sku"], name="halt_active_idx", condition=models.Q(released_at__isnull=True)
            )
        ]

    def __str__(self) -> str:
        return f"halt {self.sku_id}/{self.channel_id or 'all'}"


class Reservation(models.Model):
    """Stock held for a partner (wholesale programme, BOPIS hold) until released or expired.

    The units sit in the ledger's `reserved` bucket through `ledger.services.reserve()`, so a
    reservation can never take stock that is not there (I7).
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        RELEASED = "released", "Released"
        EXPIRED = "expired", "Expired"

    sku = models.ForeignKey("ledger.Sku", on_delete=models.PROTECT, related_name="reservations")
    location = models.ForeignKey("ledger.Location", on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    partner = models.CharField(max_length=255)
    expires_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    reserve_event = models.OneToOneField(
        "ledger.InventoryEvent", on_delete=models.PROTECT, related_name="+"
    )
    release_event = models.OneToOneField(
        "ledger.InventoryEvent", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(db_default=Now(), editable=False)
    ended_at = models.DateTimeField(null=True, blank=True)
    # The expiry job's last failure to end it, and why: the job records it and moves on to the
    # next reservation, and tries again on its next run.
    expiry_failed_at = models.DateTimeField(null=True, blank=True)
    expiry_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["expires_at"],
                name="reservation_expiry_idx",
                condition=models.Q(status="active", expires_at__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku_id} for {self.partner}"


class OversellIncident(models.Model):
    """Committed and held units above what is on hand: recorded, never hidden (I8).

    While it is open every listing of the SKU shows 0. `sale_event_ids` are the latest sales
    that the stock cannot cover, oldest first: the earliest placed orders stand, these need a
    cancel or a backorder.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved (stock returned)"
        CLOSED = "closed", "Closed by a person"

    sku = models.ForeignKey("ledger.Sku", on_delete=models.PROTECT, related_name="incidents")
    units_short = models.PositiveIntegerField()
    sale_event_ids = models.JSONField(default=list)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    opened_at = models.DateTimeField(db_default=Now(), editable=False)
    ended_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sku"], condition=models.Q(status="open"), name="one_open_incident_per_sku"
            )
        ]

    def __str__(self) -> str:
        return f"oversell {self.sku_id}: {self.units_short} short"


class LocationVelocity(models.Model):
    """A SKU's trailing sales at one location, per day, as the velocity job last found them
    (allocation.velocity): days of cover and reorder suggestions read this, not the ledger."""

    sku = models.ForeignKey("ledger.Sku", on_delete=models.CASCADE, related_name="+")
    location = models.ForeignKey("ledger.Location", on_delete=models.CASCADE, related_name="+")
    week_per_day = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    month_per_day = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["sku", "location"], name="location_velocity_unique_account"
            )
        ]

    def __str__(self) -> str:
        return f"{self.sku_id}@{self.location_id} {self.month_per_day}/day"

    @property
    def per_day(self) -> Decimal:
        """The higher of the week's and the month's rate: a rising SKU is covered for the
        rate it sells at now, a slowing one until the month shows it."""
        return max(self.week_per_day, self.month_per_day)
