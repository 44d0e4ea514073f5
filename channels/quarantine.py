"""Quarantine fixed in place: an order line naming an item we did not know is mapped to a SKU
(an existing one, or one created from the row) and the orders waiting on it are applied at
once, without a trip through the admin and a full mapping import."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction

from allocation.services import skus_mark_dirty
from inventory_sync.lib.errors import Conflict, DomainError, NotFound
from ledger.models import Sku

from . import inbound, unmapped
from .lanes.registry import lane_for_kind
from .models import Channel, InboundEvent, Listing

# The page offers a fix for the items of this many of the oldest quarantined events; the rest
# are counted (a catalogue gap usually repeats the same few items on every order).
EVENTS_READ = 500


@dataclass(slots=True)
class WaitingItem:
    """One unknown item of a channel and the quarantined events that name it."""

    channel: Channel
    item: unmapped.Unmapped
    event_ids: list[int] = field(default_factory=list)


def waiting_items(limit: int = EVENTS_READ) -> list[WaitingItem]:
    """The unknown items quarantined events name, the most waited-on first (two queries,
    however many events and channels)."""
    rows = list(
        InboundEvent.objects.filter(status=InboundEvent.Status.QUARANTINED)
        .order_by("id")
        .values_list("id", "channel_id", "outcome")[:limit]
    )
    channels = Channel.objects.in_bulk({channel_id for _, channel_id, _ in rows})
    items: dict[tuple[int, unmapped.Unmapped], WaitingItem] = {}
    for event_id, channel_id, outcome in rows:
        for item in unmapped.parse(outcome):
            key = (channel_id, item)
            if key not in items:
                items[key] = WaitingItem(channels[channel_id], item)
            items[key].event_ids.append(event_id)
    return sorted(items.values(), key=lambda waiting: (-len(waiting.event_ids), waiting.item.label))


@dataclass(frozen=True, slots=True)
class Mapped:
    listing: Listing
    sku_created: bool
    event_ids: list[int]


def map_in_place(
    channel: Channel, item: unmapped.Unmapped, *, sku_code: str, create: bool, title: str = ""
) -> Mapped:
    """Tie the channel's item to our SKU `sku_code` (created first with `create`) and queue
    the events waiting on it again. The caller's transaction holds it all; `reapply` runs the
    events once it has committed."""
    sku_code = sku_code.strip()
    with transaction.atomic():
        sku = _sku_for(sku_code, create=create, title=title)
        external_id = item.variant or item.sku
        if Listing.objects.filter(channel=channel, external_id=external_id).exists():
            raise Conflict(f"{channel.code} already has a listing for {external_id}.")
        listing = lane_for_kind(channel.kind).map_listing(channel, item.variant, item.sku, sku)
        skus_mark_dirty(sku_ids=[sku.pk])
        event_ids = [
            event_id
            for event_id, outcome in InboundEvent.objects.filter(
                channel=channel, status=InboundEvent.Status.QUARANTINED
            ).values_list("id", "outcome")
            if item in unmapped.parse(outcome)
        ]
        InboundEvent.objects.filter(pk__in=event_ids).update(
            status=InboundEvent.Status.RECEIVED, next_attempt_at=None
        )
    return Mapped(listing=listing, sku_created=create, event_ids=event_ids)


def _sku_for(code: str, *, create: bool, title: str) -> Sku:
    if not create:
        sku = Sku.objects.filter(code=code).first()
        if sku is None:
            raise NotFound(f"No SKU {code!r}: pick one of ours, or create it from the row.")
        return sku
    if Sku.objects.filter(code=code).exists():
        raise Conflict(f"SKU {code} exists already: map the item to it instead.")
    sku = Sku(code=code, title=title.strip() or code)
    try:
        sku.full_clean()
    except ValidationError as error:
        raise DomainError(f"SKU {code!r} cannot be created: {'; '.join(error.messages)}") from None
    sku.save()
    return sku


def reapply(event_ids: list[int]) -> dict[str, int]:
    """Apply the events now, in this process (a person waits for the order to show); what is
    left over (held by another worker) is the ingest worker's. Returns the count by outcome."""
    remaining = list(event_ids)
    while remaining and inbound.process_claim(remaining):
        remaining = list(
            InboundEvent.objects.filter(
                pk__in=remaining, status=InboundEvent.Status.RECEIVED
            ).values_list("id", flat=True)
        )
    counts: dict[str, int] = {}
    for status in InboundEvent.objects.filter(pk__in=event_ids).values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts
