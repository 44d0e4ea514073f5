"""Allocation settings: rules, the allocation mode of a SKU, bundles and sales halts."""

from __future__ import annotations

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

    def __str__(self) -> str:
        return f"{self.sku_id}: {self.mode}"


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

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["sku"], name="halt_active_idx", condition=models.Q(released_at__isnull=True)
            )
        ]

    def __str__(self) -> str:
        return f"halt {self.sku_id}/{self.channel_id or 'all'}"
