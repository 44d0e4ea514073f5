"""The inbox: every webhook, notification and poll result stored raw and at most once (I3,
I4), before anything is applied. Lanes store here and call back into these helpers from their
inbound handlers; the ingest worker (channels.inbound) applies what waits.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection

from inventory_sync.lib import wakeups
from inventory_sync.lib.errors import DomainError
from inventory_sync.lib.inputs import has_control_characters

from .models import Channel, InboundEvent, Listing
from .orders import ApplyOutcome

logger = logging.getLogger(__name__)

# Announced once a new inbound event is committed: the channels app rings the ingest worker.
INBOUND_CHANGED = "channels.inbound.changed"
# Announced when a channel reports more than any state of ours explains: reconciliation looks
# at it (after its grace window) instead of waiting for the next scheduled run.
LEVEL_UNEXPECTED = "channels.level_unexpected"
CLOCK_GRAIN = timedelta(seconds=1)
_WAITING = (InboundEvent.Status.RECEIVED, InboundEvent.Status.FAILED)


class Deferred(DomainError):
    """Not applicable now for a reason that passes by itself (a channel's rate budget):
    try again after `retry_after` seconds, without holding up other events."""

    code = "deferred"
    retryable = True

    def __init__(self, detail: str, *, retry_after: float) -> None:
        super().__init__(detail)
        self.retry_after = max(float(retry_after), 0.5)


# A header kept with a raw payload: far above any real one (a shop domain, an API version).
HEADER_MAX = 255


class Unstorable(ValueError):
    """A delivery whose identity does not fit the inbox (a topic or id longer than its column,
    a control character PostgreSQL refuses): the sender is told 400, and nothing is stored."""


def _column_size(name: str) -> int:
    return InboundEvent._meta.get_field(name).max_length


def check_storable(
    *, topic: str, dedupe_key: str, delivery_id: str, headers: Mapping[str, str]
) -> None:
    """Raise Unstorable unless store() can keep these exactly as given."""
    for what, value, limit in (
        ("topic", topic, _column_size("topic")),
        ("event id (with its topic)", dedupe_key, _column_size("dedupe_key")),
        ("delivery id", delivery_id, _column_size("delivery_id")),
        *((name, value, HEADER_MAX) for name, value in headers.items()),
    ):
        if len(value) > limit:
            raise Unstorable(f"The {what} is longer than {limit} characters.")
        if has_control_characters(value):
            raise Unstorable(f"The {what} contains a control character.")


@dataclass(frozen=True, slots=True)
class Stored:
    id: int
    created: bool
    # A redelivery whose body differs from the first one's (I3: the same key with another
    # body is refused, never applied).
    conflict: bool = False
    # Not applied yet (received, or failed and to be tried again): a redelivery of it rings
    # the ingest worker again, in case the first delivery's wake-up was lost.
    waiting: bool = False


def store(
    *,
    channel: Channel,
    source: str,
    topic: str,
    dedupe_key: str,
    body: bytes,
    headers: Mapping[str, str] | None = None,
    delivery_id: str = "",
    occurred_at: datetime | None = None,
) -> Stored:
    """Store one inbound payload raw, once per (channel, dedupe key).

    One INSERT … ON CONFLICT DO NOTHING: a redelivery costs no lock and no second row (it
    only counts the delivery). Safe to call inside or outside a transaction. Unstorable when
    the topic, key, delivery id or a kept header does not fit its column (check_storable).
    """
    check_storable(
        topic=topic, dedupe_key=dedupe_key, delivery_id=delivery_id, headers=headers or {}
    )
    table = InboundEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (channel_id, source, topic, dedupe_key, delivery_id, headers,"
            " body, occurred_at, deliveries, status, attempts, outcome)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 1, 'received', 0, '')"
            " ON CONFLICT (channel_id, dedupe_key) DO NOTHING RETURNING id",
            [
                channel.pk,
                source,
                topic,
                dedupe_key,
                delivery_id,
                json.dumps(dict(headers or {})),
                body,
                occurred_at,
            ],
        )
        row = cursor.fetchone()
        if row is not None:
            return Stored(row[0], True)
        # Only a true redelivery counts: the same key with another body is refused (409), and
        # a refused delivery is not one of the event's.
        cursor.execute(
            f"UPDATE {table} SET deliveries = deliveries + 1"
            " WHERE channel_id = %s AND dedupe_key = %s AND body = %s RETURNING id, status",
            [channel.pk, dedupe_key, body],
        )
        row = cursor.fetchone()
        if row is not None:
            return Stored(row[0], False, waiting=row[1] in _WAITING)
        cursor.execute(
            f"SELECT id FROM {table} WHERE channel_id = %s AND dedupe_key = %s",
            [channel.pk, dedupe_key],
        )
        return Stored(cursor.fetchone()[0], False, conflict=True)


def answer_stored(channel: Channel, stored: Stored, what: str) -> tuple[int, dict[str, str]]:
    """The answer to a stored delivery (I3): the same id with another body is refused; a new
    one, or a redelivery of one still waiting, rings the ingest worker once the row is
    committed (the ring never raises: the row is stored, the answer is 200 either way)."""
    if stored.conflict:
        logger.warning(
            "channel %s: %s redelivered with another body; the first one stands",
            channel.code,
            what,
        )
        return 409, {"detail": f"This {what.split()[0]} id was delivered before with another body."}
    if stored.created or stored.waiting:
        wakeups.notify_on_commit(INBOUND_CHANGED)
    return 200, {"status": "received" if stored.created else "duplicate"}


def retry_quarantined(*, channel: Channel | None = None) -> int:
    """Send quarantined events back to the queue (after a mapping fix)."""
    events = InboundEvent.objects.filter(status=InboundEvent.Status.QUARANTINED)
    if channel is not None:
        events = events.filter(channel=channel)
    return events.update(status=InboundEvent.Status.RECEIVED, next_attempt_at=None)


def outcome_of(result: ApplyOutcome) -> tuple[str, str]:
    status = {
        "applied": InboundEvent.Status.APPLIED,
        "quarantined": InboundEvent.Status.QUARANTINED,
    }.get(result.status, InboundEvent.Status.IGNORED)
    detail = result.detail or f"{len(result.events)} ledger event(s)"
    return status, detail


def observe_level(listing: Listing, quantity: int | None, observed_at) -> tuple[str, str]:
    """Record what the channel shows (the caller holds the listing's row lock)."""
    # Channels stamp their events to the whole second, our own reads to the microsecond: an
    # event of the same second as our last read is not older than it.
    if listing.observed_at is not None and observed_at < listing.observed_at - CLOCK_GRAIN:
        return InboundEvent.Status.IGNORED, "older than the level already observed"
    if listing.pushed_at is not None and observed_at < listing.pushed_at - CLOCK_GRAIN:
        # The echo of an earlier set of ours, delivered (or applied) after a later one was
        # acknowledged: the channel has shown the later one since. As reconciliation reads it.
        return InboundEvent.Status.IGNORED, "older than our last acknowledged set"
    listing.observed_quantity = quantity
    listing.observed_at = observed_at
    listing.save(update_fields=["observed_quantity", "observed_at"])
    expected = listing.expected_quantity
    if quantity is not None and quantity in (expected, listing.in_flight_quantity):
        return InboundEvent.Status.APPLIED, f"echo: channel shows {quantity} as expected"
    if (
        quantity is not None
        and expected is not None
        and quantity > max(expected, listing.in_flight_quantity or 0)
    ):
        # More than we set: the direction that oversells (a sale only ever lowers a level,
        # and its order is on its way; lower gaps wait for the scheduled reconciliation).
        wakeups.notify_on_commit(LEVEL_UNEXPECTED)
    return InboundEvent.Status.APPLIED, (
        f"drift signal: channel shows {quantity}, expected {expected}"
    )
