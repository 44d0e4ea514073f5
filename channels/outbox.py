"""The shipment outbox: a shipment we make (through the API, the console or a fulfilment
partner) leaves the ledger at once and is told to its channel afterwards, retried until the
channel acknowledges it or refuses it for good.

1. `ship_order`, in one transaction: the order's row and lines locked, the lines checked
   against what each still has to ship, an OrderShipment row written `pending` under the
   caller's key, and the shipped units recorded as one shipment event per line at the line's
   location (channels.orders.apply_shipment, idempotent per shipment and line). On commit the
   delivery wakes (a lost wake-up waits for beat's sweep, every minute).
2. `deliver_due_shipments` claims due pending rows (SKIP LOCKED; the claim moves their next
   attempt a lease ahead, so a worker that dies mid-call leaves them due again later), calls
   the channel outside any transaction and records its answer in a short one: acknowledged →
   `confirmed` with the channel's reference; a failure worth retrying (throttled, down, timed
   out) → tried again after a backoff of 30 s doubling to 30 min, jittered, for as long as it
   takes; a refusal for good (the order cancelled there, an invalid request) → `refused`,
   shown on the order and the channel's health for a person.

A confirmation tried again after its answer was lost finds the one it made on the channel
(the lanes look before they confirm), so each shipment is confirmed once; and the channel's
echo of it records nothing (channels.shipping).
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from inventory_sync.lib import wakeups
from inventory_sync.lib.errors import Conflict, DomainError
from inventory_sync.lib.locks import lock_ids, lock_one, lock_rows
from ledger.models import Location

from . import orders, shipping
from .lanes.base import Lane
from .models import Channel, ChannelOrder, ChannelOrderLine, OrderShipment

logger = logging.getLogger(__name__)

# Announced on commit of a new shipment: channels.wiring wakes the delivery task.
SHIPMENTS_CHANGED = "channels.shipments"

# Retries: 30 s, 60 s, 120 s … capped at 30 minutes, each ±25 % so shipments that failed
# together (a channel outage) do not all come back in the same second.
BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP_SECONDS = 30 * 60
# A claimed shipment is not due again for this long: longer than any one confirmation takes
# (client retries included), short enough that a worker's crash delays it only this much.
CLAIM_LEASE = timedelta(minutes=10)
CLAIM_BATCH = 20


def retry_delay(
    attempts: int, *, retry_after: float | None = None, rand: Callable[[], float] = random.random
) -> timedelta:
    """How long to wait before attempt `attempts + 1` (at least what the channel asked)."""
    backoff = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** min(max(attempts, 1) - 1, 16))
    seconds = min(BACKOFF_CAP_SECONDS, backoff * (0.75 + 0.5 * rand()))
    if retry_after:
        seconds = max(seconds, retry_after)
    return timedelta(seconds=seconds)


# --- making a shipment -------------------------------------------------------------------------


def ship_order(
    *,
    order: ChannelOrder,
    lines: list[tuple[str, int]] | None,
    carrier: str,
    tracking_number: str,
    tracking_url: str = "",
    shipping_method: str = "",
    shipped_at: datetime | None = None,
    key: str | None = None,
    source: str,
    actor: str,
    carrier_name: str = "",
) -> OrderShipment:
    """Ship `lines` of the order ([(line external id, items)]; None: everything still to
    ship): the units leave on hand and committed at each line's location now, and the
    channel is told through the outbox.

    Invariant: a line never ships more items than it still commits, and a shipment's units
    leave the ledger exactly once (the shipment event is keyed by shipment and line).
    Key: `key`, unique across shipments (one is made when None): the same key again answers
    the shipment it made, with `replayed` True, and changes nothing; the same key for other
    lines or another order is a Conflict. Locks: the order row, its lines (id order), then the
    SKUs of the shipment event (channels.orders.apply_shipment), in the ledger's order.
    Raises Conflict (409: the key's other use, a cancelled order, a channel that is not told
    of shipments, a line the channel fulfils itself, more items than still to ship),
    DomainError (400: an unknown line, a quantity below one, no carrier or tracking number),
    InsufficientStock (409: the location does not hold the units). Nothing is stored then.
    """
    wanted = _wanted(lines)
    if not carrier.strip() or not tracking_number.strip():
        raise DomainError("A shipment needs a carrier and a tracking number.")
    key = key or f"{source}:{uuid.uuid4().hex}"
    with transaction.atomic():
        locked = lock_one(ChannelOrder.objects.select_related("channel"), pk=order.pk)
        earlier = OrderShipment.objects.filter(key=key).first()
        if earlier is not None:
            return _replayed(earlier, locked, wanted)
        shipping.check_confirmable(locked)
        by_id = {
            line.external_id: line for line in lock_rows(locked.lines.select_related("location"))
        }
        planned = _planned(locked, by_id, wanted)
        row = OrderShipment(
            order=locked,
            key=key,
            lines=[{"line": line_id, "quantity": items} for line_id, items in planned],
            carrier=shipping.carrier_label(carrier.strip(), carrier_name.strip()),
            tracking_number=tracking_number.strip(),
            tracking_url=tracking_url,
            shipping_method=shipping_method,
            shipped_at=shipped_at or timezone.now(),
            source=source,
            created_by=actor,
            next_attempt_at=timezone.now(),
        )
        try:
            with transaction.atomic():
                row.save(force_insert=True)
        except IntegrityError:
            # The same key on another order, committed a moment ago.
            return _replayed(OrderShipment.objects.get(key=key), locked, wanted)
        recorded = orders.apply_shipment(
            channel=locked.channel,
            order_external_id=locked.external_id,
            shipment_id=f"outbox-{row.pk}",
            lines=[orders.ShipmentLineSnapshot(line_id, items) for line_id, items in planned],
        )
        if len(recorded.events) != len(planned):  # checked above under the same locks
            raise Conflict(f"Order {locked.name or locked.external_id} changed while shipping.")
        wakeups.notify_on_commit(SHIPMENTS_CHANGED)
    row.replayed = False
    return row


def _wanted(lines: list[tuple[str, int]] | None) -> dict[str, int] | None:
    if lines is None:
        return None
    wanted: dict[str, int] = {}
    for line_id, items in lines:
        if isinstance(items, bool) or not isinstance(items, int) or items < 1:
            raise DomainError(
                f"Line {line_id}: ship at least one item.",
                field_errors={"lines": "Each quantity is a whole number of at least 1."},
            )
        if str(line_id) in wanted:
            raise DomainError(
                f"Line {line_id} is named twice.",
                field_errors={"lines": "Name each line once."},
            )
        wanted[str(line_id)] = items
    if not wanted:
        raise DomainError("Name at least one line, or none to ship every open line.")
    return wanted


def _replayed(
    earlier: OrderShipment, order: ChannelOrder, wanted: dict[str, int] | None
) -> OrderShipment:
    """The shipment a key made before, when asked for again; Conflict when the key now
    names another order or other lines."""
    if earlier.order_id != order.pk:
        raise Conflict(f"Key {earlier.key!r} was used for a shipment of another order.")
    made = {str(line["line"]): int(line["quantity"]) for line in earlier.lines}
    if wanted is not None and wanted != made:
        raise Conflict(f"Key {earlier.key!r} was used for other lines of this order.")
    earlier.replayed = True
    return earlier


def _planned(
    order: ChannelOrder, by_id: dict[str, ChannelOrderLine], wanted: dict[str, int] | None
) -> list[tuple[str, int]]:
    """[(line, items)] to ship, checked against what each line still commits."""
    label = order.name or order.external_id
    if wanted is None:
        planned = [
            (line_id, line.committed_units // max(line.units_per_item, 1))
            for line_id, line in sorted(by_id.items())
            if line.location is not None and line.location.kind != Location.Kind.FBA
        ]
        planned = [(line_id, items) for line_id, items in planned if items > 0]
        if not planned:
            raise Conflict(f"Order {label} has nothing left to ship.")
        return planned
    planned = []
    for line_id, items in wanted.items():
        line = by_id.get(line_id)
        if line is None:
            raise DomainError(
                f"Order {label} has no line {line_id}.",
                field_errors={"lines": f"No line {line_id} on this order."},
            )
        if line.sku_id is None or line.location is None:
            raise Conflict(f"Line {line_id} of order {label} waits for a SKU mapping.")
        if line.location.kind == Location.Kind.FBA:
            raise Conflict(f"Line {line_id} of order {label} is shipped by the channel (FBA).")
        open_items = line.committed_units // max(line.units_per_item, 1)
        if items > open_items:
            raise Conflict(
                f"Line {line_id} of order {label}: {items} item(s) asked, "
                f"{open_items} still to ship."
            )
        planned.append((line_id, items))
    return planned


# --- telling the channel -----------------------------------------------------------------------


@dataclass(slots=True)
class DeliveryRound:
    confirmed: int = 0
    retried: int = 0
    refused: int = 0

    @property
    def attempted(self) -> int:
        return self.confirmed + self.retried + self.refused


LaneFor = Callable[[Channel], Lane]


def deliver_due_shipments(
    *, now: datetime | None = None, batch: int = CLAIM_BATCH, lane_for: LaneFor | None = None
) -> DeliveryRound:
    """Confirm every pending shipment that is due on its channel, a batch at a time.

    Locks: each batch's rows FOR NO KEY UPDATE SKIP LOCKED (id order) for the claim only;
    no lock or transaction is held during a channel call. Only live channels are called. Idempotent: a confirmed or refused
    shipment is never claimed again, and a claimed one is not due again before its lease
    ends. `lane_for`: the lane of a channel (tests and benchmarks hand their own clients).
    Retry policy: see `retry_delay`; retried forever, each failure shown on the row.
    """
    done = DeliveryRound()
    while claimed := _claim(now or timezone.now(), batch):
        for shipment_id in claimed:
            outcome = deliver_shipment(shipment_id, now=now, lane_for=lane_for)
            if outcome == OrderShipment.Status.CONFIRMED:
                done.confirmed += 1
            elif outcome == OrderShipment.Status.REFUSED:
                done.refused += 1
            elif outcome == OrderShipment.Status.PENDING:
                done.retried += 1
    return done


def _claim(now: datetime, batch: int) -> list[int]:
    with transaction.atomic():
        # A shadow or paused channel is sent nothing (as for pushes): its shipments wait,
        # counted on its health, and go once it is live.
        due = OrderShipment.objects.filter(
            status=OrderShipment.Status.PENDING, order__channel__mode=Channel.Mode.LIVE
        ).filter(Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True))
        ids = lock_ids(due, skip_locked=True, limit=batch)
        if ids:
            OrderShipment.objects.filter(pk__in=ids).update(next_attempt_at=now + CLAIM_LEASE)
    return ids


def deliver_shipment(
    shipment_id: int, *, now: datetime | None = None, lane_for: LaneFor | None = None
) -> str | None:
    """One attempt at confirming a pending shipment on its channel (called outside any
    transaction); returns the status it ends in, None when it was not pending."""
    row = OrderShipment.objects.select_related("order__channel").get(pk=shipment_id)
    if row.status != OrderShipment.Status.PENDING:
        return None
    lane = lane_for(row.order.channel) if lane_for is not None else None
    try:
        reference = shipping.confirm_shipment(row.order, shipping.shipment_of(row), lane=lane)
    except DomainError as error:
        # ChannelRefused says whether trying again can help; the others (a cancelled order,
        # a request the lane refused before sending) are for a person.
        if error.retryable:
            retry_after = getattr(error, "retry_after", None)
            return _record_failure(shipment_id, error.detail, now=now, retry_after=retry_after)
        return _record(
            shipment_id, now=now, status=OrderShipment.Status.REFUSED, error=error.detail
        )
    except Exception as error:  # noqa: BLE001 — an unexpected failure is retried, and shown
        logger.exception("shipment %s: confirmation failed", shipment_id)
        return _record_failure(shipment_id, f"{type(error).__name__}: {error}", now=now)
    return _record(shipment_id, now=now, status=OrderShipment.Status.CONFIRMED, reference=reference)


def _record_failure(
    shipment_id: int, error: str, *, now: datetime | None, retry_after: float | None = None
) -> str | None:
    return _record(
        shipment_id,
        now=now,
        status=OrderShipment.Status.PENDING,
        error=error,
        retry_after=retry_after,
    )


def _record(
    shipment_id: int,
    *,
    now: datetime | None,
    status: str,
    error: str = "",
    reference: str = "",
    retry_after: float | None = None,
) -> str | None:
    """Write one attempt's outcome, unless the row is no longer pending (another worker
    finished it after a lease ran out)."""
    moment = now or timezone.now()
    with transaction.atomic():
        row = lock_one(OrderShipment.objects, pk=shipment_id)
        if row.status != OrderShipment.Status.PENDING:
            return None
        row.attempts += 1
        row.last_attempt_at = moment
        row.status = status
        row.last_error = error[:4000]
        if status == OrderShipment.Status.CONFIRMED:
            row.channel_reference = reference[:255]
            row.confirmed_at = moment
            row.next_attempt_at = None
        elif status == OrderShipment.Status.PENDING:
            row.next_attempt_at = moment + retry_delay(row.attempts, retry_after=retry_after)
        else:
            row.next_attempt_at = None
        row.save(
            update_fields=[
                "attempts",
                "last_attempt_at",
                "status",
                "last_error",
                "channel_reference",
                "confirmed_at",
                "next_attempt_at",
            ]
        )
    if status == OrderShipment.Status.REFUSED:
        logger.warning("shipment %s refused by its channel: %s", shipment_id, error)
    return status
