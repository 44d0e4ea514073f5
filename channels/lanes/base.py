"""The lane protocol: everything the channels core asks of a channel kind, and the kind-neutral
types that cross the line between them.

The core (push pipeline, ingest, polling, shipping, incidents, console, admin, webhooks) knows
channels only through `Lane`; a lane knows one channel's API and our rows. A new channel kind is
a package under `channels.lanes` with a `Lane` subclass, and one line in `registry.py`.

What a lane provides, by area:
- push: `send` (and, for a channel whose acceptance only means "queued", `confirm` with its
  read-back interval and apply deadline), `push_payload` (what `send` needs of a listing),
  `read_levels` (bulk: what the channel shows now);
- reconciliation: `read_all_levels` (every listing of a channel read back, with what the read
  cost in calls) and `read_after_write` (whether a push is worth reading back at once);
- orders: `poll_orders(channel, since, until)` (the polling net under webhooks, with the
  window it reads), `fetch_order`, `confirm_shipment`, `cancel_order`;
- inbound: the topics it handles and a handler for each (`inbound_handlers`), what must be
  read from the channel before the handler's transaction (`prefetchers`), and topics where
  only the newest event per key matters (`supersede_keys`), and for the topics it can apply
  in a shared claim, what each event will lock (`claim_keys`);
- set-up: `import_mapping`, its periodic jobs (Celery task names and default schedules), its
  webhook URL patterns and its credential fields for the admin form.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from inventory_sync.lib.errors import DomainError

if TYPE_CHECKING:
    from django import forms
    from django.urls import URLPattern

    from channels.models import Channel, ChannelOrder, InboundEvent, Listing, PushAttempt


# --- errors ----------------------------------------------------------------------------------


class ChannelError(Exception):
    """A channel call that did not succeed, in the terms the core decides on.

    `retryable`: trying again later can help (throttled, unavailable, timed out).
    `maybe_applied`: a write may have landed although no answer came back: re-read the
    channel before sending it again. `retry_after`: seconds the channel asked us to wait.
    `call`: the record of the call on the wire (channels.lanes.calls.CallRecord), when one
    was made.
    """

    retryable: bool = False
    maybe_applied: bool = False
    retry_after: float | None = None
    call: Any = None

    def __init__(self, message: str = "", *args: Any) -> None:
        super().__init__(message, *args)
        self.message = message


class CredentialsError(ValueError):
    """A channel's credentials or ids are missing or malformed: fix the channel, not a retry."""


class PayloadError(ValueError):
    """An inbound payload lacks what its topic must carry (the event is quarantined)."""


class ChannelRefused(DomainError):
    """The channel answered no, or could not be reached: nothing was done there.

    `retryable`: the same request may succeed later (throttled, unavailable, timed out, the
    channel's credentials refused while someone fixes them); otherwise the channel refused it
    for good (the order is cancelled there, the request is invalid) and a person must look.
    `retry_after`: seconds the channel asked us to wait, when it said.
    """

    code = "channel_refused"
    http_status = 502

    def __init__(
        self, detail: str, *, retryable: bool = False, retry_after: float | None = None, **extra
    ) -> None:
        super().__init__(detail, **extra)
        self.retryable = retryable
        self.retry_after = retry_after


# --- push --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PushItem:
    listing_id: int
    version: int
    quantity: int
    change_from: int | None
    # channel_delta when the item was claimed: orders ingested after it happened on the
    # channel after our set (an earlier one would have made the compare stale).
    delta_at_claim: int
    external_id: str
    # What the lane needs to address the listing in its API (Lane.push_payload), kept with
    # the attempt so a resend after a crash sends exactly the same request.
    payload: Mapping[str, str] = field(default_factory=dict)
    # The oldest ledger change this quantity carries (push latency runs from it).
    cause_at: str = ""
    # Below what the channel may show (with what is in flight): it protects against oversell.
    decrease: bool = False
    # An accepted set this one replaces while it may still land: [attempt id, quantity,
    # version]. If this one ends without landing, the listing is in flight to that one again.
    supersedes: tuple[int, int, int] | None = None

    def as_dict(self) -> dict:
        return {
            "listing": self.listing_id,
            "version": self.version,
            "quantity": self.quantity,
            "change_from": self.change_from,
            "delta_at_claim": self.delta_at_claim,
            "external_id": self.external_id,
            "payload": dict(self.payload),
            "cause_at": self.cause_at,
            "decrease": self.decrease,
            "supersedes": list(self.supersedes) if self.supersedes else None,
        }

    @classmethod
    def from_dict(cls, data: dict) -> PushItem:
        payload = dict(data.get("payload") or {})
        # Attempts written before the payload existed carried Shopify's two ids at the top.
        for legacy in ("inventory_item_id", "location_id"):
            if data.get(legacy):
                payload.setdefault(legacy, data[legacy])
        return cls(
            listing_id=data["listing"],
            version=data["version"],
            quantity=data["quantity"],
            change_from=data["change_from"],
            delta_at_claim=data["delta_at_claim"],
            external_id=data["external_id"],
            payload=payload,
            cause_at=data.get("cause_at", ""),
            decrease=data.get("decrease", False),
            supersedes=tuple(data["supersedes"]) if data.get("supersedes") else None,
        )


@dataclass(slots=True)
class SendResult:
    """What a lane learned from one call. `retry` means the call may not have landed and must
    be resent as is; otherwise every item has an outcome."""

    acknowledged: set[int] = field(default_factory=set)
    stale: set[int] = field(default_factory=set)
    refused: dict[int, str] = field(default_factory=dict)
    # Queued by the channel, not yet shown: read back later (Lane.confirm).
    accepted: set[int] = field(default_factory=set)
    # What a read-back found the channel showing (Lane.confirm), per listing.
    observed: dict[int, int | None] = field(default_factory=dict)
    # What the channel says about a listing it has not shown the quantity on (Amazon's issues
    # found after ACCEPTED): shown to people while the push waits, never a refusal by itself,
    # since an issue carries no time to tell it from one about an older submission.
    problems: dict[int, str] = field(default_factory=dict)
    retry: bool = False
    error: str = ""
    request: dict = field(default_factory=dict)
    response: dict = field(default_factory=dict)
    http_status: int | None = None
    calls: int = 0
    throttled: int = 0


# --- reconciliation ----------------------------------------------------------------------------


@dataclass(slots=True)
class LevelRead:
    """What a bulk read of a channel's quantities found, and what it cost."""

    # listing id -> quantity the channel shows (None: not stocked, untracked or not found)
    levels: dict[int, int | None]
    # API calls spent: every HTTP request to the channel, retries and 429s included
    calls: int = 0
    throttled: int = 0  # of which answered 429 / THROTTLED
    # How it was read, for people: "inventoryLevel nodes", "merchant listings report", ...
    method: str = ""
    # Where the channel tells it (Shopify's `committed` at the location): units in open orders
    committed: dict[int, int] = field(default_factory=dict)


# --- orders ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Shipment:
    carrier: str
    tracking_number: str
    carrier_name: str = ""  # the carrier's name when `carrier` is "Other"
    shipping_method: str = ""
    ship_date: datetime | None = None
    tracking_url: str = ""
    # (order line external id, items) this package carries; empty: every line still open.
    lines: tuple[tuple[str, int], ...] = ()
    # Our id of the shipment, the same on every retry: a lane that must tell a repeated
    # confirmation from a new one may key on it.
    reference: str = ""


@dataclass(frozen=True, slots=True)
class PolledOrder:
    id: str
    updated_stamp: str  # as the channel wrote it (the dedupe key keeps its precision)
    updated: datetime | None
    placed: datetime | None
    body: dict
    topic: str  # what the ingest worker applies it as


class PollSkipped(Exception):
    """The channel's rate limit has no room for a poll now (the watermark stays)."""


# How far back a poll reads before its watermark: the channel's clock and index lag.
POLL_OVERLAP = timedelta(minutes=5)


# --- set-up ------------------------------------------------------------------------------------


class MappingConflict(DomainError):
    """The channel's item cannot be tied to one SKU of ours as asked (no such variant on the
    channel, or several): a person maps it from the channel's side."""

    code = "mapping_conflict"
    http_status = 409


@dataclass(slots=True)
class MappingReport:
    """What a mapping import did: listings created, those already there, and the channel's
    offers a person must resolve (each described in one line)."""

    created: list[str] = field(default_factory=list)
    already_mapped: int = 0
    unmatched: list[dict] = field(default_factory=list)
    ambiguous: list[dict] = field(default_factory=list)
    corrected: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"{len(self.created)} listing(s) created, {self.already_mapped} already mapped, "
            f"{len(self.unmatched)} unmatched"
        )
        if self.ambiguous:
            text += f", {len(self.ambiguous)} ambiguous"
        return text + "."


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    """A job a lane needs on a schedule: beat entry name → registered Celery task name."""

    entry: str
    task: str
    schedule: Any  # seconds or a celery crontab
    expires: float

    def beat_entry(self) -> dict:
        return {"task": self.task, "schedule": self.schedule, "options": {"expires": self.expires}}


@dataclass(frozen=True, slots=True)
class CredentialField:
    """A write-only credential in the admin form; `previous` keeps the old value during a
    rotation (a webhook signed with the old secret, a notification with the old key)."""

    name: str
    field: forms.Field
    previous: str | None = None


@dataclass(frozen=True, slots=True)
class ClaimKeys:
    """What applying one inbound event will lock, read from its payload alone (no query).

    The ingest worker applies a claim of events in one transaction and takes every lock the
    claim needs up front, in the global order (orders, SKUs, listings), so two
    claims sharing a SKU queue behind each other instead of deadlocking. A topic without
    claim keys is applied in a transaction of its own.
    """

    order: str = ""  # the order's external id on the channel
    # Each line's (listing external id, SKU code), either blank, as the lane's order parser
    # reads them (OrderLineSnapshot.variant_id, .sku).
    lines: tuple[tuple[str, str], ...] = ()
    # Listings found by one of the lane's own columns (an inventory item id): (column, values).
    listings_by: tuple[str, tuple[str, ...]] | None = None


InboundHandler = Callable[["Channel", dict, "InboundEvent"], tuple[str, str]]
ClaimKeysOf = Callable[[dict], ClaimKeys]
Prefetcher = Callable[["Channel", dict], Any]
SupersedeKey = Callable[[dict], tuple | None]
Receiver = Callable[[int, Mapping[str, str], bytes], tuple[int, dict[str, str]]]


class Lane:
    """One channel kind. Subclasses set what they support; the defaults say "not here"."""

    kind: ClassVar[str] = ""
    label: ClassVar[str] = ""  # how people name the channel kind ("Shopify")
    max_batch: ClassVar[int] = 100

    # A channel whose acceptance means "queued" (it answers `accepted`; confirm reads it back)
    # sets these.
    confirm_interval: timedelta = timedelta(seconds=5)
    apply_deadline: timedelta = timedelta(minutes=30)

    # True: an acknowledged push is read back within seconds because the read is cheap (bulk,
    # few calls); where it is dear, the next reconciliation is the read-back.
    read_after_write: ClassVar[bool] = False

    # Orders polling: None = never polled; else the least seconds between two polls.
    orders_poll_seconds: ClassVar[int | None] = None
    can_cancel_orders: ClassVar[bool] = False
    can_confirm_shipments: ClassVar[bool] = False

    inbound_handlers: ClassVar[Mapping[str, InboundHandler]] = {}
    prefetchers: ClassVar[Mapping[str, Prefetcher]] = {}
    supersede_keys: ClassVar[Mapping[str, SupersedeKey]] = {}
    claim_keys: ClassVar[Mapping[str, ClaimKeysOf]] = {}
    periodic_jobs: ClassVar[Sequence[PeriodicJob]] = ()
    # The WSGI fast path for this kind's webhook endpoint (channels.intake), if it takes one.
    fast_receiver: ClassVar[Receiver | None] = None

    # --- push
    def push_payload(self, channel: Channel, listing: Listing) -> dict[str, str]:
        return {}

    def send(self, channel: Channel, items: Sequence[PushItem], key: str) -> SendResult:
        raise NotImplementedError(f"{self.kind} lane cannot push quantities")

    def confirm(
        self, channel: Channel, items: Sequence[PushItem], attempt: PushAttempt
    ) -> SendResult:
        """Where the accepted items stand: `observed` (read back), `refused` (the channel's
        processing rejected them), `accepted` (still processing), or `retry` (could not
        tell now). Items in none of these were not applied."""
        raise NotImplementedError(f"{self.kind} lane has no read-back")

    def read_levels(self, channel: Channel, listings: Sequence[Listing]) -> dict[int, int | None]:
        """Current channel quantity per listing id (None: not stocked / untracked)."""
        raise NotImplementedError(f"{self.kind} lane cannot read levels")

    def read_all_levels(self, channel: Channel, listings: Sequence[Listing]) -> LevelRead:
        """Every given listing read back for reconciliation, with the calls it took. A lane
        that cannot count its calls reports none (and says so in `method`)."""
        return LevelRead(levels=self.read_levels(channel, listings), method="read_levels")

    # --- orders
    def poll_window(self, channel: Channel, now: datetime) -> tuple[datetime, datetime | None]:
        """What this poll reads: from the watermark less an overlap to now (None)."""
        return channel.orders_polled_until - POLL_OVERLAP, None

    def poll_finished(self, channel: Channel, *, finished: bool) -> None:
        """Told whether the last poll read its whole window (a lane may resize it)."""

    def poll_orders(
        self, channel: Channel, since: datetime, until: datetime | None
    ) -> Iterator[PolledOrder]:
        raise NotImplementedError(f"{self.kind} lane does not poll orders")

    def fetch_order(self, channel: Channel, order_id: str) -> dict | None:
        raise NotImplementedError(f"{self.kind} lane cannot read an order")

    def confirm_shipment(self, order: ChannelOrder, shipment: Shipment) -> str:
        """Tell the channel we shipped the shipment's lines; returns the channel's id of the
        confirmation ("" when it gives none). Raises ChannelRefused (`retryable` or not),
        DomainError or Conflict (refused before sending).

        Called again for the same shipment after a failure that may have landed (a timeout):
        the lane finds its earlier confirmation on the channel rather than make a second."""
        raise NotImplementedError(f"{self.kind} lane has no shipment confirmation")

    def cancel_order(self, order: ChannelOrder, *, reason: str) -> None:
        """Cancel on the channel (raises ChannelError); the release comes back inbound."""
        raise NotImplementedError(f"{self.kind} lane cannot cancel orders")

    # --- set-up
    def import_mapping(self, channel: Channel, *, progress=None) -> MappingReport:
        raise NotImplementedError(f"{self.kind} lane has no mapping import")

    def map_listing(self, channel: Channel, variant: str, channel_sku: str, sku) -> Listing:
        """A listing of `sku` for the channel's item an order named and we did not know (the
        quarantine's fix in place), with the channel's ids a push needs, read from the
        channel."""
        raise MappingConflict(
            f"A {self.kind} channel's items are mapped in the admin, not in place."
        )

    def describe_unmapped(self, row: dict) -> str:
        """One line for a person about an offer the mapping import could not match."""
        return ", ".join(f"{key} {value!r}" for key, value in row.items())

    def webhook_urls(self) -> list[URLPattern]:
        return []

    def credential_fields(self) -> list[CredentialField]:
        return []
