"""Channels and their listings: where a SKU is sold, under which ids, and its sync state.

A listing's desired quantity is written only by the planner (channels.planner) from
allocation.rules.allocate(); the pushed and observed quantities by the channel lanes.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models.functions import Now

from inventory_sync.lib import secrets

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

    # Where the channel's API lives: https://<shop>.myshopify.com, the SP-API endpoint, or a
    # sandbox's address. The same client code talks to either.
    api_base_url = models.URLField(max_length=255, blank=True)
    api_version = models.CharField(max_length=16, blank=True)
    # Shopify: the location whose `available` we set. Amazon: unused.
    external_location_id = models.CharField(max_length=255, blank=True)
    # Amazon: the selling partner (merchant) id, and the Login with Amazon token endpoint
    # (blank: Amazon's own; a sandbox's otherwise).
    seller_id = models.CharField(max_length=32, blank=True)
    auth_url = models.URLField(max_length=255, blank=True)
    # Where this channel's orders commit stock when a listing names no source location.
    default_location = models.ForeignKey(
        "ledger.Location", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Access token, webhook secret(s), LWA client secret…: sealed with inventory_sync.lib.secrets.
    credentials_sealed = models.TextField(blank=True, editable=False)
    # Orders updated after this instant have been read by polling (the webhook safety net).
    orders_polled_until = models.DateTimeField(null=True, blank=True)
    # The first poll: orders placed before it are history the opening balances carry.
    orders_polling_started_at = models.DateTimeField(null=True, blank=True)
    # Amazon: customer returns have been read up to here (the FBA returns report).
    returns_read_until = models.DateTimeField(null=True, blank=True)
    # How long a change may wait for the next call while a stream of them is coming: each
    # call then carries about this window's worth of changes. Blank: PUSH_WINDOW_SECONDS.
    # Shorter is fresher, longer spends fewer calls (a channel with a tight call budget).
    push_window_ms = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(600_000)],
        help_text="Batching window for pushes, in ms (blank: the site default).",
    )
    # While capped (the dead-man switch tripped: we cannot tell what the channel is doing),
    # every listing of the channel shows at most its safety quantity.
    safety_quantity = models.PositiveIntegerField(
        default=0, help_text="What each listing shows at most while the dead-man switch is tripped."
    )
    capped_since = models.DateTimeField(null=True, blank=True, editable=False)
    capped_reason = models.CharField(max_length=255, blank=True, editable=False)

    class Meta:
        ordering = ["priority", "code"]

    def __str__(self) -> str:
        return self.code

    @property
    def credentials(self) -> dict:
        return secrets.unseal(self.credentials_sealed)

    @credentials.setter
    def credentials(self, value: dict) -> None:
        self.credentials_sealed = secrets.seal(value)

    @property
    def push_window(self) -> timedelta:
        if self.push_window_ms is not None:
            return timedelta(milliseconds=self.push_window_ms)
        return timedelta(seconds=settings.PUSH_WINDOW_SECONDS)


# A listing due for a push, held back or refused by the channel (channels.health).
ATTENTION = (
    models.Q(desired_version__gt=models.F("pushed_version"))
    | models.Q(push_held_until__isnull=False)
    | ~models.Q(push_error="")
)


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
    # Amazon: the listing's product type, which every Listings Items patch names.
    amazon_product_type = models.CharField(max_length=64, blank=True)
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
    # When the oldest ledger change behind desired_version was recorded: push latency is
    # measured from here to the channel's acknowledgement.
    desired_cause_at = models.DateTimeField(null=True, blank=True)
    # Written by the planner: a ring-fenced SKU's listings rebalance break-before-make (I7b).
    ring_fenced = models.BooleanField(default=False)
    # A push sent and not yet acknowledged. The channel may already show it, so for I7b the
    # listing advertises max(pushed, in flight) until the answer is recorded.
    in_flight_quantity = models.PositiveIntegerField(null=True, blank=True)
    in_flight_version = models.PositiveBigIntegerField(null=True, blank=True)
    in_flight_attempt = models.ForeignKey(
        "PushAttempt", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # What the channel itself did to its quantity since our last acknowledged push, as far as
    # ingested orders tell (a Shopify sale lowers `available` before its webhook reaches us).
    # pushed_quantity + channel_delta is what we expect the channel to show now: the base of
    # the next compare-and-set.
    channel_delta = models.IntegerField(default=0)
    # No push before then: a refused push (5 minutes), or a stale compare waiting for an
    # unseen sale's order (until unseen_since + the grace period).
    push_held_until = models.DateTimeField(null=True, blank=True)
    push_error = models.TextField(blank=True)
    # A stale compare found the channel lower than any ingested order explains (a sale whose
    # webhook is late): since when. After the grace period the difference is overwritten, and
    # its items are remembered in unseen_sold_items, so the late order, when it comes, is not
    # counted a second time.
    unseen_since = models.DateTimeField(null=True, blank=True)
    unseen_sold_items = models.PositiveIntegerField(default=0)

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
            ),
            # inventory_levels/update names the inventory item, not the variant.
            models.Index(
                fields=["channel", "shopify_inventory_item_id"], name="listing_shopify_item_idx"
            ),
            # Listings a person may look at (due, held or refused): the channel pages, the
            # dashboard and /metrics count them without reading every listing.
            models.Index(fields=["channel"], name="listing_attention_idx", condition=ATTENTION),
        ]

    def __str__(self) -> str:
        return f"{self.channel_id}:{self.external_id}"

    @property
    def expected_quantity(self) -> int | None:
        """What the channel should be showing now: our last set plus its own moves since."""
        if self.pushed_quantity is None:
            return None
        return self.pushed_quantity + self.channel_delta


class InboundEvent(models.Model):
    """A webhook, notification or poll result exactly as it arrived, before it is applied (I4).

    Deduplicated by the channel's own event id (I3): a redelivery finds the row and adds
    nothing. Processing moves it to applied, ignored (nothing to do, e.g. an older snapshot),
    quarantined (names a SKU or listing we do not know; applied once the mapping is fixed) or
    failed (retryable).
    """

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        APPLIED = "applied", "Applied"
        IGNORED = "ignored", "Ignored"
        QUARANTINED = "quarantined", "Quarantined"
        FAILED = "failed", "Failed"

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="inbound_events")
    source = models.CharField(max_length=24)  # webhook, poll, notification
    topic = models.CharField(max_length=64)
    # X-Shopify-Event-Id, SP-API notification id, or order id + last-update time for a poll.
    dedupe_key = models.CharField(max_length=255)
    delivery_id = models.CharField(max_length=255, blank=True)  # X-Shopify-Webhook-Id
    headers = models.JSONField(default=dict, blank=True)
    body = models.BinaryField()
    received_at = models.DateTimeField(db_default=Now(), editable=False)
    # The channel's own time of the event (X-Shopify-Triggered-At), when it says.
    occurred_at = models.DateTimeField(null=True, blank=True)
    deliveries = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    # A failed or not-yet-applicable event is tried again from then on (backoff).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "dedupe_key"], name="inbound_event_unique_dedupe_key"
            )
        ]
        indexes = [
            # The ingest worker's queue.
            models.Index(
                fields=["id"],
                name="inbound_event_pending_idx",
                condition=models.Q(status__in=["received", "failed"]),
            ),
            models.Index(fields=["channel", "status", "-id"], name="inbound_event_status_idx"),
            # What waits for a person (the quarantine page, the dashboard, /metrics): a few
            # rows among millions applied.
            models.Index(
                fields=["channel", "id"],
                name="inbound_event_for_person_idx",
                condition=models.Q(status__in=["quarantined", "failed"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel_id}:{self.topic}:{self.dedupe_key}"


class ConflictAction(models.TextChoices):
    CANCEL_REQUESTED = "cancel_requested", "Cancel sent to the channel"
    CANCEL_REFUSED = "cancel_refused", "The channel refused the cancel"
    BACKORDERED = "backordered", "Backordered"
    REVIEW = "review", "Held for review"


class Customer(models.Model):
    """One shopper across channels, matched by normalised email or phone.

    Matching keys are salted hashes (`customers.hash_of`), so a masked address (Amazon's
    relay e-mail) still matches the next order that carries it without being kept in clear.
    """

    email_hash = models.CharField(max_length=64, blank=True)
    phone_hash = models.CharField(max_length=64, blank=True)
    # In clear only where the channel shows it unmasked; blank otherwise.
    email = models.CharField(max_length=254, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    name = models.CharField(max_length=255, blank=True)
    first_order_at = models.DateTimeField(null=True, blank=True)
    last_order_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        ordering = ["-last_order_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["email_hash"],
                condition=~models.Q(email_hash=""),
                name="customer_unique_email_hash",
            )
        ]
        indexes = [
            models.Index(
                fields=["phone_hash"], name="customer_phone_idx", condition=~models.Q(phone_hash="")
            )
        ]

    def __str__(self) -> str:
        return self.name or self.email or f"customer {self.pk}"


class ChannelOrder(models.Model):
    """An order as the channel last described it, and what the ledger has recorded for it."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CANCELLED = "cancelled", "Cancelled"
        FULFILLED = "fulfilled", "Fulfilled"

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="orders")
    external_id = models.CharField(max_length=255)
    name = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    placed_at = models.DateTimeField()
    # The channel's last-update time of the snapshot applied: an older snapshot is ignored.
    channel_updated_at = models.DateTimeField()
    cancelled_at = models.DateTimeField(null=True, blank=True)
    snapshot = models.JSONField(default=dict)
    created_at = models.DateTimeField(db_default=Now(), editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    # (Defaults live in the database too: the ingest path inserts the row in raw SQL.)
    # The normalised order, whatever the channel: the queue filters on these, routing reads them.
    # Amazon says who fulfils: True for Amazon (AFN), False for the merchant, None: not said.
    fulfilled_by_channel = models.BooleanField(null=True, blank=True)
    is_prime = models.BooleanField(db_default=False)
    shipping_tier = models.CharField(max_length=64, blank=True, db_default="")
    ship_by = models.DateTimeField(null=True, blank=True)
    destination_country = models.CharField(max_length=2, blank=True, db_default="")
    destination_region = models.CharField(max_length=64, blank=True, db_default="")
    weight_grams = models.PositiveIntegerField(null=True, blank=True)
    total_price = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True, db_default="")
    customer = models.ForeignKey(
        "Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
    )
    # What a person decided for an order that lost a last-unit conflict (I8).
    conflict_action = models.CharField(
        max_length=16, choices=ConflictAction.choices, blank=True, db_default=""
    )
    conflict_action_at = models.DateTimeField(null=True, blank=True)
    conflict_action_by = models.CharField(max_length=150, blank=True, db_default="")
    conflict_note = models.CharField(max_length=500, blank=True, db_default="")

    class Meta:
        ordering = ["-placed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"], name="channel_order_unique_external_id"
            )
        ]
        indexes = [
            models.Index(fields=["status", "placed_at"], name="order_status_placed_idx"),
            # The order queue, newest first, a page at a time.
            models.Index(fields=["-placed_at", "-id"], name="order_placed_idx"),
            # A channel's order health and weekly oversell rate read its recent orders.
            models.Index(fields=["channel", "placed_at"], name="order_channel_placed_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.channel_id}:{self.name or self.external_id}"


class PendingCustomerMatch(models.Model):
    """An order an ingest claim applied whose customer is still to be matched
    (channels.customers.match_pending, right after the claim commits), because another
    worker held the shopper's matching keys: who bought changes no channel's quantity, so the
    claim does not wait for them while it holds the SKUs it sells. Kept in the database so a worker that dies in between loses no
    match. Holds what the match needs as Customer keeps it: the keys hashed, the e-mail in
    clear only where the channel shows it."""

    order = models.OneToOneField(
        "ChannelOrder", on_delete=models.CASCADE, related_name="pending_customer_match"
    )
    email_hash = models.CharField(max_length=64, blank=True)
    phone_hash = models.CharField(max_length=64, blank=True)
    email = models.CharField(max_length=254, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    name = models.CharField(max_length=255, blank=True)
    placed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    def __str__(self) -> str:
        return f"customer of order {self.order_id}"


class ChannelOrderLine(models.Model):
    """One line of a channel order and the units the ledger carries for it.

    The counters only grow; each step is a ledger event whose idempotency key names the
    counter's new value, so a replayed snapshot never records a unit twice.
    """

    order = models.ForeignKey(ChannelOrder, on_delete=models.CASCADE, related_name="lines")
    external_id = models.CharField(max_length=255)
    listing = models.ForeignKey(
        Listing, null=True, blank=True, on_delete=models.PROTECT, related_name="order_lines"
    )
    sku = models.ForeignKey(
        "ledger.Sku", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    location = models.ForeignKey(
        "ledger.Location", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    channel_sku = models.CharField(max_length=255, blank=True)
    channel_variant_id = models.CharField(max_length=255, blank=True)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    # Why the line commits at `location`: the channel's own word, the routing rule, or who
    # moved it (I11).
    routed_by = models.CharField(max_length=255, blank=True)
    routed_at = models.DateTimeField(null=True, blank=True)
    quantity = models.PositiveIntegerField()  # items ordered originally
    current_quantity = models.PositiveIntegerField()  # items still ordered (edits, refunds)
    # Units of the SKU per ordered unit (a 6-pack listing sells 6).
    units_per_item = models.PositiveIntegerField(default=1)
    sold_units = models.PositiveIntegerField(default=0)  # recorded as sale events
    cancelled_units = models.PositiveIntegerField(default=0)  # recorded as cancel events
    shipped_units = models.PositiveIntegerField(default=0)  # recorded as shipment events
    restocked_units = models.PositiveIntegerField(default=0)  # returns put back on hand
    # Refund lines and fulfilments already applied to this line ("refund:<id>", "shipment:<id>").
    applied_refs = models.JSONField(default=list, blank=True)
    # Items refunded before shipping (they leave the commitment) and returned after it (they
    # do not: the shipment carries them, whichever of the two arrives first).
    refund_cancelled_items = models.PositiveIntegerField(default=0)
    refund_returned_items = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["order_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "external_id"], name="channel_order_line_unique_external_id"
            )
        ]

    def __str__(self) -> str:
        return f"{self.order_id}:{self.external_id}"

    @property
    def committed_units(self) -> int:
        return self.sold_units - self.cancelled_units - self.shipped_units


class WorkerHeartbeat(models.Model):
    """The last time a worker of each kind (planner, pusher, ingest) finished a round: the
    dead-man switch trips when our own pipeline stalls, not only when a channel goes quiet."""

    kind = models.CharField(max_length=32, unique=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.kind}@{self.beat_at.isoformat()}"


class PushAttempt(models.Model):
    """One call that set quantities on a channel: what was sent, what came back, how long.

    Written before the call goes out (status sending) with its idempotency key and request,
    so a worker killed mid-call leaves a record the next worker resends byte for byte.
    """

    class Status(models.TextChoices):
        SENDING = "sending", "Sending"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        STALE = "stale", "Stale (channel changed since)"
        REFUSED = "refused", "Refused (user errors)"
        # Queued by the channel (Amazon's ACCEPTED, a submitted feed): applied only once a
        # read-back shows it; its listings stay in flight until then.
        ACCEPTED = "accepted", "Accepted (waiting to show on the channel)"
        FAILED = "failed", "Failed (will retry)"
        SHADOW = "shadow", "Shadow (not sent)"

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="push_attempts")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.SENDING)
    idempotency_key = models.CharField(max_length=64, unique=True)
    # [{"listing": id, "version": n, "quantity": q, "change_from": q0}, …]
    items = models.JSONField(default=list)
    request = models.JSONField(default=dict, blank=True)
    response = models.JSONField(default=dict, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    calls = models.PositiveSmallIntegerField(default=0)
    throttled = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(db_default=Now(), editable=False)
    finished_at = models.DateTimeField(null=True, blank=True)
    # From the oldest ledger change behind the pushed quantities to the acknowledgement.
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    # An accepted attempt is read back from then on.
    confirm_after = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["channel", "-id"], name="push_attempt_channel_idx"),
            # The last hour's pushes (the channel page, /metrics) without reading the history.
            models.Index(fields=["started_at"], name="push_attempt_started_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.channel_id}:{self.idempotency_key}:{self.status}"


class ChannelReturn(models.Model):
    """A unit a customer sent back, as the channel reported it, and what we did with it.

    FBA returns come from Amazon's customer returns report; Amazon's own inventory count is the
    authority for units it puts back on sale, so a sellable return is recorded here but moves
    no stock (the next FBA count carries it). Merchant-fulfilled returns wait in the console's
    returns queue for a person to grade them.
    """

    class Handling(models.TextChoices):
        COUNTED_BY_AMAZON = "amazon_count", "Back on sale (in Amazon's count)"
        UNSELLABLE = "unsellable", "Unsellable (recorded with its reason)"
        AMAZON_OWNED = "amazon_owned", "Amazon's (reimbursed)"
        AWAITING_GRADING = "to_grade", "Waiting to be graded"
        UNMAPPED = "unmapped", "Unknown SKU (waiting for a mapping)"
        RESTOCKED = "restocked", "Restocked (graded)"

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="returns")
    # License plate number where the channel has one, else order + SKU + return time.
    dedupe_key = models.CharField(max_length=255)
    order = models.ForeignKey(
        ChannelOrder, null=True, blank=True, on_delete=models.PROTECT, related_name="returns"
    )
    order_external_id = models.CharField(max_length=64, blank=True)
    sku = models.ForeignKey(
        "ledger.Sku", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    channel_sku = models.CharField(max_length=255)
    quantity = models.PositiveIntegerField()
    fulfilment = models.CharField(max_length=8, choices=Listing.Fulfilment.choices)
    disposition = models.CharField(max_length=32, blank=True)
    reason = models.CharField(max_length=64, blank=True)
    channel_status = models.CharField(max_length=255, blank=True)
    customer_comments = models.TextField(blank=True)
    returned_at = models.DateTimeField()
    handling = models.CharField(max_length=16, choices=Handling.choices)
    event = models.ForeignKey(
        "ledger.InventoryEvent", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    raw = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        ordering = ["-returned_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "dedupe_key"], name="channel_return_unique_dedupe_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel_id}:{self.dedupe_key}"


class FbaCount(models.Model):
    """Amazon's latest count of a SKU in an FBA pool, as reported (inventory summary or
    availability notification), and when: reports arrive in any order, and an older one must
    never overwrite a newer one, even one that changed nothing in the ledger."""

    location = models.ForeignKey("ledger.Location", on_delete=models.PROTECT, related_name="+")
    sku = models.ForeignKey("ledger.Sku", on_delete=models.PROTECT, related_name="+")
    counted_at = models.DateTimeField()
    fulfillable = models.PositiveIntegerField(default=0)
    reserved_for_orders = models.PositiveIntegerField(default=0)
    reserved_by_centre = models.PositiveIntegerField(default=0)
    unfulfillable = models.PositiveIntegerField(default=0)
    inbound = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["location", "sku"], name="fba_count_unique_pool_sku")
        ]

    def __str__(self) -> str:
        return f"{self.location_id}:{self.sku_id}@{self.counted_at.isoformat()}"


class OrderShipment(models.Model):
    """A shipment we made of a channel order: its stock left at once; the channel is told
    through this outbox, retried with backoff until it acknowledges (or refuses for good)."""

    class Source(models.TextChoices):
        API = "api", "API"
        CONSOLE = "console", "Console"
        PARTNER = "partner", "Fulfilment partner"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be confirmed on the channel"
        CONFIRMED = "confirmed", "Confirmed on the channel"
        REFUSED = "refused", "Refused by the channel: needs a person"

    order = models.ForeignKey(ChannelOrder, on_delete=models.PROTECT, related_name="shipments")
    # The caller's key (or one we make): the same shipment sent twice is one shipment.
    key = models.CharField(max_length=200, unique=True)
    # [{"line": <line external id>, "quantity": items}]
    lines = models.JSONField(default=list)
    carrier = models.CharField(max_length=64, blank=True)
    tracking_number = models.CharField(max_length=128, blank=True)
    tracking_url = models.URLField(max_length=500, blank=True)
    shipping_method = models.CharField(max_length=64, blank=True)
    shipped_at = models.DateTimeField()
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.API)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(db_default=Now(), editable=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # The channel's id of the confirmation (a Shopify fulfillment), once acknowledged.
    channel_reference = models.CharField(max_length=255, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="shipment_outbox_due_idx",
                condition=models.Q(status="pending"),
            )
        ]

    def __str__(self) -> str:
        return f"shipment {self.key} of order {self.order_id} ({self.status})"


class FulfilmentPartner(models.Model):
    """A 3PL: the location it ships from and where its fulfilment requests go."""

    location = models.OneToOneField(
        "ledger.Location", on_delete=models.PROTECT, related_name="fulfilment_partner"
    )
    name = models.CharField(max_length=255)
    webhook_url = models.URLField(max_length=500, blank=True)
    # Signs each request (HMAC-SHA256 of the body) so the partner can check it came from us.
    secret_sealed = models.TextField(blank=True, editable=False)
    is_active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.name

    @property
    def secret(self) -> str:
        return secrets.unseal(self.secret_sealed).get("secret", "") if self.secret_sealed else ""

    @secret.setter
    def secret(self, value: str) -> None:
        self.secret_sealed = secrets.seal({"secret": value}) if value else ""


class FulfilmentRequest(models.Model):
    """What we asked a fulfilment partner to ship for one order, and whether it acknowledged."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SENT = "sent", "Sent, not acknowledged"
        ACKNOWLEDGED = "acknowledged", "Acknowledged by the partner"
        CANCELLED = "cancelled", "Withdrawn (order cancelled or re-routed)"

    partner = models.ForeignKey(
        FulfilmentPartner, on_delete=models.PROTECT, related_name="requests"
    )
    order = models.ForeignKey(
        ChannelOrder, on_delete=models.PROTECT, related_name="fulfilment_requests"
    )
    # [{"line": <line external id>, "sku": code, "quantity": units}]
    lines = models.JSONField(default=list)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    partner_reference = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "order"],
                condition=~models.Q(status="cancelled"),
                name="one_live_fulfilment_request_per_partner_order",
            )
        ]

    def __str__(self) -> str:
        return f"fulfilment request {self.pk} to {self.partner_id} ({self.status})"


class MappingImport(models.Model):
    """A channel's listings import (its lane's mapping import) run in the background for a
    person, with its progress: the console shows it while it runs and what it found after."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="mapping_imports")
    requested_by = models.CharField(max_length=150, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    # Items read from the channel so far (the channel does not say how many it has).
    read = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    already_mapped = models.PositiveIntegerField(default=0)
    # The channel's items no SKU of ours matched (or several did), one line each, the first
    # UNMATCHED_KEPT; their count in full.
    unmatched = models.JSONField(default=list, blank=True)
    unmatched_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(db_default=Now(), editable=False)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            # One import at a time per channel: a second would read the catalogue again.
            models.UniqueConstraint(
                fields=["channel"],
                condition=models.Q(status="running"),
                name="mapping_import_one_running",
            )
        ]

    def __str__(self) -> str:
        return f"import {self.pk} of {self.channel_id}: {self.status}"
