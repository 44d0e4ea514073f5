"""Routing rules as a table: which location of the pool fulfils a line, and why (I11)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from allocation.routing import (
    LineAt,
    LineFacts,
    RoutingRule,
    margin_percent,
    matches,
    route_line,
    stranded,
    unstrand,
)
from allocation.rules import LocationStock

FIVE_POUNDS = 2268  # grams

SEED_RULES = [
    RoutingRule("Amazon Prime ships from FBA", "FBA-US", priority=10, channel="amazon-us", prime="yes"),
    RoutingRule("Heavy Shopify orders go to the 3PL", "3PL-WEST", priority=20, channel="shopify",
                weight_over_grams=FIVE_POUNDS),
    RoutingRule("Everything else from our warehouse", "WH-EAST", priority=100),
]  # fmt: skip


def place(code: str, units: int, *, fba: bool = False, ships: bool = True) -> LocationStock:
    return LocationStock(code, on_hand=units, is_fba=fba, can_ship=ships)


POOL = (place("WH-EAST", 10), place("STORE-SOHO", 4), place("3PL-WEST", 6))
AMAZON_POOL = (place("FBA-US", 8, fba=True), *POOL)


@pytest.mark.parametrize(
    ("facts", "pool", "where", "why"),
    [
        (LineFacts("amazon-us", "TEE", 1, prime=True), AMAZON_POOL, "FBA-US", "Amazon Prime"),
        (LineFacts("amazon-us", "TEE", 1, prime=False), AMAZON_POOL, "WH-EAST", "Everything"),
        (LineFacts("shopify", "TEE", 1, weight_grams=FIVE_POUNDS + 1), POOL, "3PL-WEST", "Heavy"),
        # exactly 5 lb is not over 5 lb
        (LineFacts("shopify", "TEE", 1, weight_grams=FIVE_POUNDS), POOL, "WH-EAST", "Everything"),
        # unknown weight: a weight rule cannot vouch for it
        (LineFacts("shopify", "TEE", 1), POOL, "WH-EAST", "Everything"),
        (LineFacts("wholesale", "TEE", 2), POOL, "WH-EAST", "Everything"),
    ],
)
def test_the_seed_rules_route_each_order_to_its_place(facts, pool, where, why):
    route = route_line(facts, SEED_RULES, pool)
    assert route.location == where
    assert why in route.reason
    assert route.short == 0


def test_a_short_first_choice_passes_the_line_to_the_next_rule_then_the_pool():
    pool = (place("WH-EAST", 1), place("STORE-SOHO", 4), place("3PL-WEST", 2))
    route = route_line(LineFacts("shopify", "TEE", 2), SEED_RULES, pool)
    assert (route.location, route.short) == ("STORE-SOHO", 0)
    assert "WH-EAST is short" in route.reason
    heavy = route_line(
        LineFacts("shopify", "TEE", 3, weight_grams=9000), SEED_RULES, pool
    )  # 3PL has 2, the warehouse 1: the store holds it
    assert heavy.location == "STORE-SOHO"


def test_when_no_location_holds_the_line_it_goes_where_most_is_and_names_the_shortfall():
    pool = (place("WH-EAST", 1), place("STORE-SOHO", 2), place("3PL-WEST", 0))
    route = route_line(LineFacts("shopify", "TEE", 3), SEED_RULES, pool)
    assert (route.location, route.short) == ("STORE-SOHO", 1)
    assert "no location holds 3" in route.reason
    empty = route_line(LineFacts("shopify", "TEE", 1), SEED_RULES, (place("WH-EAST", -2),))
    assert (empty.location, empty.short) == ("WH-EAST", 1)


def test_a_rule_outside_the_listings_pool_never_applies():
    # A Shopify listing does not advertise FBA stock: a rule sending it there is skipped.
    rules = [RoutingRule("MCF", "FBA-US", priority=1, channel="shopify"), *SEED_RULES]
    assert route_line(LineFacts("shopify", "TEE", 1), rules, POOL).location == "WH-EAST"


def test_the_channels_own_word_wins_over_every_rule_even_when_short():
    route = route_line(
        LineFacts("amazon-us", "TEE", 3, fulfilled_by_channel=True),
        SEED_RULES,
        (place("FBA-US", 1, fba=True), *POOL),
        channel_location="FBA-US",
    )
    assert (route.location, route.short) == ("FBA-US", 2)
    assert route.reason == "the channel fulfils it from FBA-US"


def test_an_empty_pool_has_no_route():
    assert route_line(LineFacts("shopify", "TEE", 1), SEED_RULES, ()) is None


@pytest.mark.parametrize(
    ("rule", "facts", "expected"),
    [
        (RoutingRule("r", "X", fulfilment="merchant"), LineFacts("a", "S", 1), True),
        (RoutingRule("r", "X", fulfilment="merchant"),
         LineFacts("a", "S", 1, fulfilled_by_channel=True), False),
        (RoutingRule("r", "X", fulfilment="channel"),
         LineFacts("a", "S", 1, fulfilled_by_channel=True), True),
        (RoutingRule("r", "X", prime="no"), LineFacts("a", "S", 1, prime=True), False),
        (RoutingRule("r", "X", sku="S"), LineFacts("a", "S", 1), True),
        (RoutingRule("r", "X", sku="S"), LineFacts("a", "T", 1), False),
        (RoutingRule("r", "X", tag="fragile"),
         LineFacts("a", "S", 1, tags=frozenset({"fragile"})), True),
        (RoutingRule("r", "X", tag="fragile"), LineFacts("a", "S", 1), False),
        (RoutingRule("r", "X", countries=frozenset({"US", "CA"})),
         LineFacts("a", "S", 1, country="ca"), True),
        (RoutingRule("r", "X", countries=frozenset({"US"})),
         LineFacts("a", "S", 1, country="GB"), False),
        (RoutingRule("r", "X", regions=frozenset({"CA", "OR"})),
         LineFacts("a", "S", 1, region="OR"), True),
        (RoutingRule("r", "X", weight_up_to_grams=500),
         LineFacts("a", "S", 1, weight_grams=500), True),
        (RoutingRule("r", "X", weight_up_to_grams=500),
         LineFacts("a", "S", 1, weight_grams=501), False),
        (RoutingRule("r", "X", margin_below_percent=Decimal(20)),
         LineFacts("a", "S", 1, margin_percent=Decimal("19.99")), True),
        (RoutingRule("r", "X", margin_below_percent=Decimal(20)),
         LineFacts("a", "S", 1, margin_percent=Decimal(20)), False),
        (RoutingRule("r", "X", margin_at_least_percent=Decimal(50)),
         LineFacts("a", "S", 1), False),  # unknown margin
        (RoutingRule("r", "X"), LineFacts("anything", "S", 1), True),
    ],
)  # fmt: skip
def test_each_condition_matches_only_what_it_says(rule, facts, expected):
    assert matches(rule, facts) is expected


def test_margin_is_price_less_cost_over_price_and_unknown_without_both():
    assert margin_percent(Decimal(20), Decimal(15)) == Decimal(25)
    assert margin_percent(None, Decimal(1)) is None
    assert margin_percent(Decimal(0), Decimal(1)) is None


def test_rules_are_tried_in_priority_order_not_list_order():
    rules = [
        RoutingRule("late", "STORE-SOHO", priority=50),
        RoutingRule("early", "3PL-WEST", priority=5),
    ]
    assert route_line(LineFacts("x", "S", 1), rules, POOL).location == "3PL-WEST"


def test_stranded_needs_a_negative_location_and_spare_units_elsewhere():
    assert stranded([place("A", -1), place("B", 1)])
    assert not stranded([place("A", -1), place("B", 0)])
    assert not stranded([place("A", -1), place("B", 3, ships=False)])
    assert not stranded([place("A", -1), place("FBA", 5, fba=True)])


def test_unstrand_moves_whole_lines_latest_first_while_the_target_has_room():
    stock = [place("A", -3), place("B", 2), place("C", 0)]
    lines = [
        LineAt(1, "A", 2, frozenset({"A", "B", "C"})),  # latest placed
        LineAt(2, "A", 1, frozenset({"A", "B", "C"})),
        LineAt(3, "A", 1, frozenset({"A", "B", "C"})),
    ]
    moves = unstrand(lines, stock)
    assert [(m.line, m.to_location, m.units) for m in moves] == [(1, "B", 2)]
    # A is still -1 but B has no room left: the rest stays, an oversell for the planner.
    outside = unstrand([LineAt(1, "A", 1, frozenset({"A"}))], [place("A", -1), place("B", 5)])
    assert outside == []  # B is outside the line's pool
