"""An ingest claim: many waiting inbound events applied in one transaction.

One event per transaction costs a commit, a claim query, a status write and a wake-up each,
and asks the same mapping questions again for every order of a flash sale. A claim takes a
few dozen events at once (SKIP LOCKED, so other ingest processes take others), reads their
payloads once, looks their listings up in one query, and takes every lock the claim will need
up front, in the global order (CONTRIBUTING.md): the orders' rows, then the SKUs (a bundle's
components too), then the listings, then the customers' matching keys — each group in id
order. Then each event is applied in a savepoint of its own, in id order (so the snapshots of
one order apply in the order they arrived), and ends applied, quarantined, ignored or failed
by itself: a poison event rolls back to its savepoint and the rest of the claim goes on.

Only topics a lane gives `claim_keys` for come here; the others (an edited order read back
from the channel first) keep a transaction each (channels.inbound.process_one).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Q

from allocation.services import bundle_parts, remember_bundle_parts
from inventory_sync.lib import memo
from inventory_sync.lib.locks import lock_ids, lock_rows
from ledger.models import Sku

from . import customers, orders, routing
from .lanes.base import ClaimKeys
from .lanes.registry import lane_for_kind
from .models import ChannelOrder, ChannelOrderLine, InboundEvent, Listing

logger = logging.getLogger(__name__)

PENDING = (InboundEvent.Status.RECEIVED, InboundEvent.Status.FAILED)


@dataclass
class Claimed:
    """One event of the claim, with what was read of it before any work."""

    event: InboundEvent
    payload: dict | None
    keys: ClaimKeys
    sku_ids: set[int] = field(default_factory=set)


def claimable(kind: str, topic: str) -> bool:
    return topic in lane_for_kind(kind).claim_keys


def lock_claim(ids: list[int]) -> list[Claimed]:
    """Take the waiting events among `ids` that no other worker holds, and every lock their
    application needs. Call inside the claim's transaction and memo.claim()."""
    events = list(
        lock_rows(
            InboundEvent.objects.select_related("channel", "channel__default_location").filter(
                pk__in=ids, status__in=PENDING
            ),
            skip_locked=True,
        )
    )
    # Applied in the order asked (fresh events before retries that are due, as the caller
    # lists them), not the lock order.
    position = {event_id: n for n, event_id in enumerate(ids)}
    claimed = [_read(event) for event in sorted(events, key=lambda e: position[e.pk])]
    if claimed:
        _lock_ahead(claimed)
    return claimed


def _read(event: InboundEvent) -> Claimed:
    try:
        payload = json.loads(bytes(event.body))
    except ValueError:
        return Claimed(event, None, ClaimKeys())  # the handler quarantines it
    keys_of = lane_for_kind(event.channel.kind).claim_keys.get(event.topic)
    keys = keys_of(payload) if keys_of is not None and isinstance(payload, dict) else ClaimKeys()
    return Claimed(event, payload, keys)


def _lock_ahead(claimed: list[Claimed]) -> None:
    order_ids = _lock_orders(claimed)
    line_skus = _existing_lines(order_ids)
    listings = _map_listings(claimed)
    sku_ids: set[int] = set()
    listing_ids: set[int] = set()
    by_code = _skus_by_code(claimed)
    for item in claimed:
        channel_id = item.event.channel_id
        variants = {variant for variant, _ in item.keys.lines}
        codes = {code for _, code in item.keys.lines}
        for listing in listings.get(channel_id, ()):
            if listing.external_id in variants or listing.sku.code in codes:
                item.sku_ids.add(listing.sku_id)
                listing_ids.add(listing.pk)
        item.sku_ids |= {by_code[code] for code in codes if code in by_code}
        for sku_id, listing_id in line_skus.get((channel_id, item.keys.order), ()):
            item.sku_ids.add(sku_id)
            if listing_id is not None:
                listing_ids.add(listing_id)
        sku_ids |= item.sku_ids
    remember_bundle_parts(sku_ids)
    sku_ids |= {part for sku_id in sku_ids for part, _, _ in bundle_parts(sku_id)}
    if sku_ids:
        memo.remember(orders.LOCKED_SKUS, set(lock_ids(Sku.objects.filter(pk__in=sku_ids))))
    routing.remember_sources(listing_ids)
    listing_ids |= _level_listings(claimed)
    if listing_ids:
        lock_ids(Listing.objects.filter(pk__in=listing_ids))
    if connection.vendor == "postgresql":
        keys = {
            key
            for item in claimed
            if item.keys.customer is not None
            for key in customers.matching_keys(item.keys.customer)
        }
        customers.lock_matching_keys(keys)


def _lock_orders(claimed: list[Claimed]) -> list[int]:
    """The claim's orders that exist already, locked (a new one is created, and so locked,
    by its own event: only a second worker creating the same order can wait on it)."""
    match = Q()
    for item in claimed:
        if item.keys.order:
            match |= Q(channel_id=item.event.channel_id, external_id=item.keys.order)
    if not match:
        return []
    return lock_ids(ChannelOrder.objects.filter(match))


def _skus_by_code(claimed: list[Claimed]) -> dict[str, int]:
    """SKUs a line names by code (a line without a listing is sold as its SKU)."""
    codes = {code for item in claimed for _, code in item.keys.lines if code}
    if not codes:
        return {}
    return dict(Sku.objects.filter(code__in=codes).values_list("code", "id"))


def _existing_lines(order_ids: list[int]) -> dict[tuple[int, str], list[tuple[int, int | None]]]:
    lines: dict[tuple[int, str], list[tuple[int, int | None]]] = defaultdict(list)
    for channel_id, external_id, sku_id, listing_id in ChannelOrderLine.objects.filter(
        order_id__in=order_ids, sku__isnull=False
    ).values_list("order__channel_id", "order__external_id", "sku_id", "listing_id"):
        lines[(channel_id, external_id)].append((sku_id, listing_id))
    return lines


def _map_listings(claimed: list[Claimed]) -> dict[int, list[Listing]]:
    """Every listing the claim's order lines name, one query per channel, remembered for the
    claim so each line's mapping is a lookup (orders._listing_for)."""
    wanted: dict[int, tuple[set[str], set[str]]] = defaultdict(lambda: (set(), set()))
    for item in claimed:
        variants, skus = wanted[item.event.channel_id]
        variants.update(variant for variant, _ in item.keys.lines if variant)
        skus.update(code for _, code in item.keys.lines if code)
    found = {}
    for channel_id, (variants, skus) in wanted.items():
        if not (variants or skus):
            continue
        candidates = orders.read_listings(channel_id, variants, skus)
        found[channel_id] = candidates
        for item in claimed:
            if item.event.channel_id != channel_id:
                continue
            for variant, code in item.keys.lines:
                memo.remember(
                    orders.listing_key(channel_id, variant, code),
                    orders.pick_listing(candidates, variant, code),
                )
    return found


def _level_listings(claimed: list[Claimed]) -> set[int]:
    match = Q()
    for item in claimed:
        if item.keys.listings_by is not None:
            column, values = item.keys.listings_by
            match |= Q(channel_id=item.event.channel_id, **{f"{column}__in": values})
    if not match:
        return set()
    return set(Listing.objects.filter(match).values_list("id", flat=True))


def date_causes(claimed: list[Claimed], applied: set[int]) -> None:
    """A SKU a sale made dirty was changed when we received the sale, not when the ingest got
    to it: its dirty mark (the push window's start, channels.push) is the webhook's arrival,
    so a backlog shortens the wait for the push instead of adding to it."""
    received: dict[int, datetime] = {}
    for item in claimed:
        if item.event.pk not in applied:
            continue
        at = item.event.received_at
        parts = {part for sku_id in item.sku_ids for part, _, _ in bundle_parts(sku_id)}
        for sku_id in item.sku_ids | parts:
            if sku_id not in received or at < received[sku_id]:
                received[sku_id] = at
    if not received or connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ledger_sku SET allocation_dirty_since = cause.at"
            " FROM unnest(%s::bigint[], %s::timestamptz[]) AS cause(id, at)"
            " WHERE ledger_sku.id = cause.id AND ledger_sku.allocation_dirty_since > cause.at",
            [list(received), list(received.values())],
        )


@contextmanager
def in_claim() -> Iterator[None]:
    """The transaction and memo of one claim."""
    with transaction.atomic(), memo.claim():
        yield
