"""allocate(): how many units each listing of a SKU shows, with the arithmetic behind it.

Pure functions over plain data: no database, no clock. The planner loads balances, rules and
listings, calls `allocate`, and writes the listings' desired quantities.

The order of the steps, for one listing in the shared pool:
1. pool      the sellable units of the locations the listing draws from
             (on_hand - committed - reserved - unsellable, summed over those locations);
2. buffers   explicit buffer rules (units, percent) in priority order, or the SKU's
             velocity-tier default when no explicit buffer applies (marketplaces only);
3. share     channel share percent of what is left;
4. floor / ceiling;
5. pack      a pack listing shows whole packs.
Halted listings and oversold SKUs show 0. A ring-fenced SKU additionally splits its sellable
units among its listings so that their sum never exceeds it (design invariant I7b).

Every step only ever rounds down and is non-decreasing in the pool, so adding stock never
lowers a listing's quantity while the rules stay the same.
"""

from __future__ import annotations

import dataclasses
import enum
import heapq
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal


class AllocationMode(enum.StrEnum):
    SHARED = "shared"
    RING_FENCED = "ring_fenced"
    AUTO = "auto"


class RuleKind(enum.StrEnum):
    BUFFER_UNITS = "buffer_units"
    BUFFER_PERCENT = "buffer_percent"
    SHARE_PERCENT = "share_percent"
    FLOOR = "floor"
    CEILING = "ceiling"


class Scope(enum.StrEnum):
    ALL = "all"  # every listing
    MARKETPLACES = "marketplaces"  # listings on marketplace channels (Amazon, Etsy, ...)
    CHANNEL = "channel"  # one channel, by code
    SKU = "sku"  # one SKU, by code
    TAG = "tag"  # SKUs carrying a tag
    TIER = "tier"  # SKUs of a velocity tier


class Fulfilment(enum.StrEnum):
    MERCHANT = "merchant"  # shipped from our own locations (Shopify, Amazon MFN, BOPIS, ...)
    FBA = "fba"  # Amazon AFN: sold only from the FBA pool of the listing's region


BUFFER_KINDS = (RuleKind.BUFFER_UNITS, RuleKind.BUFFER_PERCENT)
# Default marketplace buffer by velocity tier when no explicit buffer rule applies.
TIER_BUFFER_PERCENT = {"hero": 20, "core": 15, "tail": 10, "slow": 5}


@dataclass(frozen=True)
class Rule:
    kind: RuleKind
    value: Decimal  # units for buffer_units / floor / ceiling, percent otherwise
    scope: Scope = Scope.ALL
    target: str = ""  # the channel code, SKU code, tag or tier named by the scope
    priority: int = 100  # lower runs first
    enabled: bool = True
    name: str = ""

    def label(self) -> str:
        return self.name or f"{self.kind.value} {_number(self.value)}"


@dataclass(frozen=True)
class LocationStock:
    """One location's buckets for one SKU."""

    location: str
    on_hand: int = 0
    committed: int = 0
    reserved: int = 0
    unsellable: int = 0
    is_fba: bool = False
    region: str = ""  # FBA pools only
    can_ship: bool = True

    @property
    def available(self) -> int:
        return self.on_hand - self.committed - self.reserved - self.unsellable


@dataclass(frozen=True)
class SkuStock:
    code: str
    locations: tuple[LocationStock, ...]
    tags: frozenset[str] = frozenset()
    tier: str = "slow"
    mode: AllocationMode = AllocationMode.SHARED
    # auto mode: ring-fence when sellable < velocity x lag x safety, or < the fixed threshold
    velocity_per_day: Decimal = Decimal(0)
    ring_fence_threshold: int = 0
    # a bundle: (component SKU code, units per bundle); components are passed in `components`
    components: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class ListingSpec:
    key: str  # the listing's id as the planner knows it
    channel: str
    is_marketplace: bool = False
    channel_priority: int = 100  # lower wins ties and ring-fence order
    fulfilment: Fulfilment = Fulfilment.MERCHANT
    region: str = ""  # FBA listings: the pool they draw from
    locations: frozenset[str] | None = None  # merchant listings: a chosen set (BOPIS, 3PL)
    pack_size: int = 1
    halted: bool = False
    halt_reason: str = ""
    # The channel is capped (its dead-man switch tripped): show at most this many.
    cap: int | None = None
    cap_reason: str = ""


@dataclass(frozen=True)
class Step:
    label: str
    quantity: int  # the running quantity after this step

    def as_dict(self) -> dict[str, object]:
        return {"label": self.label, "quantity": self.quantity}


@dataclass(frozen=True)
class Allocation:
    quantity: int
    steps: tuple[Step, ...]
    rules: tuple[str, ...] = ()  # labels of the rules that applied
    # The ring-fence capped this listing's side: its pushes rebalance break-before-make (I7b).
    ring_fenced: bool = False

    def explain(self) -> str:
        return "; ".join(f"{step.label} → {step.quantity}" for step in self.steps)


@dataclass(frozen=True)
class AllocationContext:
    sync_lag_days: Decimal = Decimal(60) / Decimal(86_400)  # one minute
    safety_factor: Decimal = Decimal(3)
    oversold: bool = False  # an open oversell incident: every listing shows 0


@dataclass
class _Trace:
    steps: list[Step] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    quantity: int = 0
    ring_fenced: bool = False

    def set(self, label: str, quantity: int) -> None:
        self.quantity = quantity
        self.steps.append(Step(label, quantity))


def _number(value: Decimal) -> str:
    """15.00 -> "15", 12.50 -> "12.5", 100 -> "100"."""
    return f"{value.normalize():f}"


def _applies(rule: Rule, listing: ListingSpec, sku: SkuStock) -> bool:
    if not rule.enabled:
        return False
    match rule.scope:
        case Scope.ALL:
            return True
        case Scope.MARKETPLACES:
            return listing.is_marketplace
        case Scope.CHANNEL:
            return listing.channel == rule.target
        case Scope.SKU:
            return sku.code == rule.target
        case Scope.TAG:
            return rule.target in sku.tags
        case Scope.TIER:
            return sku.tier == rule.target
    return False  # pragma: no cover - every scope is matched above


def _pool(listing: ListingSpec, sku: SkuStock) -> tuple[int, str]:
    """Sellable units the listing may draw on, and a label naming where they are."""
    if listing.fulfilment == Fulfilment.FBA:
        chosen = [s for s in sku.locations if s.is_fba and s.region == listing.region]
    elif listing.locations is not None:
        chosen = [s for s in sku.locations if s.location in listing.locations and not s.is_fba]
    else:
        chosen = [s for s in sku.locations if not s.is_fba and s.can_ship]
    total = sum(s.available for s in chosen)
    parts = " + ".join(f"{s.location} {s.available}" for s in chosen) or "no location"
    return total, f"pool: {parts}"


def _percent_of(quantity: int, percent: Decimal) -> int:
    return math.floor(Decimal(quantity) * percent / 100)


def _shared_quantity(
    listing: ListingSpec, sku: SkuStock, rules: Sequence[Rule], pool: int, trace: _Trace
) -> None:
    """Steps 2-4 on `trace`, starting from the pool."""
    applicable = sorted(
        (rule for rule in rules if _applies(rule, listing, sku)),
        key=lambda rule: (rule.priority, rule.kind.value, rule.name),
    )
    buffers = [rule for rule in applicable if rule.kind in BUFFER_KINDS]
    if not buffers and listing.is_marketplace and sku.tier in TIER_BUFFER_PERCENT:
        buffers = [
            Rule(
                kind=RuleKind.BUFFER_PERCENT,
                value=Decimal(TIER_BUFFER_PERCENT[sku.tier]),
                name=f"{sku.tier} tier default buffer {TIER_BUFFER_PERCENT[sku.tier]} %",
            )
        ]
    for rule in buffers:
        before = trace.quantity
        if rule.kind == RuleKind.BUFFER_UNITS:
            after = max(before - int(rule.value), 0)
            trace.set(f"− {rule.label()} ({int(rule.value)} units)", after)
        else:
            # The kept-back part rounds up, so the published part rounds down.
            after = max(before - math.ceil(Decimal(before) * rule.value / 100), 0)
            trace.set(f"− {rule.label()} ({_number(rule.value)} % of {before}, rounded up)", after)
        trace.rules.append(rule.label())
    for rule in applicable:
        before = trace.quantity
        if rule.kind == RuleKind.SHARE_PERCENT:
            trace.set(
                f"× {rule.label()} ({_number(rule.value)} % of {before}, rounded down)",
                _percent_of(before, rule.value),
            )
        elif rule.kind == RuleKind.FLOOR:
            # Show at least this many, never more than the pool holds.
            after = max(before, min(int(rule.value), max(pool, 0)))
            if after != before:
                trace.set(f"↑ {rule.label()} (at least {int(rule.value)}, pool {pool})", after)
        elif rule.kind == RuleKind.CEILING:
            after = min(before, int(rule.value))
            if after != before:
                trace.set(f"↓ {rule.label()} (at most {int(rule.value)})", after)
        else:
            continue
        trace.rules.append(rule.label())


def _sellable_for(listing: ListingSpec, sku: SkuStock) -> int:
    return max(_pool(listing, sku)[0], 0)


def _is_ring_fenced(sku: SkuStock, sellable: int, context: AllocationContext) -> tuple[bool, str]:
    if sku.mode == AllocationMode.RING_FENCED:
        return True, "ring-fenced SKU"
    if sku.mode == AllocationMode.AUTO:
        expected = math.ceil(sku.velocity_per_day * context.sync_lag_days * context.safety_factor)
        threshold = max(expected, sku.ring_fence_threshold)
        if sellable < threshold:
            return True, f"auto: sellable {sellable} below {threshold}, ring-fenced"
    return False, ""


def _divide(
    units: int, listings: Sequence[ListingSpec], weights: Mapping[str, Decimal]
) -> dict[str, int]:
    """Hand out `units` one at a time to the highest weight / (given + 1) (a divisor method).

    Divisor methods never take a unit away from anyone when there are more units to hand out,
    which keeps "more stock never lowers a listing" true in ring-fenced mode too. Ties go to
    the earlier listing.
    """
    given = {listing.key: 0 for listing in listings}
    heap = [(-weights[item.key], index, item.key) for index, item in enumerate(listings)]
    heapq.heapify(heap)
    for _ in range(units if heap else 0):
        _, index, key = heapq.heappop(heap)
        given[key] += 1
        heapq.heappush(heap, (-weights[key] / (given[key] + 1), index, key))
    return given


def allocate(
    *,
    sku: SkuStock,
    listings: Sequence[ListingSpec],
    rules: Sequence[Rule] = (),
    components: Mapping[str, SkuStock] | None = None,
    context: AllocationContext = AllocationContext(),
) -> dict[str, Allocation]:
    """The quantity every listing of `sku` should show, each with its trace (design I9).

    Deterministic and pure. For a bundle SKU, `components` holds each component's stock; the
    bundle's pool per listing is the minimum over components of ⌊component quantity / units
    per bundle⌋, each component quantity computed for the same listing with its own rules.
    """
    traces: dict[str, _Trace] = {}
    for listing in listings:
        trace = _Trace()
        if sku.components:
            pool = _bundle_pool(sku, listing, rules, components or {}, trace)
        else:
            pool, label = _pool(listing, sku)
            trace.set(label, max(pool, 0))
        _shared_quantity(listing, sku, rules, pool, trace)
        traces[listing.key] = trace

    _ring_fence(sku, listings, traces, context)

    result: dict[str, Allocation] = {}
    for listing in listings:
        trace = traces[listing.key]
        if context.oversold:
            trace.set("oversold: open incident, every listing shows 0", 0)
        elif listing.halted:
            trace.set(f"halted{': ' + listing.halt_reason if listing.halt_reason else ''}", 0)
        if listing.pack_size > 1 and trace.quantity:
            trace.set(
                f"÷ pack of {listing.pack_size}, whole packs", trace.quantity // listing.pack_size
            )
        if listing.cap is not None and trace.quantity > listing.cap:
            trace.set(f"channel capped at its safety quantity: {listing.cap_reason}", listing.cap)
        result[listing.key] = Allocation(
            trace.quantity, tuple(trace.steps), tuple(trace.rules), trace.ring_fenced
        )
    return result


def _bundle_pool(
    sku: SkuStock,
    listing: ListingSpec,
    rules: Sequence[Rule],
    components: Mapping[str, SkuStock],
    trace: _Trace,
) -> int:
    limits = []
    for code, per_bundle in sku.components:
        component = components.get(code)
        if component is None:
            limits.append((0, f"{code} unknown"))
            continue
        # The component as this listing would see it, after the component's own rules.
        single = dataclasses.replace(listing, pack_size=1, halted=False)
        inner = allocate(sku=component, listings=[single], rules=rules)[listing.key].quantity
        limits.append((inner // per_bundle, f"{code} {inner} ÷ {per_bundle}"))
    pool = min((limit for limit, _ in limits), default=0)
    trace.set("bundle: min(" + ", ".join(label for _, label in limits) + ")", pool)
    return pool


def _ring_fence(
    sku: SkuStock,
    listings: Sequence[ListingSpec],
    traces: dict[str, _Trace],
    context: AllocationContext,
) -> None:
    """Cap the listings of each pool side so that their sum never exceeds its sellable units.

    FBA stock and merchant stock never mix, so each side is fenced on its own: FBA per region,
    merchant across all its locations.
    """
    sides: dict[str, list[ListingSpec]] = defaultdict(list)
    for listing in listings:
        if listing.halted:
            continue
        side = f"fba:{listing.region}" if listing.fulfilment == Fulfilment.FBA else "merchant"
        sides[side].append(listing)
    for side_listings in sides.values():
        first = side_listings[0]
        if sku.components:
            sellable = max(
                (traces[item.key].steps[0].quantity for item in side_listings), default=0
            )
        elif first.fulfilment == Fulfilment.FBA:
            sellable = _sellable_for(first, sku)
        else:
            sellable = max(sum(s.available for s in sku.locations if not s.is_fba), 0)
        fenced, reason = _is_ring_fenced(sku, sellable, context)
        if not fenced:
            continue
        ordered = sorted(side_listings, key=lambda item: (item.channel_priority, item.key))
        # Earlier channels weigh more: 1, 1/2, 1/3, ... of the fenced units.
        weights = {item.key: Decimal(1) / Decimal(index + 1) for index, item in enumerate(ordered)}
        units = _divide(sellable, ordered, weights)
        for item in ordered:
            trace = traces[item.key]
            trace.ring_fenced = True
            trace.set(
                f"{reason}: {units[item.key]} of {sellable} sellable fall to this listing",
                min(trace.quantity, units[item.key]),
            )


def listing_units(allocations: Mapping[str, Allocation], listings: Iterable[ListingSpec]) -> int:
    """Units advertised across listings (a pack listing showing 2 six-packs advertises 12)."""
    return sum(allocations[item.key].quantity * item.pack_size for item in listings)
