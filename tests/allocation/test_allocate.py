"""allocate(): the seed scenarios, and properties over random stock, rules and listings."""

import re
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from allocation.rules import (
    AllocationContext,
    AllocationMode,
    Fulfilment,
    ListingSpec,
    LocationStock,
    Rule,
    RuleKind,
    Scope,
    SkuStock,
    allocate,
    listing_units,
)

SHOPIFY = ListingSpec(key="shopify", channel="shopify", channel_priority=1)
AMAZON = ListingSpec(key="amazon", channel="amazon-us", is_marketplace=True, channel_priority=2)
ETSY = ListingSpec(key="etsy", channel="etsy", is_marketplace=True, channel_priority=3)


def stock(code="A", *, on_hand=0, committed=0, reserved=0, **extra):
    return SkuStock(
        code=code,
        locations=(LocationStock("WH", on_hand=on_hand, committed=committed, reserved=reserved),),
        **extra,
    )


def quantities(allocations):
    return {key: allocation.quantity for key, allocation in allocations.items()}


MARKETPLACE_BUFFER = Rule(
    RuleKind.BUFFER_UNITS, Decimal(5), Scope.MARKETPLACES, name="marketplace buffer"
)


def test_eight_units_with_a_five_unit_marketplace_buffer():
    result = allocate(
        sku=stock(on_hand=8), listings=[SHOPIFY, AMAZON, ETSY], rules=[MARKETPLACE_BUFFER]
    )
    assert quantities(result) == {"shopify": 8, "amazon": 3, "etsy": 3}


def test_five_units_leave_nothing_for_marketplaces():
    result = allocate(
        sku=stock(on_hand=5), listings=[SHOPIFY, AMAZON, ETSY], rules=[MARKETPLACE_BUFFER]
    )
    assert quantities(result) == {"shopify": 5, "amazon": 0, "etsy": 0}


def test_fifty_units_with_a_fifteen_percent_amazon_buffer():
    rule = Rule(
        RuleKind.BUFFER_PERCENT, Decimal(15), Scope.CHANNEL, "amazon-us", name="Amazon buffer"
    )
    result = allocate(sku=stock(on_hand=50), listings=[SHOPIFY, AMAZON], rules=[rule])
    assert quantities(result) == {"shopify": 50, "amazon": 42}
    assert result["amazon"].explain() == (
        "pool: WH 50 → 50; − Amazon buffer (15 % of 50, rounded up) → 42"
    )


def test_a_bundle_is_limited_by_its_scarcest_component():
    bundle = SkuStock(code="KIT", locations=(), components=(("A", 2), ("B", 1)))
    components = {"A": stock("A", on_hand=7), "B": stock("B", on_hand=10)}
    result = allocate(sku=bundle, listings=[SHOPIFY], components=components)
    assert result["shopify"].quantity == 3
    assert result["shopify"].steps[0].label == "bundle: min(A 7 ÷ 2, B 10 ÷ 1)"


def test_the_trace_starts_from_the_buckets():
    result = allocate(sku=stock(on_hand=50, committed=3, reserved=10), listings=[SHOPIFY])
    assert result["shopify"].quantity == 37
    assert result["shopify"].steps[0].label == "pool: WH 37"


def test_fba_stock_sells_only_through_afn_listings_of_its_region():
    sku = SkuStock(
        code="A",
        locations=(
            LocationStock("WH", on_hand=10),
            LocationStock("FBA-NA", on_hand=30, is_fba=True, region="NA"),
            LocationStock("FBA-EU", on_hand=7, is_fba=True, region="EU"),
        ),
    )
    afn_us = ListingSpec(key="afn-us", channel="amazon-us", fulfilment=Fulfilment.FBA, region="NA")
    afn_uk = ListingSpec(key="afn-uk", channel="amazon-uk", fulfilment=Fulfilment.FBA, region="EU")
    result = allocate(sku=sku, listings=[SHOPIFY, afn_us, afn_uk])
    assert quantities(result) == {"shopify": 10, "afn-us": 30, "afn-uk": 7}


def test_a_store_listing_draws_only_from_its_store():
    sku = SkuStock(
        code="A", locations=(LocationStock("WH", on_hand=10), LocationStock("SOHO", on_hand=2))
    )
    bopis = ListingSpec(key="bopis", channel="shopify", locations=frozenset({"SOHO"}))
    assert allocate(sku=sku, listings=[bopis])["bopis"].quantity == 2


def test_a_pack_listing_shows_whole_packs():
    six_pack = ListingSpec(key="six", channel="shopify", pack_size=6)
    assert allocate(sku=stock(on_hand=20), listings=[six_pack])["six"].quantity == 3


def test_halted_and_oversold_listings_show_zero():
    halted = ListingSpec(
        key="halted", channel="amazon-us", halted=True, halt_reason="drift 12 units"
    )
    result = allocate(sku=stock(on_hand=20), listings=[SHOPIFY, halted])
    assert quantities(result) == {"shopify": 20, "halted": 0}
    assert result["halted"].steps[-1].label == "halted: drift 12 units"
    oversold = allocate(
        sku=stock(on_hand=20), listings=[SHOPIFY], context=AllocationContext(oversold=True)
    )
    assert oversold["shopify"].quantity == 0


def test_ring_fence_never_advertises_a_unit_twice():
    sku = stock(on_hand=5, mode=AllocationMode.RING_FENCED)
    result = allocate(sku=sku, listings=[SHOPIFY, AMAZON, ETSY])
    assert listing_units(result, [SHOPIFY, AMAZON, ETSY]) == 5
    assert result["shopify"].quantity >= result["amazon"].quantity >= result["etsy"].quantity


def test_auto_mode_fences_only_when_stock_runs_low():
    fast = {"mode": AllocationMode.AUTO, "ring_fence_threshold": 10}
    low = allocate(sku=stock(on_hand=6, **fast), listings=[SHOPIFY, AMAZON])
    high = allocate(sku=stock(on_hand=60, **fast), listings=[SHOPIFY, AMAZON])
    assert sum(quantities(low).values()) <= 6
    assert quantities(high) == {"shopify": 60, "amazon": 57}  # slow tier default 5 % on Amazon


# --- properties ------------------------------------------------------------------------------

rule_strategy = st.builds(
    Rule,
    kind=st.sampled_from(list(RuleKind)),
    value=st.integers(0, 100).map(Decimal),
    scope=st.sampled_from([Scope.ALL, Scope.MARKETPLACES, Scope.CHANNEL, Scope.TIER]),
    target=st.sampled_from(["amazon-us", "etsy", "shopify", "hero", "slow"]),
    priority=st.integers(0, 5),
    enabled=st.booleans(),
)
listing_strategy = st.builds(
    ListingSpec,
    key=st.just(""),
    channel=st.sampled_from(["shopify", "amazon-us", "etsy"]),
    is_marketplace=st.booleans(),
    channel_priority=st.integers(0, 3),
    fulfilment=st.sampled_from(list(Fulfilment)),
    region=st.just("NA"),
    pack_size=st.sampled_from([1, 1, 2, 6]),
    halted=st.booleans(),
)
location_strategy = st.tuples(
    st.integers(0, 200), st.integers(0, 60), st.integers(0, 60), st.booleans()
)


@st.composite
def scenario(draw):
    places = draw(st.lists(location_strategy, min_size=1, max_size=3))
    locations = tuple(
        LocationStock(f"L{n}", on_hand=h, committed=c, reserved=r, is_fba=fba, region="NA")
        for n, (h, c, r, fba) in enumerate(places)
    )
    sku = SkuStock(
        code="A",
        locations=locations,
        tier=draw(st.sampled_from(["hero", "core", "tail", "slow"])),
        mode=draw(st.sampled_from(list(AllocationMode))),
        velocity_per_day=Decimal(draw(st.integers(0, 50_000))),
        ring_fence_threshold=draw(st.integers(0, 50)),
    )
    listings = [
        ListingSpec(**{**item.__dict__, "key": f"listing-{n}"})
        for n, item in enumerate(draw(st.lists(listing_strategy, min_size=1, max_size=5)))
    ]
    rules = draw(st.lists(rule_strategy, max_size=6))
    return sku, listings, rules


def merchant_sellable(sku):
    return max(sum(s.available for s in sku.locations if not s.is_fba), 0)


def fba_sellable(sku):
    return max(sum(s.available for s in sku.locations if s.is_fba), 0)


@settings(max_examples=400, deadline=None)
@given(scenario())
def test_quantities_are_never_negative_and_halted_listings_show_zero(case):
    sku, listings, rules = case
    result = allocate(sku=sku, listings=listings, rules=rules)
    for listing in listings:
        assert result[listing.key].quantity >= 0
        if listing.halted:
            assert result[listing.key].quantity == 0


@settings(max_examples=400, deadline=None)
@given(scenario())
def test_ring_fenced_listings_never_advertise_more_than_is_sellable(case):
    sku, listings, rules = case
    sku = SkuStock(**{**sku.__dict__, "mode": AllocationMode.RING_FENCED})
    result = allocate(sku=sku, listings=listings, rules=rules)
    merchant = [item for item in listings if item.fulfilment == Fulfilment.MERCHANT]
    fba = [item for item in listings if item.fulfilment == Fulfilment.FBA]
    assert listing_units(result, merchant) <= merchant_sellable(sku)
    assert listing_units(result, fba) <= fba_sellable(sku)


@settings(max_examples=400, deadline=None)
@given(scenario(), st.integers(0, 2), st.integers(1, 50))
def test_adding_stock_never_lowers_a_listing(case, where, extra):
    sku, listings, rules = case
    before = allocate(sku=sku, listings=listings, rules=rules)
    grown = list(sku.locations)
    target = grown[where % len(grown)]
    grown[where % len(grown)] = LocationStock(
        **{**target.__dict__, "on_hand": target.on_hand + extra}
    )
    after = allocate(
        sku=SkuStock(**{**sku.__dict__, "locations": tuple(grown)}), listings=listings, rules=rules
    )
    for listing in listings:
        assert after[listing.key].quantity >= before[listing.key].quantity, (
            before[listing.key].explain(),
            after[listing.key].explain(),
        )


@settings(max_examples=400, deadline=None)
@given(scenario())
def test_the_trace_ends_at_the_quantity_and_each_step_is_explained(case):
    sku, listings, rules = case
    result = allocate(sku=sku, listings=listings, rules=rules)
    for allocation in result.values():
        assert allocation.steps[-1].quantity == allocation.quantity
        assert allocation.steps[0].label.startswith("pool: ")
        for step in allocation.steps:
            assert step.quantity >= 0
            assert re.search(r"\w", step.label)
