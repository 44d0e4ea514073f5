"""The canonical ledger: what stock exists, where, in which bucket, and why.

InventoryEvent and LedgerEntry are append-only (I1): the database refuses UPDATE and DELETE on
them (see migration 0002). Balance is a cache of the sum of entries (I2), written only by
ledger.services in the same transaction as the entries.
"""

from __future__ import annotations

import zoneinfo

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Now

# A code appears in URLs (/skus/<code>/) and CSV files: no slash, no surrounding whitespace,
# no control characters. Channel SKUs that break this are mapped through listings instead.
CODE_VALIDATOR = RegexValidator(
    r"^[^\s/\x00-\x1f\x7f](?:[^/\x00-\x1f\x7f]{0,62}[^\s/\x00-\x1f\x7f])?$",
    "Use 1-64 characters with no slash, control characters or surrounding spaces.",
)


def validate_time_zone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory name
        raise ValidationError(
            f"{value!r} is not an IANA time zone (e.g. America/New_York)."
        ) from None


class Bucket(models.TextChoices):
    """Shopify's quantity names, which operations staff already know.

    available = on_hand - committed - reserved - unsellable; unsellable units are part of
    on_hand (damaged or in quality control), incoming units are not (in transit or inbound).
    """

    ON_HAND = "on_hand", "On hand"
    COMMITTED = "committed", "Committed"
    RESERVED = "reserved", "Reserved"
    INCOMING = "incoming", "Incoming"
    UNSELLABLE = "unsellable", "Unsellable"


class VelocityTier(models.TextChoices):
    HERO = "hero", "Hero"
    CORE = "core", "Core"
    TAIL = "tail", "Tail"
    SLOW = "slow", "Slow"


class Sku(models.Model):
    code = models.CharField(max_length=64, unique=True, validators=[CODE_VALIDATOR])
    title = models.CharField(max_length=255, blank=True)
    barcode = models.CharField(max_length=64, blank=True, db_index=True)
    weight_grams = models.PositiveIntegerField(null=True, blank=True)
    is_bundle = models.BooleanField(default=False)
    tags = models.JSONField(default=list, blank=True)
    velocity_tier = models.CharField(
        max_length=8, choices=VelocityTier.choices, default=VelocityTier.SLOW
    )
    # Who the SKU is bought from: the reorder suggestions are exported one supplier at a time.
    supplier = models.CharField(max_length=100, blank=True)
    # Set by every ledger write in its own transaction (I5); allocation's planner clears it
    # after it has recomputed the SKU's listings. A timestamp rather than a boolean so the
    # planner can take the oldest first and the console can show how long a SKU waited.
    allocation_dirty_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        ordering = ["code"]
        indexes = [
            # The planner's queue: dirty SKUs in id order (its lock order), without scanning
            # the clean ones.
            models.Index(
                fields=["id"],
                name="sku_dirty_idx",
                condition=models.Q(allocation_dirty_since__isnull=False),
            )
        ]
        verbose_name = "SKU"
        verbose_name_plural = "SKUs"

    def __str__(self) -> str:
        return self.code


class Location(models.Model):
    class Kind(models.TextChoices):
        WAREHOUSE = "warehouse", "Warehouse"
        STORE = "store", "Retail store"
        THIRD_PARTY = "3pl", "3PL"
        FBA = "fba", "FBA pool"

    code = models.CharField(max_length=64, unique=True, validators=[CODE_VALIDATOR])
    name = models.CharField(max_length=255)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.WAREHOUSE)
    # Amazon region (NA, EU, FE) of an FBA pool; FBA stock sells only in its own region.
    region = models.CharField(max_length=8, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    can_ship = models.BooleanField(default=True)
    can_pickup = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class EventKind(models.TextChoices):
    RECEIPT = "receipt", "Receipt"
    SALE = "sale", "Sale"
    CANCEL = "cancel", "Cancel"
    SHIPMENT = "shipment", "Shipment"
    RETURN_RESTOCK = "return_restock", "Return (restock)"
    RETURN_UNSELLABLE = "return_unsellable", "Return (unsellable)"
    TRANSFER_OUT = "transfer_out", "Transfer out"
    TRANSFER_IN = "transfer_in", "Transfer in"
    WRITE_OFF = "write_off", "Write-off"
    CYCLE_COUNT = "cycle_count", "Cycle count"
    FBA_SNAPSHOT = "fba_snapshot", "FBA snapshot"
    INBOUND_STAGE = "inbound_stage", "Inbound stage change"
    RESERVE = "reserve", "Reservation"
    RELEASE = "release", "Reservation release"
    REROUTE = "reroute", "Commitment moved to another location"


class InventoryEvent(models.Model):
    """One business fact, as it was told to us. Never changed; corrected by a new event."""

    kind = models.CharField(max_length=24, choices=EventKind.choices)
    source = models.CharField(max_length=64)
    # Unique through Meta.constraints, which, unlike unique=True, adds no second index for
    # LIKE 'prefix%' lookups: nothing looks keys up by prefix, and every event paid for it.
    idempotency_key = models.CharField(max_length=255)
    # sha256 of the request as the caller gave it: same key with another body is a conflict.
    fingerprint = models.CharField(max_length=64)
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(db_default=Now(), editable=False)
    actor = models.CharField(max_length=150, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    reference = models.CharField(max_length=255, blank=True)  # indexed in Meta.indexes
    # The lines as given (codes, quantities, stages): what a person reads to explain the entries.
    payload = models.JSONField(default=dict)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"], name="ledger_inventoryevent_idempotency_key_key"
            ),
        ]
        indexes = [
            models.Index(fields=["occurred_at"], name="event_occurred_idx"),
            models.Index(fields=["reference"], name="event_reference_idx"),
            # The events people recorded, newest first, for a SKU's history: a hero SKU's page
            # reads 100 of them instead of scanning every sale. Channel events carry no actor,
            # so they are not in it and ingest pays nothing for it.
            models.Index(fields=["id"], name="event_by_person_idx", condition=~models.Q(actor="")),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"


class LedgerEntry(models.Model):
    event = models.ForeignKey(InventoryEvent, on_delete=models.PROTECT, related_name="entries")
    # No index of its own: entry_account_idx starts with sku, and every index costs each insert.
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="+", db_index=False)
    # Nor here: nothing reads entries by location alone but a location's deletion, which the
    # entries refuse anyway; the index it had went to entry_sku_history_idx.
    location = models.ForeignKey(
        Location, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    bucket = models.CharField(max_length=16, choices=Bucket.choices)
    delta = models.BigIntegerField()

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "ledger entries"
        indexes = [
            models.Index(fields=["sku", "location", "bucket"], name="entry_account_idx"),
            # A SKU's history, newest first, whatever the SKU: without it the planner walked the
            # whole ledger backwards for a SKU whose entries are all old (97 ms at a million
            # entries for a never-sold SKU, growing with the ledger).
            models.Index(fields=["sku", "-id"], name="entry_sku_history_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.sku_id}@{self.location_id} {self.bucket} {self.delta:+d}"


class Balance(models.Model):
    # Covered by balance_unique_account, which starts with sku.
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="balances", db_index=False)
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="balances")
    bucket = models.CharField(max_length=16, choices=Bucket.choices)
    quantity = models.BigIntegerField(default=0)
    version = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["sku_id", "location_id", "bucket"]
        constraints = [
            models.UniqueConstraint(
                fields=["sku", "location", "bucket"], name="balance_unique_account"
            ),
            # Every bucket counts physical or promised units; none can go below zero. An
            # oversell shows as committed > on_hand (available < 0), never as a negative bucket.
            models.CheckConstraint(
                condition=models.Q(quantity__gte=0), name="balance_quantity_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku_id}@{self.location_id} {self.bucket}={self.quantity}"
