"""Channels and their listings: where a SKU is sold, under which ids, and its sync state.

A listing's desired quantity is written only by the planner (channels.planner) from
allocation.rules.allocate(); the pushed and observed quantities by the channel lanes.
"""

from __future__ import annotations

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models.functions import Now

CHANNEL_CODE_VALIDATOR = RegexValidator(
    r"^[a-z0-9][a-z0-9-]{0,39}$", "Lower-case letters, digits and hyphens, at most 40."
)


class Channel(models.Model):
    class Kind(models.TextChoices):
        SHOPIFY = "shopify", "Shopify"
        AMAZON = "amazon", "Amazon"
        POS = "pos", "Retail POS"
        EDI = "edi", "Wholesale EDI"

    class Mode(models.TextChoices):
        SHADOW = "shadow", "Shadow (compute and log, send nothing)"
        LIVE = "live", "Live"
        PAUSED = "paused", "Paused"

    code = models.CharField(max_length=40, unique=True, validators=[CHANNEL_CODE_VALIDATOR])
    name = models.CharField(max_length=255)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # Amazon marketplace id (ATVPDKIKX0DER) or the shop's own name; free text per kind.
    marketplace = models.CharField(max_length=64, blank=True)
    # Amazon region (NA, EU, FE): which FBA pool its AFN listings draw from.
    region = models.CharField(max_length=8, blank=True)
    # Marketplaces (Amazon, Etsy, eBay) get the marketplace buffers; our own store does not.
    is_marketplace = models.BooleanField(default=False)
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.SHADOW)
    # Lower wins: ties in oversell conflicts and the order of a ring-fenced split.
    priority = models.PositiveSmallIntegerField(default=100)
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        ordering = ["priority", "code"]

    def __str__(self) -> str:
        return self.code


class Listing(models.Model):
    """A SKU on a channel, with the channel's ids for it and its sync state."""

    class Fulfilment(models.TextChoices):
        MERCHANT = "merchant", "Merchant (MFN / own locations)"
        FBA = "fba", "Amazon FBA (AFN)"

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="listings")
    sku = models.ForeignKey("ledger.Sku", on_delete=models.PROTECT, related_name="listings")
    # The channel's id for this listing: Shopify variant GID, Amazon seller SKU.
    external_id = models.CharField(max_length=255)
    shopify_inventory_item_id = models.CharField(max_length=255, blank=True)
    shopify_location_id = models.CharField(max_length=255, blank=True)
    asin = models.CharField(max_length=16, blank=True)
    fulfilment = models.CharField(
        max_length=8, choices=Fulfilment.choices, default=Fulfilment.MERCHANT
    )
    pack_size = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    # Empty: every shipping location of ours. Otherwise only these (a store for BOPIS, a 3PL).
    source_locations = models.ManyToManyField("ledger.Location", blank=True, related_name="+")
    is_active = models.BooleanField(default=True)

    # Sync state. desired_* is written by the planner only when the quantity changes.
    desired_quantity = models.PositiveIntegerField(null=True, blank=True)
    desired_version = models.PositiveBigIntegerField(default=0)
    desired_at = models.DateTimeField(null=True, blank=True)
    desired_trace = models.JSONField(default=list, blank=True)
    pushed_quantity = models.PositiveIntegerField(null=True, blank=True)
    pushed_version = models.PositiveBigIntegerField(default=0)
    pushed_at = models.DateTimeField(null=True, blank=True)
    observed_quantity = models.IntegerField(null=True, blank=True)
    observed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["channel_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"], name="listing_unique_channel_external_id"
            ),
            models.CheckConstraint(
                condition=models.Q(pack_size__gte=1), name="listing_pack_size_positive"
            ),
        ]
        indexes = [
            # The pusher's queue: listings whose desired state is ahead of what was pushed.
            models.Index(
                fields=["channel", "id"],
                name="listing_push_due_idx",
                condition=models.Q(desired_version__gt=models.F("pushed_version")),
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel_id}:{self.external_id}"
