"""Channel orders: the unified order object every lane maps its payloads into, and the rules
that turn an order's latest snapshot into ledger events.

A snapshot is applied, never a delta: the order's lines say how many units are ordered now
(after edits, refunds and cancellation), the line's counters say how many the ledger already
carries, and only the difference is recorded. So a duplicate, a replay or an out-of-order
delivery ends in the same ledger as one clean pass (I3): an older snapshot than the one applied
is ignored, a repeated one records nothing, and every ledger event's idempotency key names the
counter value it brings the line to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Case, DateTimeField, F, Q, Value, When
from django.db.models.functions import Least
from django.utils import timezone

from allocation.services import bundle_parts, sale_lines
from inventory_sync.lib import memo, wakeups
from inventory_sync.lib.errors import DomainError
from inventory_sync.lib.locks import lock_ids, lock_one, lock_rows
from ledger import services as ledger
from ledger.models import Location, Sku
from ledger.rules import InsufficientStock

from . import routing, unmapped
from .models import Channel, ChannelOrder, ChannelOrderLine, Listing
from .order_details import OrderDetails, store_details


class Quarantine(DomainError):
    """The payload names something we cannot map yet (a SKU, a listing, a location).

    Nothing of it is applied; the inbound event waits, visible in the console, and is applied
    once the mapping is fixed.
    """

    code = "quarantined"


class NotYetKnown(DomainError):
    """The payload refers to an order we have not ingested yet (a refund before its order):
    retry later; polling or the order's own webhook will bring it."""

    code = "not_yet_known"
    retryable = True


@dataclass(frozen=True, slots=True)
class OrderLineSnapshot:
    external_id: str
    quantity: int  # ordered originally
    current_quantity: int  # still ordered after edits and refunds
    variant_id: str = ""  # the channel's listing id (Shopify variant GID, Amazon seller SKU)
    sku: str = ""
    unit_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class OrderSnapshot:
    external_id: str
    name: str
    placed_at: datetime
    updated_at: datetime
    cancelled_at: datetime | None
    lines: tuple[OrderLineSnapshot, ...]
    raw: dict = field(default_factory=dict, compare=False)
    # Amazon says who fulfils the order: True for Amazon (FBA), False for the merchant, None
    # where the channel does not say (the listing's fulfilment decides).
    fulfilled_by_channel: bool | None = None
    details: OrderDetails = field(default_factory=OrderDetails, compare=False)


@dataclass(frozen=True, slots=True)
class RefundLineSnapshot:
    external_id: str
    line_id: str
    quantity: int
    # cancel: never shipped, put back (releases the commitment); return: came back, restock;
    # no_restock: money only for shipped items; unshipped ones leave on hand.
    restock_type: str
    location_external_id: str = ""


@dataclass(frozen=True, slots=True)
class ShipmentLineSnapshot:
    line_id: str
    quantity: int


@dataclass(slots=True)
class ApplyOutcome:
    status: str  # applied | ignored | quarantined (some lines wait for a mapping)
    detail: str = ""
    events: list[int] = field(default_factory=list)


def apply_order_snapshot(*, channel: Channel, snapshot: OrderSnapshot) -> ApplyOutcome:
    """Bring the ledger in line with the channel's latest view of one order.

    Locks, in this order: the order row (created if new), the SKUs of all its lines in id
    order (the ledger's own order, so two orders sharing SKUs in any line order never
    deadlock), then the listings whose channel quantity moved, in id order.
    Raises Quarantine when a line cannot be mapped to a SKU or a location; nothing of the
    order is applied then.
    """
    # No savepoint of its own (two round trips an order): a caller that goes on after a
    # failure wraps the call in one (the ingest worker does, event by event).
    with transaction.atomic(savepoint=False):
        order, created = _lock_order(channel, snapshot)
        if not created and snapshot.updated_at < order.channel_updated_at:
            return ApplyOutcome(
                "ignored",
                f"older than the applied snapshot ({snapshot.updated_at.isoformat()} < "
                f"{order.channel_updated_at.isoformat()})",
            )
        existing = {} if created else {line.external_id: line for line in lock_rows(order.lines)}
        pairs = []
        unmapped_lines: list[str] = []
        for line_snapshot in snapshot.lines:
            line = existing.get(line_snapshot.external_id)
            if line is None:
                try:
                    line = _new_line(channel, order, line_snapshot)
                except Quarantine as error:
                    # The lines we can map still commit their stock now (an unknown SKU
                    # must not hold back the known one's oversell protection); the order
                    # is applied again, idempotently, once the mapping is fixed.
                    unmapped_lines.append(error.detail)
                    continue
                if line is None:
                    continue  # not a stock item (a custom line, a tip, a protection plan)
            pairs.append((line, line_snapshot))
        if unmapped_lines and not pairs:
            raise Quarantine("; ".join(unmapped_lines))
        _lock_skus(line for line, _ in pairs)
        outcome = ApplyOutcome("applied")
        # A point-of-sale order names its store: the channel moved that location's quantity,
        # not the one we sync (online orders name none).
        moves = _ChannelMoves(
            enabled=_at_synced_location(channel, str(snapshot.raw.get("location_id") or ""))
        )
        cancelled = snapshot.cancelled_at is not None
        facts = _facts_of(channel, snapshot)
        for line, line_snapshot in pairs:
            line.quantity = line_snapshot.quantity
            line.current_quantity = line_snapshot.current_quantity
            if line_snapshot.unit_price is not None:
                line.unit_price = line_snapshot.unit_price  # an edit can reprice a line
            items = _target_items(line, cancelled=cancelled)
            if line.location_id is None and items:
                _route(channel, line, items, facts)
            elif cancelled and line.location_id and line.location.kind == "3pl":
                wakeups.notify_on_commit(routing.PARTNER_LINES_CHANGED)
            outcome.events += _settle_line(channel, order, line, items * line.units_per_item, moves)
        moves.apply()
        order.name = snapshot.name or order.name
        order.placed_at = snapshot.placed_at
        order.channel_updated_at = snapshot.updated_at
        order.cancelled_at = snapshot.cancelled_at
        order.status = ChannelOrder.Status.CANCELLED if cancelled else order.status
        order.snapshot = snapshot.raw
        order.fulfilled_by_channel = snapshot.fulfilled_by_channel
        store_details(order, snapshot.details)
        order.save()
        if unmapped_lines:
            outcome.status = "quarantined"
            outcome.detail = "; ".join(unmapped_lines) + f" ({len(pairs)} other line(s) applied)"
        return outcome


def apply_refund(
    *, channel: Channel, order_external_id: str, refund_lines: list[RefundLineSnapshot]
) -> ApplyOutcome:
    """A refund: cancel-type lines release what stays committed; return-type lines put the
    units back on hand at the refund's location (Shopify restocks them there too); lines
    without restock of items never shipped release them and take them off hand."""
    with transaction.atomic(savepoint=False):
        order = _locked_known_order(channel, order_external_id)
        lines = {line.external_id: line for line in lock_rows(order.lines)}
        _lock_skus(lines.values())
        outcome = ApplyOutcome("applied")
        moves = _ChannelMoves()
        cancelled = order.cancelled_at is not None
        for refund_line in refund_lines:
            line = lines.get(refund_line.line_id)
            ref = f"refund:{refund_line.external_id}"
            if line is None or ref in line.applied_refs:
                continue
            line.applied_refs = [*line.applied_refs, ref]
            removed = 0
            if refund_line.restock_type == "cancel":
                line.refund_cancelled_items += refund_line.quantity
            elif refund_line.restock_type == "no_restock":
                # Money back for items never shipped: the shop takes them off hand (Shopify's
                # admin records a removal), so their commitment ends and they leave on hand.
                removed = _unshipped_items(line, refund_line.quantity)
                line.refund_cancelled_items += removed
                # The shop's own available does not move (committed and on hand both fall):
                # this offsets the restock the release below counts as the channel's move.
                moves.add(line, -removed)
            elif refund_line.restock_type in ("return", "legacy_restock"):
                line.refund_returned_items += refund_line.quantity
                location = _location_for_refund(channel, line, refund_line)
                units = refund_line.quantity * line.units_per_item
                recorded = ledger.record_event(
                    kind="return_restock",
                    lines=sale_lines(sku=line.sku, location=location.code, quantity=units),
                    idempotency_key=f"{channel.code}:refund-line:{refund_line.external_id}:restock",
                    source=channel.kind,
                    reference=f"{channel.code}:order:{order.external_id}",
                    reason="customer return restocked",
                )
                if recorded.created:
                    line.restocked_units += units
                    outcome.events.append(recorded.event.id)
                    if _at_synced_location(channel, refund_line.location_external_id):
                        moves.add(line, +refund_line.quantity)
            # Either kind changes what stays committed (a return arriving after a snapshot
            # that already showed the item gone puts its commitment back until it ships).
            target = _target_items(line, cancelled=cancelled) * line.units_per_item
            outcome.events += _settle_line(channel, order, line, target, moves)
            if removed:
                outcome.events += _remove_refunded(channel, order, line, refund_line, removed)
        moves.apply()
        return outcome


def _unshipped_items(line: ChannelOrderLine, refunded: int) -> int:
    """How many of `refunded` items of the line had not shipped (a refund of shipped items
    without restock is money only: the customer keeps them)."""
    shipped = line.shipped_units // max(line.units_per_item, 1)
    return max(0, min(refunded, line.quantity - line.refund_cancelled_items - shipped))


def _remove_refunded(
    channel: Channel,
    order: ChannelOrder,
    line: ChannelOrderLine,
    refund_line: RefundLineSnapshot,
    items: int,
) -> list[int]:
    """Take refunded, never-shipped items off hand where the line committed them, once.

    Recorded after the line's commitment was released, so available never dips. Where the
    units are not on hand (the sale was an oversell), nothing is removed: reconciliation
    shows the gap with the channel as refund drift, for a person to count."""
    if line.sku is None or line.location is None:
        return []
    try:
        with transaction.atomic():
            recorded = ledger.record_event(
                kind="write_off",
                lines=sale_lines(
                    sku=line.sku,
                    location=line.location.code,
                    quantity=items * line.units_per_item,
                ),
                idempotency_key=f"{channel.code}:refund-line:{refund_line.external_id}:removed",
                source=channel.kind,
                reference=f"{channel.code}:order:{order.external_id}",
                reason="refunded without restock before it shipped: the shop removed it",
            )
    except InsufficientStock:
        return []
    return [recorded.event.id] if recorded.created else []


def apply_shipped_counts(
    *, channel: Channel, order_external_id: str, shipped: dict[str, int]
) -> ApplyOutcome:
    """The channel reports how many items of each line have shipped in all (Amazon): ship the
    increase since the last report, once (each increase is its own shipment, keyed by the
    total it brings the line to)."""
    with transaction.atomic(savepoint=False):
        order = _locked_known_order(channel, order_external_id)
        lines = {line.external_id: line for line in lock_rows(order.lines)}
        increases = []
        for line_id, total in sorted(shipped.items()):
            line = lines.get(line_id)
            if line is None:
                continue
            done = line.shipped_units // max(line.units_per_item, 1)
            if total > done:
                increases.append((line_id, total - done, total))
        outcome = ApplyOutcome("applied" if increases else "ignored")
        for line_id, items, total in increases:
            shipment = apply_shipment(
                channel=channel,
                order_external_id=order_external_id,
                shipment_id=f"{order_external_id}:{line_id}:shipped-{total}",
                lines=[ShipmentLineSnapshot(line_id, items)],
            )
            outcome.events += shipment.events
        return outcome


def apply_shipment(
    *, channel: Channel, order_external_id: str, shipment_id: str, lines: list[ShipmentLineSnapshot]
) -> ApplyOutcome:
    """A fulfilment made on the channel: the shipped units leave on hand and committed."""
    with transaction.atomic(savepoint=False):
        order = _locked_known_order(channel, order_external_id)
        by_id = {line.external_id: line for line in lock_rows(order.lines)}
        _lock_skus(by_id.values())
        outcome = ApplyOutcome("applied")
        moves = _ChannelMoves()
        ref = f"shipment:{shipment_id}"
        for shipped in lines:
            line = by_id.get(shipped.line_id)
            if line is None or ref in line.applied_refs:
                continue
            line.applied_refs = [*line.applied_refs, ref]
            units = shipped.quantity * line.units_per_item
            if units > line.committed_units and order.cancelled_at is None:
                # A snapshot taken after a return showed these items gone and released them;
                # they did ship: commit them again (within what the order still has) first.
                ceiling = (line.quantity - line.refund_cancelled_items) * line.units_per_item
                active = line.sold_units - line.cancelled_units
                target = min(active + units - line.committed_units, ceiling)
                outcome.events += _settle_line(channel, order, line, target, moves)
            units = min(units, line.committed_units)
            if units > 0:
                recorded = ledger.record_event(
                    kind="shipment",
                    lines=sale_lines(sku=line.sku, location=line.location.code, quantity=units),
                    idempotency_key=f"{channel.code}:shipment:{shipment_id}:line:{line.external_id}",
                    source=channel.kind,
                    reference=f"{channel.code}:order:{order.external_id}",
                )
                line.shipped_units += units
                outcome.events.append(recorded.event.id)
            line.save()
        moves.apply()
        if all(line.committed_units == 0 and line.sold_units for line in by_id.values()):
            order.status = ChannelOrder.Status.FULFILLED
            order.save(update_fields=["status", "updated_at"])
        return outcome


def _lock_skus(lines) -> None:
    """Lock every SKU the lines' ledger events will touch (a bundle's components too), in id
    order and in the ledger's lock mode, before the first event is recorded."""
    sku_ids = {line.sku_id for line in lines if line.sku_id is not None}
    if not sku_ids:
        return
    sku_ids |= {part for sku_id in sku_ids for part, _, _ in bundle_parts(sku_id)}
    if sku_ids <= memo.remembered(LOCKED_SKUS, set):
        return  # the ingest claim took them up front, with the rest of its locks
    lock_ids(Sku.objects.filter(pk__in=sku_ids))


class _ChannelMoves:
    """How the channel itself moved its quantity per listing (a sale lowers Shopify's
    `available` at checkout), applied at the end of the transaction in listing id order."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.items: dict[int, int] = {}
        self.enabled = enabled

    def add(self, line: ChannelOrderLine, items: int) -> None:
        if self.enabled and line.listing_id is not None and items:
            self.items[line.listing_id] = self.items.get(line.listing_id, 0) + items

    def apply(self) -> None:
        """One UPDATE per listing, computed on the row as it is under its lock (an UPDATE
        reads every column's old value, so both uses of `absorbed` agree)."""
        for listing_id in sorted(self.items):
            items = self.items[listing_id]
            # A sale the pusher already overwrote as drift: the set it sent counted it.
            absorbed = Least(F("unseen_sold_items"), Value(-items)) if items < 0 else Value(0)
            Listing.objects.filter(pk=listing_id).update(
                channel_delta=F("channel_delta") + items + absorbed,
                unseen_sold_items=F("unseen_sold_items") - absorbed,
                # Perhaps the order a held push waits for: try again.
                push_held_until=Case(
                    When(unseen_since__isnull=False, then=Value(None)),
                    default=F("push_held_until"),
                    output_field=DateTimeField(),
                ),
            )


def _lock_order(channel: Channel, snapshot: OrderSnapshot) -> tuple[ChannelOrder, bool]:
    """The order's row, created if new, locked either way (one INSERT … ON CONFLICT)."""
    table = ChannelOrder._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (channel_id, external_id, name, status, placed_at,"
            " channel_updated_at, snapshot, created_at, updated_at)"
            " VALUES (%s, %s, %s, 'open', %s, %s, '{}', %s, %s)"
            " ON CONFLICT (channel_id, external_id) DO NOTHING RETURNING id",
            [
                channel.pk,
                snapshot.external_id,
                snapshot.name,
                snapshot.placed_at,
                snapshot.updated_at,
                timezone.now(),
                timezone.now(),
            ],
        )
        row = cursor.fetchone()
    if row is not None:
        # Our own insert: the row is ours until commit, no second lock needed.
        order = ChannelOrder(
            pk=row[0],
            channel=channel,
            external_id=snapshot.external_id,
            name=snapshot.name,
            status=ChannelOrder.Status.OPEN,
            placed_at=snapshot.placed_at,
            channel_updated_at=snapshot.updated_at,
            snapshot={},
        )
        return order, True
    return lock_one(ChannelOrder.objects, channel=channel, external_id=snapshot.external_id), False


def _locked_known_order(channel: Channel, external_id: str) -> ChannelOrder:
    try:
        return lock_one(ChannelOrder.objects, channel=channel, external_id=external_id)
    except ChannelOrder.DoesNotExist:
        raise NotYetKnown(
            f"Order {external_id} of {channel.code} has not been ingested yet."
        ) from None


def _new_line(
    channel: Channel, order: ChannelOrder, snapshot: OrderLineSnapshot
) -> ChannelOrderLine | None:
    """The line's row, mapped to a SKU; where it ships from is chosen once its SKU is locked
    (`_route`)."""
    listing = _listing_for(channel, snapshot)
    if listing is not None:
        sku = listing.sku
    elif snapshot.sku:
        sku = Sku.objects.filter(code=snapshot.sku).first()
        if sku is None:
            raise Quarantine(
                unmapped.describe(
                    order.name or order.external_id,
                    snapshot.external_id,
                    snapshot.variant_id,
                    snapshot.sku,
                ),
                line=snapshot.external_id,
                variant=snapshot.variant_id,
                sku=snapshot.sku,
            )
    elif snapshot.variant_id:
        raise Quarantine(
            unmapped.describe(
                order.name or order.external_id, snapshot.external_id, snapshot.variant_id, ""
            ),
            line=snapshot.external_id,
            variant=snapshot.variant_id,
        )
    else:
        return None
    # Inserted by its first save (_settle_line), with its units: one statement, not two.
    return ChannelOrderLine(
        order=order,
        external_id=snapshot.external_id,
        listing=listing,
        sku=sku,
        channel_sku=snapshot.sku,
        channel_variant_id=snapshot.variant_id,
        quantity=snapshot.quantity,
        current_quantity=snapshot.current_quantity,
        unit_price=snapshot.unit_price,
        units_per_item=listing.pack_size if listing is not None else 1,
    )


# The SKU ids an ingest claim locked up front (inventory_sync.lib.memo); empty elsewhere.
LOCKED_SKUS = "locked-skus"


def _listing_for(channel: Channel, snapshot: OrderLineSnapshot) -> Listing | None:
    """By the channel's variant id; some payloads carry variant_id null, then by SKU code."""
    if not (snapshot.variant_id or snapshot.sku):
        return None
    return memo.remembered(
        listing_key(channel.pk, snapshot.variant_id, snapshot.sku),
        lambda: pick_listing(
            read_listings(channel.pk, [snapshot.variant_id], [snapshot.sku]),
            snapshot.variant_id,
            snapshot.sku,
        ),
    )


def listing_key(channel_id: int, variant_id: str, sku: str) -> tuple:
    return ("order-line-listing", channel_id, variant_id, sku)


def read_listings(channel_id: int, variant_ids, sku_codes) -> list[Listing]:
    """The listings a channel's order lines may map to, best first (fewest items a pack)."""
    match = Q()
    if any(variant_ids):
        match |= Q(external_id__in=[v for v in variant_ids if v])
    if any(sku_codes):
        match |= Q(sku__code__in=[s for s in sku_codes if s])
    if not match:
        return []
    return list(
        Listing.objects.select_related("sku")
        .filter(match, channel_id=channel_id)
        .order_by("pack_size", "id")
    )


def pick_listing(candidates: list[Listing], variant_id: str, sku: str) -> Listing | None:
    for listing in candidates:
        if variant_id and listing.external_id == variant_id:
            return listing
    return next((c for c in candidates if sku and c.sku.code == sku), None)


def _facts_of(channel: Channel, snapshot: OrderSnapshot) -> routing.OrderFacts:
    details = snapshot.details
    # A point-of-sale order at the location we sync sold a unit that was there: the channel's
    # own word on where it left from (online orders name no location).
    sold_at = str(snapshot.raw.get("location_id") or "")
    at_synced = sold_at and _at_synced_location(channel, sold_at)
    return routing.OrderFacts(
        fulfilled_by_channel=snapshot.fulfilled_by_channel,
        prime=details.is_prime,
        weight_grams=details.weight_grams,
        country=details.destination_country,
        region=details.destination_region,
        channel_location=channel.default_location if at_synced else None,
    )


def _route(channel: Channel, line: ChannelOrderLine, items: int, facts: routing.OrderFacts) -> None:
    """Choose where a new line ships from, under its SKU's lock (I11)."""
    try:
        routing.route_new_line(channel=channel, line=line, items=items, facts=facts)
    except DomainError as error:
        raise Quarantine(error.detail) from None


def fba_pool(channel: Channel) -> Location | None:
    """The FBA pool location of an Amazon channel's region (one per region)."""
    return next(iter(routing.fba_pools(channel)), None)


def _at_synced_location(channel: Channel, location_external_id: str) -> bool:
    """Did the channel move the quantity we sync? Only at its synced location (a refund names
    where it restocks; none named counts as the synced one)."""
    synced = channel.external_location_id.rsplit("/", 1)[-1]
    return not location_external_id or not synced or location_external_id == synced


def _location_for_refund(
    channel: Channel, line: ChannelOrderLine, refund_line: RefundLineSnapshot
) -> Location:
    """Where a returned unit goes back on hand: the channel's synced location is our default
    location; any other (or none) is where the line committed its stock."""
    synced = channel.external_location_id.rsplit("/", 1)[-1]
    if synced and refund_line.location_external_id == synced and channel.default_location_id:
        return channel.default_location
    return line.location or channel.default_location


def _target_items(line: ChannelOrderLine, *, cancelled: bool) -> int:
    """Items the line still commits: what the channel shows now, less refunds that cancelled
    items (whichever of the order update and the refund arrived first)."""
    if cancelled:
        return 0
    # A return lowers the channel's current quantity too, but its units were (or will be)
    # shipped: they stay committed until the shipment takes them.
    still_ordered = line.current_quantity + line.refund_returned_items
    return max(0, min(still_ordered, line.quantity - line.refund_cancelled_items))


def _settle_line(
    channel: Channel,
    order: ChannelOrder,
    line: ChannelOrderLine,
    target_units: int,
    moves: _ChannelMoves,
) -> list[int]:
    """Record the sale or cancel that makes the line's active units equal `target_units`.

    Shipped units cannot be cancelled: a shipped line that the channel now shows fewer of is a
    return, which arrives as a refund.
    """
    target_units = max(target_units, line.shipped_units)
    active = line.sold_units - line.cancelled_units
    reference = f"{channel.code}:order:{order.external_id}"
    events: list[int] = []
    if target_units > active:
        units = target_units - active
        line.sold_units += units
        recorded = ledger.record_event(
            kind="sale",
            lines=sale_lines(sku=line.sku, location=line.location.code, quantity=units),
            idempotency_key=f"{reference}:line:{line.external_id}:sold:{line.sold_units}",
            source=channel.kind,
            occurred_at=order.placed_at,
            reference=reference,
        )
        events.append(recorded.event.id)
        moves.add(line, -(units // line.units_per_item))
    elif target_units < active:
        units = active - target_units
        line.cancelled_units += units
        recorded = ledger.record_event(
            kind="cancel",
            lines=sale_lines(sku=line.sku, location=line.location.code, quantity=units),
            idempotency_key=f"{reference}:line:{line.external_id}:cancelled:{line.cancelled_units}",
            source=channel.kind,
            reference=reference,
        )
        events.append(recorded.event.id)
        moves.add(line, +(units // line.units_per_item))
    line.save()
    return events
