"""Where each order line ships from (I11): the rules live in `allocation.routing`; here they
meet the rows — the listing's pool, the balances read under the SKU lock, the order's facts —
and the ledger event that moves a commitment when a line is re-routed.

Locks: the callers hold the order row, then its lines, then the SKUs (the ingest path's
order), so a re-route and an order update of the same order never interleave, and the
balances routing reads cannot change before the line's sale is recorded.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from allocation import routing as rules
from allocation.models import BundleComponent, RoutingRule, SkuPolicy
from allocation.rules import LocationStock
from allocation.services import bundle_parts
from inventory_sync.lib import memo, wakeups
from inventory_sync.lib.errors import Conflict, DomainError
from inventory_sync.lib.locks import lock_ids, lock_one, lock_rows
from ledger import services as ledger
from ledger.models import Balance, Location, Sku
from ledger.rules import EventLine, available

from .models import Channel, ChannelOrder, ChannelOrderLine, Listing

log = logging.getLogger(__name__)

# Announced after commit when a line was routed to or from a 3PL: its fulfilment partner's
# requests are brought in step (channels.fulfilment_sync, connected in channels.wiring).
PARTNER_LINES_CHANGED = "channels.partner_lines_changed"


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """The order-level facts routing reads (from the snapshot being applied)."""

    fulfilled_by_channel: bool | None = None
    prime: bool = False
    weight_grams: int | None = None
    country: str = ""
    region: str = ""
    # Where the channel says the line left from (a point-of-sale order at a store we sync).
    channel_location: Location | None = None


def pool_of(channel: Channel, listing: Listing | None) -> list[Location]:
    """The locations whose stock the listing advertises, as the planner counts them
    (allocation.rules._pool): an FBA listing its region's FBA pools; a listing with chosen
    source locations those; any other every active merchant location that ships."""
    if listing is not None and listing.fulfilment == Listing.Fulfilment.FBA:
        return fba_pools(channel)
    if listing is not None:
        chosen = memo.remembered(
            ("listing-sources", listing.pk), lambda: read_sources([listing.pk])[listing.pk]
        )
        if chosen:
            return chosen
    return memo.remembered(
        "merchant-locations",
        lambda: list(
            Location.objects.filter(can_ship=True, is_active=True)
            .exclude(kind=Location.Kind.FBA)
            .order_by("id")
        ),
    )


def read_sources(listing_ids) -> dict[int, list[Location]]:
    """The chosen source locations (FBA ones aside) of each listing, by id order."""
    through = Listing.source_locations.through
    sources: dict[int, list[Location]] = {listing_id: [] for listing_id in listing_ids}
    for link in (
        through.objects.filter(listing_id__in=list(listing_ids))
        .exclude(location__kind=Location.Kind.FBA)
        .select_related("location")
        .order_by("location_id")
    ):
        sources[link.listing_id].append(link.location)
    return sources


def remember_sources(listing_ids) -> None:
    """Read many listings' source locations in one query, for the rest of an ingest claim."""
    for listing_id, places in read_sources(listing_ids).items():
        memo.remember(("listing-sources", listing_id), places)


def fba_pools(channel: Channel) -> list[Location]:
    """The FBA pool locations of an Amazon channel's region, oldest first."""
    if not channel.region:
        return []
    return memo.remembered(
        ("fba-pools", channel.region),
        lambda: list(
            Location.objects.filter(
                kind=Location.Kind.FBA, region=channel.region, is_active=True
            ).order_by("id")
        ),
    )


def enabled_rules() -> list[rules.RoutingRule]:
    return memo.remembered("routing-rules", _read_rules)


def _read_rules() -> list[rules.RoutingRule]:
    return [
        rules.RoutingRule(
            name=rule.name,
            location=rule.location.code,
            priority=rule.priority,
            channel=rule.channel,
            fulfilment=rule.fulfilment,
            prime=rule.prime,
            weight_over_grams=rule.weight_over_grams,
            weight_up_to_grams=rule.weight_up_to_grams,
            sku=rule.sku,
            tag=rule.tag,
            countries=_codes(rule.countries),
            regions=_codes(rule.regions),
            margin_below_percent=rule.margin_below_percent,
            margin_at_least_percent=rule.margin_at_least_percent,
            key=rule.pk,
        )
        for rule in RoutingRule.objects.filter(is_enabled=True).select_related("location")
    ]


def _codes(text: str) -> frozenset[str]:
    return frozenset(part.strip().upper() for part in text.split(",") if part.strip())


def stock_at(sku: Sku, locations: Iterable[Location]) -> list[LocationStock]:
    """Each location's available units of `sku` (a bundle: whole bundles its components
    make there), read now: call it under the SKU lock."""
    places = list(locations)
    parts = [(component, quantity) for component, _, quantity in bundle_parts(sku.pk)]
    sku_ids = [component for component, _ in parts] or [sku.pk]
    quantities: dict[tuple[int, int], dict[str, int]] = defaultdict(dict)
    for sku_id, location_id, bucket, quantity in Balance.objects.filter(
        sku_id__in=sku_ids, location__in=places
    ).values_list("sku_id", "location_id", "bucket", "quantity"):
        quantities[(sku_id, location_id)][bucket] = quantity
    stock = []
    for place in places:

        def have(sku_id: int, place_id: int = place.pk) -> int:
            buckets = quantities[(sku_id, place_id)]
            return available(lambda bucket: buckets.get(bucket, 0))

        units = (
            min(have(component) // quantity for component, quantity in parts)
            if parts
            else have(sku.pk)
        )
        stock.append(
            LocationStock(
                location=place.code,
                on_hand=units,
                is_fba=place.kind == Location.Kind.FBA,
                region=place.region,
                can_ship=place.can_ship and place.is_active,
            )
        )
    return stock


def route_new_line(
    *, channel: Channel, line: ChannelOrderLine, items: int, facts: OrderFacts
) -> None:
    """Choose the location a line not yet routed commits at (the caller holds the SKU lock
    and saves the line). Raises DomainError when the listing's pool is empty and the channel
    has no default location."""
    by_channel = facts.fulfilled_by_channel
    if by_channel is None:
        by_channel = line.listing is not None and line.listing.fulfilment == "fba"
    # Amazon's word wins over the listing's mapping: an AFN order takes FBA stock.
    pool = fba_pools(channel) if by_channel else pool_of(channel, line.listing)
    if facts.channel_location is not None and not by_channel:
        pool = [facts.channel_location]
    stock = stock_at(line.sku, pool)
    units = items * line.units_per_item
    if by_channel or facts.channel_location is not None:
        channel_location = pool[0].code if pool else ""
        if not channel_location:  # only an FBA order can find no pool here
            raise DomainError(
                f"Channel {channel.code} (region {channel.region or 'unset'}) has no FBA pool "
                "location: cannot tell where its FBA orders take stock."
            )
        only_units = rules.LineFacts(channel=channel.code, sku=line.sku.code, units=units)
        route = rules.route_line(only_units, [], stock, channel_location=channel_location)
    else:
        book = enabled_rules()
        route = rules.route_line(_line_facts(channel, line, units, facts, book), book, stock)
    if route is None:
        if channel.default_location_id is None:
            raise DomainError(
                f"Channel {channel.code} has no default location and the listing's pool is "
                "empty: cannot tell where the order commits stock."
            )
        line.location = channel.default_location
        line.routed_by = "the channel's default location (the listing's pool is empty)"
    else:
        line.location = next(place for place in pool if place.code == route.location)
        line.routed_by = route.reason[:255]
    line.routed_at = timezone.now()
    if line.location.kind == Location.Kind.THIRD_PARTY:
        wakeups.notify_on_commit(PARTNER_LINES_CHANGED)


def _line_facts(
    channel: Channel,
    line: ChannelOrderLine,
    units: int,
    facts: OrderFacts,
    book: list[rules.RoutingRule],
) -> rules.LineFacts:
    sku = line.sku
    # A shop without product weights reports 0 g: our catalog's weight is the better guess.
    weight = facts.weight_grams or None
    if weight is None and sku.weight_grams is not None:
        weight = sku.weight_grams * units
    margin = None
    if any(
        r.margin_below_percent is not None or r.margin_at_least_percent is not None for r in book
    ):
        cost = SkuPolicy.objects.filter(sku=sku).values_list("unit_cost", flat=True).first()
        margin = rules.margin_percent(line.unit_price, cost)
    return rules.LineFacts(
        channel=channel.code,
        sku=sku.code,
        units=units,
        tags=frozenset(sku.tags or ()),
        fulfilled_by_channel=facts.fulfilled_by_channel,
        prime=facts.prime,
        weight_grams=weight,
        country=facts.country,
        region=facts.region,
        margin_percent=margin,
    )


def _move_commitment(
    *, order: ChannelOrder, line: ChannelOrderLine, to: Location, reason: str, source: str
) -> int | None:
    """Record the event that moves the line's open commitment to `to`; the caller holds the
    order, line and SKU locks. Returns the event id (None: nothing committed to move)."""
    units = line.committed_units
    if units <= 0:
        return None
    parts = list(
        BundleComponent.objects.filter(bundle=line.sku).values_list("component__code", "quantity")
    ) or [(line.sku.code, 1)]
    moves = sum(1 for ref in line.applied_refs if ref.startswith("reroute:")) + 1
    reference = f"{order.channel.code}:order:{order.external_id}"
    recorded = ledger.record_event(
        kind="reroute",
        lines=[
            EventLine(
                sku=code, location=line.location.code, quantity=units * per, to_location=to.code
            )
            for code, per in parts
        ],
        idempotency_key=f"{reference}:line:{line.external_id}:reroute:{moves}",
        source=source,
        reference=reference,
        reason=reason[:500],
    )
    line.applied_refs = [*line.applied_refs, f"reroute:{moves}"]
    if Location.Kind.THIRD_PARTY in (line.location.kind, to.kind):
        wakeups.notify_on_commit(PARTNER_LINES_CHANGED)
    line.location = to
    line.routed_at = timezone.now()
    line.save()
    return recorded.event.id


def reroute_line(
    *, line: ChannelOrderLine, location: Location, actor: str, reason: str
) -> ChannelOrderLine:
    """A person moves an open line to another location of its listing's pool: its
    commitment moves there with one ledger event. Refused (Conflict) for a cancelled or
    fulfilled order, a line with nothing left to ship, a location outside the pool or one
    without the units."""
    with transaction.atomic():
        order = lock_one(ChannelOrder.objects.select_related("channel"), pk=line.order_id)
        line = next(row for row in lock_rows(order.lines) if row.pk == line.pk)
        if line.sku_id is not None:
            lock_ids(Sku.objects.filter(pk=line.sku_id))
        problem = _reroute_problem(order, line, location)
        if problem:
            raise Conflict(problem)
        line.routed_by = f"moved from {line.location.code} by {actor}: {reason}"[:255]
        _move_commitment(
            order=order,
            line=line,
            to=location,
            reason=reason or f"re-routed by {actor}",
            source="console" if actor else "routing",
        )
    return line


def _reroute_problem(order: ChannelOrder, line: ChannelOrderLine, to: Location) -> str:
    if order.status != ChannelOrder.Status.OPEN:
        return f"Order {order.name or order.external_id} is {order.status}: nothing to re-route."
    if line.sku is None or line.location is None:
        return f"Line {line.external_id} is not mapped to a SKU and a location yet."
    if line.committed_units <= 0:
        return f"Line {line.external_id} has nothing left to ship."
    if to.pk == line.location_id:
        return f"Line {line.external_id} already ships from {to.code}."
    pool = pool_of(order.channel, line.listing)
    if to not in pool:
        codes = ", ".join(place.code for place in pool) or "none"
        return f"{to.code} is not in the listing's pool ({codes}): its stock is not advertised."
    have = stock_at(line.sku, [to])[0].available
    if have < line.committed_units:
        return f"{to.code} has {max(have, 0)} available; the line needs {line.committed_units}."
    return ""


def stranded_lines(sku_id: int) -> list[int]:
    """Open, unshipped lines of a plain SKU at merchant locations, latest placed first."""
    return list(
        ChannelOrderLine.objects.filter(
            sku_id=sku_id,
            order__status=ChannelOrder.Status.OPEN,
            sold_units__gt=F("cancelled_units") + F("shipped_units"),
        )
        .filter(~Q(location__kind=Location.Kind.FBA))
        .order_by("-order__placed_at", "-order_id", "-id")
        .values_list("id", flat=True)
    )


def unstrand_sku(sku_id: int) -> int:
    """Move commitments off locations committed beyond their stock onto pool locations with
    units to spare (after a cancel or a receipt elsewhere). Returns the lines moved."""
    if BundleComponent.objects.filter(bundle_id=sku_id).exists():
        return 0  # a bundle's commitments sit on its components' lines; left to a person
    line_ids = stranded_lines(sku_id)
    if not line_ids:
        return 0
    order_ids = set(
        ChannelOrderLine.objects.filter(pk__in=line_ids).values_list("order_id", flat=True)
    )
    with transaction.atomic():
        lock_ids(ChannelOrder.objects.filter(pk__in=order_ids))
        lines = {
            line.pk: line
            for line in lock_rows(
                ChannelOrderLine.objects.filter(pk__in=line_ids).select_related(
                    "order__channel", "location", "sku", "listing"
                )
            )
        }
        sku = Sku.objects.get(pk=sku_id)
        lock_ids(Sku.objects.filter(pk=sku_id))
        return _unstrand_locked(sku, [lines[pk] for pk in line_ids if pk in lines])


def _unstrand_locked(sku: Sku, lines: list[ChannelOrderLine]) -> int:
    pools = {line.pk: pool_of(line.order.channel, line.listing) for line in lines}
    places = {place.pk: place for pool in pools.values() for place in pool}
    for line in lines:
        places[line.location_id] = line.location
    stock = stock_at(sku, places.values())
    moves = rules.unstrand(
        [
            rules.LineAt(
                line.pk,
                line.location.code,
                line.committed_units,
                frozenset(place.code for place in pools[line.pk]),
            )
            for line in lines
            if line.order.status == ChannelOrder.Status.OPEN and line.committed_units > 0
        ],
        stock,
    )
    by_code = {place.code: place for place in places.values()}
    by_id = {line.pk: line for line in lines}
    for move in moves:
        line = by_id[move.line]
        line.routed_by = (
            f"moved from {move.from_location}: it was short and {move.to_location} had the stock"
        )
        _move_commitment(
            order=line.order,
            line=line,
            to=by_code[move.to_location],
            reason=f"{move.from_location} was committed beyond its stock",
            source="routing",
        )
    if moves:
        log.info("Re-routed %d line(s) of %s off short locations", len(moves), sku.code)
    return len(moves)


def apply_rule_change(*, limit: int = 5000) -> int:
    """After the routing rules changed: every open line not yet shipped whose route now
    differs moves to the new place, when that place holds it. Lines already on their way
    (part shipped), channel-fulfilled ones and bundles stay. Returns the lines moved."""
    line_ids = list(
        ChannelOrderLine.objects.filter(
            order__status=ChannelOrder.Status.OPEN,
            shipped_units=0,
            sold_units__gt=F("cancelled_units"),
            sku__components__isnull=True,
        )
        .exclude(location__kind=Location.Kind.FBA)
        .order_by("order__placed_at", "id")
        .values_list("id", flat=True)[:limit]
    )
    book = enabled_rules()
    return sum(_reroute_by_rules(line_id, book) for line_id in line_ids)


def _reroute_by_rules(line_id: int, book: list[rules.RoutingRule]) -> int:
    with transaction.atomic():
        head = ChannelOrderLine.objects.filter(pk=line_id).values("order_id", "sku_id").first()
        if head is None:
            return 0
        order = lock_one(ChannelOrder.objects.select_related("channel"), pk=head["order_id"])
        line = next((row for row in lock_rows(order.lines) if row.pk == line_id), None)
        if line is None or order.status != ChannelOrder.Status.OPEN or line.shipped_units:
            return 0
        lock_ids(Sku.objects.filter(pk=line.sku_id))
        pool = pool_of(order.channel, line.listing)
        stock = [
            # The line's own units count as free where it is: it may stay there.
            LocationStock(
                s.location, on_hand=s.available + line.committed_units, can_ship=s.can_ship
            )
            if s.location == line.location.code
            else s
            for s in stock_at(line.sku, pool)
        ]
        facts = OrderFacts(
            fulfilled_by_channel=order.fulfilled_by_channel,
            prime=order.is_prime,
            weight_grams=order.weight_grams,
            country=order.destination_country,
            region=order.destination_region,
        )
        units = line.committed_units
        route = rules.route_line(_line_facts(order.channel, line, units, facts, book), book, stock)
        if route is None or route.short or route.location == line.location.code:
            return 0
        line.routed_by = f"the routing rules changed: {route.reason}"[:255]
        target = next(place for place in pool if place.code == route.location)
        _move_commitment(
            order=order,
            line=line,
            to=target,
            reason="the routing rules changed",
            source="routing",
        )
        return 1
