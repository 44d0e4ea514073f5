"""An ingest claim: many waiting inbound events applied in one transaction.

One event per transaction costs a commit, a claim query, a status write and a wake-up each,
and asks the same mapping questions again for every order of a flash sale. A claim takes a
few dozen events at once (SKIP LOCKED, so other ingest processes take others), reads their
payloads once, looks their listings up in one query, and takes every lock the claim will need
up front, in the global order (CONTRIBUTING.md): the orders' rows, then the SKUs (a bundle's
components too), then the listings — each group in id order. Then the events are applied in
id order (so the snapshots of one order apply in the order they arrived), and each ends
applied, quarantined, ignored or failed by itself: a poison event rolls back to its savepoint
and the rest of the claim goes on. A shopper whose matching keys another worker holds is
matched after the claim commits (channels.customers.match_in_claim): a sale never waits for
a customer.

Waiting sales are claimed before waiting level readings (level_readings).

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
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Q

from allocation.services import bundle_parts, remember_bundle_parts
from inventory_sync.lib import memo
from inventory_sync.lib.locks import lock_ids, lock_rows
from ledger.models import Sku

from . import orders, routing
from .lanes import registry
from .lanes.base import ClaimKeys
from .models import ChannelOrder, ChannelOrderLine, InboundEvent, Listing

logger = logging.getLogger(__name__)

PENDING = (InboundEvent.Status.RECEIVED, InboundEvent.Status.FAILED)
# How long a level reading may wait behind sales before it is claimed in arrival order again.
READING_PATIENCE = timedelta(seconds=5)


@dataclass
class Claimed:
    """One event of the claim, with what was read of it before any work."""

    event: InboundEvent
    payload: dict | None
    keys: ClaimKeys
    order_id: int | None = None
    sku_ids: set[int] = field(default_factory=set)  # the SKUs its lines name
    lock_skus: set[int] = field(default_factory=set)  # and their bundles' components
    listing_ids: set[int] = field(default_factory=set)


def claimable_events() -> Q:
    """The inbound events of the topics their lanes apply in shared claims."""
    return _of_topics(registry.claim_topics())


def level_readings() -> Q:
    """The claimable events that only report a level (their lane's supersede_keys: only the
    newest per key matters). A sale changes what every other channel may show; a reading only
    confirms or questions a level, and the longer it waits the more of them a newer one
    supersedes. So a claim takes the waiting sales first (lock_claim)."""
    return _of_topics(
        {
            kind: topics & set(registry.lane_for_kind(kind).supersede_keys)
            for kind, topics in registry.claim_topics().items()
        }
    )


def _of_topics(topics_by_kind: dict[str, set[str]]) -> Q:
    match = Q(pk__in=[])
    for kind, topics in topics_by_kind.items():
        if topics:
            match |= Q(channel__kind=kind, topic__in=sorted(topics))
    return match


def lock_claim(
    now: datetime, size: int, *, ids: list[int] | None = None, wait: bool = False
) -> tuple[list[Claimed], bool]:
    """Claim up to `size` waiting events (fresh sales first, then fresh level readings, then
    retries that are due, each oldest first) that no other worker holds, and take every lock
    their application needs; returns those whose locks were all free (_lock_ahead), and
    whether events were claimed whose locks were all held elsewhere. With `wait`, waits for the locks instead (in the
    same global order): call it so in a fresh transaction when a claim found nothing free,
    so the worker makes progress behind the one holding them. Call inside the claim's
    transaction and memo.claim()."""
    waiting = InboundEvent.objects.select_related("channel", "channel__default_location").filter(
        claimable_events(), status__in=PENDING
    )
    if ids is not None:
        waiting = waiting.filter(pk__in=ids)
    fresh = waiting.filter(next_attempt_at__isnull=True)
    # Sales (and any reading that has waited its patience) first, in arrival order; then the
    # readings. The snapshots of one order keep their order: every order topic is a sale.
    readings = level_readings()
    first = fresh.exclude(readings & Q(received_at__gt=now - READING_PATIENCE))
    events = list(lock_rows(first, skip_locked=True)[:size])
    if len(events) < size:
        later = fresh.filter(readings).exclude(pk__in=[event.pk for event in events])
        events += list(lock_rows(later, skip_locked=True)[: size - len(events)])
    if len(events) < size:
        due = waiting.filter(next_attempt_at__lte=now)
        events += list(lock_rows(due, skip_locked=True)[: size - len(events)])
    claimed = [_read(event) for event in events]
    if not claimed:
        return [], False
    ready = _lock_ahead(claimed, wait=wait)
    return ready, not ready


def superseded(claimed: list[Claimed]) -> set[int]:
    """Where only the newest event of a key matters (a lane's supersede_keys: an item's
    level; our own pushes echo back by the hundred), the older ones of the claim: settled
    without being applied."""
    newest: dict[tuple, tuple] = {}
    ranked: list[tuple[tuple, tuple]] = []
    for item in claimed:
        event = item.event
        key_of = registry.lane_for_kind(event.channel.kind).supersede_keys.get(event.topic)
        key = (
            key_of(item.payload) if key_of is not None and isinstance(item.payload, dict) else None
        )
        if key is None:
            continue  # left for the handler (which quarantines a malformed one with a reason)
        key = (event.channel_id, event.topic, *key)
        rank = (event.occurred_at or event.received_at, event.pk)
        ranked.append((key, rank))
        if key not in newest or rank > newest[key]:
            newest[key] = rank
    return {rank[1] for key, rank in ranked if rank != newest[key]}


def _read(event: InboundEvent) -> Claimed:
    try:
        payload = json.loads(bytes(event.body))
    except ValueError:
        return Claimed(event, None, ClaimKeys())  # the handler quarantines it
    keys_of = registry.lane_for_kind(event.channel.kind).claim_keys.get(event.topic)
    keys = keys_of(payload) if keys_of is not None and isinstance(payload, dict) else ClaimKeys()
    return Claimed(event, payload, keys)


def _lock_ahead(claimed: list[Claimed], *, wait: bool) -> list[Claimed]:
    """Take the claim's locks, SKIP LOCKED: the events whose rows are all ours, in claim
    order. An event that needs a row another worker holds (a SKU it is selling) waits for a
    later claim, and so does every later event of the same order: two ingest workers apply
    disjoint events side by side instead of queueing one behind the other."""
    existing = _existing_orders(claimed)
    held_orders = _held(ChannelOrder, set(existing.values()), wait)
    line_skus = _existing_lines(list(existing.values()))
    listings = _map_listings(claimed)
    by_code = _skus_by_code(claimed)
    for item in claimed:
        channel_id = item.event.channel_id
        item.order_id = existing.get((channel_id, item.keys.order))
        variants = {variant for variant, _ in item.keys.lines}
        codes = {code for _, code in item.keys.lines}
        for listing in listings.get(channel_id, ()):
            if listing.external_id in variants or listing.sku.code in codes:
                item.sku_ids.add(listing.sku_id)
                item.listing_ids.add(listing.pk)
        item.sku_ids |= {by_code[code] for code in codes if code in by_code}
        for sku_id, listing_id in line_skus.get((channel_id, item.keys.order), ()):
            item.sku_ids.add(sku_id)
            if listing_id is not None:
                item.listing_ids.add(listing_id)
    remember_bundle_parts({sku_id for item in claimed for sku_id in item.sku_ids})
    for item in claimed:
        item.lock_skus = item.sku_ids | {
            part for sku_id in item.sku_ids for part, _, _ in bundle_parts(sku_id)
        }
    routing.remember_sources({pk for item in claimed for pk in item.listing_ids})
    _level_listings(claimed)
    wanted_skus = {sku_id for item in claimed for sku_id in item.lock_skus}
    held_skus = _held(Sku, wanted_skus, wait)
    memo.remember(orders.LOCKED_SKUS, wanted_skus - held_skus)
    held_listings = _held(Listing, {pk for item in claimed for pk in item.listing_ids}, wait)
    ready, waiting_orders = [], set()
    for item in claimed:
        order_key = (item.event.channel_id, item.keys.order) if item.keys.order else None
        if (
            order_key in waiting_orders
            or item.order_id in held_orders
            or item.lock_skus & held_skus
            or item.listing_ids & held_listings
        ):
            if order_key is not None:
                waiting_orders.add(order_key)
            continue
        ready.append(item)
    return ready


def _held(model, ids: set[int], wait: bool) -> set[int]:
    """Lock the rows `ids` (in id order) that no other transaction holds, or with `wait` all
    of them; the ones held elsewhere."""
    if not ids:
        return set()
    return ids - set(lock_ids(model.objects.filter(pk__in=ids), skip_locked=not wait))


def _existing_orders(claimed: list[Claimed]) -> dict[tuple[int, str], int]:
    """The claim's orders that exist already (a new one is created, and so locked, by its
    own event: only a second worker creating the same order can wait on it)."""
    match = Q()
    for item in claimed:
        if item.keys.order:
            match |= Q(channel_id=item.event.channel_id, external_id=item.keys.order)
    if not match:
        return {}
    return {
        (channel_id, external_id): pk
        for pk, channel_id, external_id in ChannelOrder.objects.filter(match).values_list(
            "pk", "channel_id", "external_id"
        )
    }


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


def _level_listings(claimed: list[Claimed]) -> None:
    """The listings the claim's level events name by a lane column, onto each event."""
    match = Q()
    for item in claimed:
        if item.keys.listings_by is not None:
            column, values = item.keys.listings_by
            match |= Q(channel_id=item.event.channel_id, **{f"{column}__in": values})
    if not match:
        return
    columns = {item.keys.listings_by[0] for item in claimed if item.keys.listings_by is not None}
    rows = Listing.objects.filter(match).values("pk", "channel_id", *columns)
    for row in rows:
        for item in claimed:
            if item.keys.listings_by is None or item.event.channel_id != row["channel_id"]:
                continue
            column, values = item.keys.listings_by
            if row[column] in values:
                item.listing_ids.add(row["pk"])


def date_causes(claimed: list[Claimed], applied: set[int]) -> None:
    """A SKU a sale made dirty was changed when we received the sale, not when the ingest got
    to it: its dirty mark (the push window's start, channels.push) is the webhook's arrival,
    so a backlog shortens the wait for the push instead of adding to it."""
    received: dict[int, datetime] = {}
    for item in claimed:
        if item.event.pk not in applied:
            continue
        at = item.event.received_at
        for sku_id in item.lock_skus:
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
