"""Order routing: which location of a listing's pool fulfils an order line (I11).

Pure rules over plain data, like `allocation.rules`: the channels app hands in the line's
facts, the routing rules and the pool's locations with what each has available (read under
the SKU lock), and gets back a location and the reason, which the order line keeps.

The order of choice:
1. the channel's own word (Amazon fulfils AFN orders from its own centres; a channel that
   names the fulfilling location) wins, whatever its stock;
2. the locations of the matching rules, in rule priority order, that are in the listing's pool
   and hold the whole line;
3. the pool's other locations in pool order, that hold the whole line;
4. when none holds it whole: the candidate with the most available (the first choice on a
   tie). The units it lacks are the line's shortfall; when the pool as a whole lacks them
   too it is an oversell the planner turns into an incident (I8). A line is never split over
   locations: one line, one place it ships from.
A rule whose location is outside the listing's pool never applies: the units a listing
advertises are the units its orders take (I11).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from .rules import LocationStock

ANY = "any"


@dataclass(frozen=True)
class RoutingRule:
    name: str
    location: str
    priority: int = 100
    channel: str = ""  # a channel code; blank: any
    fulfilment: str = ANY  # any | merchant | channel
    prime: str = ANY  # any | yes | no
    weight_over_grams: int | None = None
    weight_up_to_grams: int | None = None
    sku: str = ""
    tag: str = ""
    countries: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    margin_below_percent: Decimal | None = None
    margin_at_least_percent: Decimal | None = None
    key: int = 0  # the rule's id, for ordering ties


@dataclass(frozen=True)
class LineFacts:
    """What routing may look at for one order line."""

    channel: str
    sku: str
    units: int
    tags: frozenset[str] = frozenset()
    fulfilled_by_channel: bool | None = None
    prime: bool = False
    weight_grams: int | None = None  # the order's weight
    country: str = ""
    region: str = ""
    margin_percent: Decimal | None = None


@dataclass(frozen=True)
class Route:
    location: str
    reason: str
    short: int = 0  # units the location lacks for the line


@dataclass
class _Candidate:
    place: LocationStock
    why: str
    rule: RoutingRule | None = None


def margin_percent(price: Decimal | None, cost: Decimal | None) -> Decimal | None:
    """(price − cost) / price, in percent; unknown without both or with a free item."""
    if price is None or cost is None or price <= 0:
        return None
    return (price - cost) * 100 / price


def matches(rule: RoutingRule, facts: LineFacts) -> bool:
    """Does every condition the rule sets hold for the line? (Blank conditions match all.)"""
    return all(check(rule, facts) for check in _CONDITIONS)


def _weight_ok(rule: RoutingRule, facts: LineFacts) -> bool:
    if rule.weight_over_grams is None and rule.weight_up_to_grams is None:
        return True
    if facts.weight_grams is None:
        return False  # a weight rule cannot vouch for an order of unknown weight
    if rule.weight_over_grams is not None and facts.weight_grams <= rule.weight_over_grams:
        return False
    return rule.weight_up_to_grams is None or facts.weight_grams <= rule.weight_up_to_grams


def _margin_ok(rule: RoutingRule, facts: LineFacts) -> bool:
    if rule.margin_below_percent is None and rule.margin_at_least_percent is None:
        return True
    margin = facts.margin_percent
    if margin is None:
        return False
    if rule.margin_below_percent is not None and margin >= rule.margin_below_percent:
        return False
    return rule.margin_at_least_percent is None or margin >= rule.margin_at_least_percent


def _fulfilment_ok(rule: RoutingRule, facts: LineFacts) -> bool:
    if rule.fulfilment == ANY:
        return True
    by_channel = bool(facts.fulfilled_by_channel)
    return by_channel == (rule.fulfilment == "channel")


def _prime_ok(rule: RoutingRule, facts: LineFacts) -> bool:
    return rule.prime == ANY or facts.prime == (rule.prime == "yes")


_CONDITIONS = (
    lambda rule, facts: not rule.channel or rule.channel == facts.channel,
    _fulfilment_ok,
    _prime_ok,
    _weight_ok,
    lambda rule, facts: not rule.sku or rule.sku == facts.sku,
    lambda rule, facts: not rule.tag or rule.tag in facts.tags,
    lambda rule, facts: not rule.countries or facts.country.upper() in rule.countries,
    lambda rule, facts: not rule.regions or facts.region.upper() in rule.regions,
    _margin_ok,
)


def route_line(
    facts: LineFacts,
    rules: Sequence[RoutingRule],
    pool: Sequence[LocationStock],
    *,
    channel_location: str = "",
) -> Route | None:
    """Where the line is fulfilled from, and why; None when the pool is empty."""
    if channel_location:
        have = next((p.available for p in pool if p.location == channel_location), 0)
        return Route(
            channel_location,
            f"the channel fulfils it from {channel_location}",
            short=max(0, facts.units - max(have, 0)),
        )
    candidates = _candidates(facts, rules, pool)
    if not candidates:
        return None
    first = candidates[0].place
    for candidate in candidates:
        if candidate.place.available >= facts.units:
            why = candidate.why
            if candidate.place is not first:
                why += f" ({first.location} is short)"
            return Route(candidate.place.location, why)
    best = max(candidates, key=lambda c: c.place.available)  # max keeps the first of a tie
    have = max(best.place.available, 0)
    return Route(
        best.place.location,
        f"no location holds {facts.units}; {best.place.location} has the most ({have})",
        short=facts.units - have,
    )


def _candidates(
    facts: LineFacts, rules: Sequence[RoutingRule], pool: Sequence[LocationStock]
) -> list[_Candidate]:
    by_code = {place.location: place for place in pool}
    picked: list[_Candidate] = []
    seen: set[str] = set()
    for rule in sorted(rules, key=lambda r: (r.priority, r.key)):
        place = by_code.get(rule.location)
        if place is None or rule.location in seen or not matches(rule, facts):
            continue
        seen.add(rule.location)
        picked.append(_Candidate(place, f"rule “{rule.name}”", rule))
    for place in pool:
        if place.location not in seen:
            seen.add(place.location)
            picked.append(_Candidate(place, f"{place.location} of the listing's pool"))
    return picked


def stranded(locations: Sequence[LocationStock]) -> bool:
    """A merchant location is committed beyond its stock while another one has units to
    spare: its orders can ship from there (a re-route), so the shortage is not real."""
    merchant = [place for place in locations if not place.is_fba]
    return any(p.available < 0 for p in merchant) and any(
        p.available > 0 and p.can_ship for p in merchant
    )


@dataclass(frozen=True)
class Move:
    """Move `units` of a line's commitment from one location to another."""

    line: int
    from_location: str
    to_location: str
    units: int


@dataclass
class LineAt:
    line: int
    location: str
    units: int  # committed, not shipped
    pool: frozenset[str] = field(default_factory=frozenset)


def unstrand(lines: Sequence[LineAt], locations: Sequence[LocationStock]) -> list[Move]:
    """Whole-line moves that bring negative locations back to zero where the lines' pools
    have spare units. `lines` come latest placed first (the last promised moves first)."""
    available = {p.location: p.available for p in locations if not p.is_fba}
    can_ship = {p.location for p in locations if not p.is_fba and p.can_ship}
    moves: list[Move] = []
    for line in lines:
        if available.get(line.location, 0) >= 0:
            continue
        target = max(
            (code for code in sorted(line.pool) if code in can_ship and code != line.location),
            key=lambda code: available.get(code, 0),
            default=None,
        )
        if target is None or available.get(target, 0) < line.units:
            continue
        moves.append(Move(line.line, line.location, target, line.units))
        available[line.location] += line.units
        available[target] -= line.units
    return moves
