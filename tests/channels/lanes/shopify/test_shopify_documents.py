"""Every GraphQL document the Shopify client can send is valid against the pinned 2026-04 schema,
and so are the variables its own builders produce for it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from graphql import parse, validate
from graphql.execution.values import get_variable_values
from graphql.language import OperationDefinitionNode

from channels.lanes.shopify import client as shopify
from channels.lanes.shopify.client import SetQuantity, Tracking

ITEM = "gid://shopify/InventoryItem/30322695"
LOCATION = "gid://shopify/Location/124656943"
ORDER = "gid://shopify/Order/820982911946154508"
SINCE = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)

# One sample per document, built only through the client's own variable builders.
SAMPLE_VARIABLES: dict[str, Callable[[], dict[str, Any]]] = {
    "inventory_set_quantities": lambda: shopify.set_quantities_variables(
        [
            SetQuantity(ITEM, LOCATION, quantity=11, change_from=1),
            SetQuantity("gid://shopify/InventoryItem/2", LOCATION, quantity=0, change_from=None),
        ],
        idempotency_key="4f5b6ebf-143c-4da5-8d0f-fb8553bfd85d",
        reference_uri="gid://inventory-sync/PushAttempt/42",
    ),
    "inventory_levels": lambda: shopify.inventory_levels_variables([ITEM], LOCATION),
    "product_variants": lambda: shopify.product_variants_variables(
        250, "cursor", shopify.sku_search_query(["SKU2006-001", 'we"ird: sku'])
    ),
    "locations": lambda: shopify.locations_variables(250, None, include_inactive=True),
    "orders_updated_since": lambda: shopify.orders_variables(SINCE, 16, "cursor"),
    "order": lambda: shopify.order_variables(ORDER),
    "order_line_items": lambda: shopify.order_line_items_variables(ORDER, 250, "cursor"),
    "order_fulfillment_orders": lambda: shopify.order_fulfillment_orders_variables(ORDER),
    "fulfillment_create": lambda: shopify.fulfillment_create_variables(
        ["gid://shopify/FulfillmentOrder/1046000778"],
        Tracking("UPS", "1Z999AA10123456784", "https://www.ups.com/track?tracknum=1Z9"),
        notify_customer=False,
    ),
    "order_cancel": lambda: shopify.order_cancel_variables(
        ORDER, reason="INVENTORY", restock=True, notify_customer=False, staff_note="oversell"
    ),
}


def _documents_on_disk() -> list[str]:
    return sorted(p.stem for p in shopify.DOCUMENTS_DIR.rglob("*.graphql"))


def test_every_document_on_disk_has_sample_variables():
    assert _documents_on_disk() == sorted(SAMPLE_VARIABLES)
    assert shopify.document_names() == _documents_on_disk()


@pytest.mark.parametrize("name", _documents_on_disk())
def test_document_validates_against_the_2026_04_schema(shopify_schema, name):
    text = (shopify.DOCUMENTS_DIR / f"{name}.graphql").read_text()

    errors = validate(shopify_schema, parse(text))

    assert [e.message for e in errors] == []


@pytest.mark.parametrize("name", _documents_on_disk())
def test_builder_variables_coerce_against_the_operation(shopify_schema, name):
    document = shopify.load_document(name)
    operation = next(
        d for d in parse(document.text).definitions if isinstance(d, OperationDefinitionNode)
    )
    variables = SAMPLE_VARIABLES[name]()

    result = get_variable_values(shopify_schema, operation.variable_definitions, variables)

    # A list means coercion errors (graphql-core 3.2 returns a dict on success, 3.3 an object).
    assert not isinstance(result, list), [e.message for e in result]
    assert getattr(result, "coerced", result).keys() >= {
        k for k, v in variables.items() if v is not None
    }
    declared = {v.variable.name.value for v in operation.variable_definitions}
    assert set(variables) <= declared


@pytest.mark.parametrize("name", _documents_on_disk())
def test_estimated_cost_of_the_default_page_stays_under_shopifys_cap(name):
    document = shopify.load_document(name)

    cost = shopify.estimate_cost(document, SAMPLE_VARIABLES[name]())

    assert 0 < cost < shopify.MAX_QUERY_COST


def test_default_page_sizes_stay_under_the_cost_target():
    doc = shopify.load_document
    pages = {
        "orders_updated_since": shopify.largest_batch(
            doc("orders_updated_since"), lambda n: shopify.orders_variables(SINCE, n), 250
        ),
        "inventory_levels": shopify.largest_batch(
            doc("inventory_levels"),
            lambda n: shopify.inventory_levels_variables([ITEM] * n, LOCATION),
            250,
        ),
    }
    assert (
        shopify.estimate_cost(
            doc("orders_updated_since"),
            shopify.orders_variables(SINCE, pages["orders_updated_since"]),
        )
        <= shopify.COST_TARGET
    )
    assert (
        shopify.estimate_cost(
            doc("inventory_levels"),
            shopify.inventory_levels_variables([ITEM] * pages["inventory_levels"], LOCATION),
        )
        <= shopify.COST_TARGET
    )
    assert pages["orders_updated_since"] > 1


def test_set_quantities_carries_idempotency_and_change_from_on_every_quantity():
    document = shopify.load_document("inventory_set_quantities")
    variables = SAMPLE_VARIABLES["inventory_set_quantities"]()

    assert "@idempotent(key: $idempotencyKey)" in document.text
    assert variables["input"]["name"] == "available"
    assert all("changeFromQuantity" in q for q in variables["input"]["quantities"])
    assert [q["changeFromQuantity"] for q in variables["input"]["quantities"]] == [1, None]


def test_order_cancel_uses_the_2026_04_arguments(shopify_schema):
    arguments = shopify_schema.mutation_type.fields["orderCancel"].args
    document = shopify.load_document("order_cancel")

    sent = {a.name.value for f in document.operation.selection_set.selections for a in f.arguments}

    assert sent <= set(arguments)
    assert {name for name, arg in arguments.items() if str(arg.type).endswith("!")} <= sent
