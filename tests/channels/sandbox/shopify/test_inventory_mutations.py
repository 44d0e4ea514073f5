"""inventorySetQuantities / inventoryAdjustQuantities with the 2026-04 runtime rules."""

from __future__ import annotations

import pytest

from tests.channels.sandbox.shopify.support import Shop, WebhookReceiver

SET = """
mutation PushAvailable($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup {
      id createdAt reason referenceDocumentUri
      changes { name delta quantityAfterChange item { id } location { id } }
    }
    userErrors { code field message }
  }
}
"""

SET_WITHOUT_DIRECTIVE = """
mutation PushAvailable($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) {
    inventoryAdjustmentGroup { id }
    userErrors { code field message }
  }
}
"""

ADJUST = """
mutation Adjust($input: InventoryAdjustQuantitiesInput!, $key: String!) {
  inventoryAdjustQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { reason changes { name delta quantityAfterChange } }
    userErrors { code field message }
  }
}
"""


@pytest.fixture
def stock(shop: Shop) -> dict:
    seeded = shop.seed(
        {"sku": "TEE-M", "quantities": {"Main warehouse": 10, "SoHo store": 4}},
        {"sku": "CAP", "quantities": {"Main warehouse": 3}},
    )
    by_sku = {p["sku"]: p for p in seeded["products"]}
    locations = {loc["name"]: loc["gid"] for loc in seeded["locations"]}
    return {
        "tee": by_sku["TEE-M"]["inventory_item_gid"],
        "cap": by_sku["CAP"]["inventory_item_gid"],
        "warehouse": locations["Main warehouse"],
        "store": locations["SoHo store"],
    }


def _input(*quantities: dict, name: str = "available", reason: str = "correction") -> dict:
    return {
        "name": name,
        "reason": reason,
        "referenceDocumentUri": "gid://inventory-sync/AllocationPush/42",
        "quantities": list(quantities),
    }


def test_set_applies_available_and_on_hand_and_echoes_shopify_labels(shop: Shop, stock: dict):
    body = shop.gql(
        SET,
        {
            "key": "push-1",
            "input": _input(
                {
                    "inventoryItemId": stock["tee"],
                    "locationId": stock["warehouse"],
                    "quantity": 7,
                    "changeFromQuantity": 10,
                }
            ),
        },
    )

    payload = body["data"]["inventorySetQuantities"]
    assert payload["userErrors"] == []
    group = payload["inventoryAdjustmentGroup"]
    assert group["reason"] == "Inventory correction"
    assert group["referenceDocumentUri"] == "gid://inventory-sync/AllocationPush/42"
    assert [(c["name"], c["delta"], c["quantityAfterChange"]) for c in group["changes"]] == [
        ("available", -3, None),
        ("on_hand", -3, None),
    ]
    assert body["extensions"]["cost"]["requestedQueryCost"] == 10
    level = shop.level("TEE-M")
    assert (level["available"], level["on_hand"]) == (7, 7)


def test_stale_change_from_quantity_fails_the_whole_call(shop: Shop, stock: dict):
    body = shop.gql(
        SET,
        {
            "key": "push-2",
            "input": _input(
                {
                    "inventoryItemId": stock["tee"],
                    "locationId": stock["warehouse"],
                    "quantity": 5,
                    "changeFromQuantity": 10,
                },
                {
                    "inventoryItemId": stock["cap"],
                    "locationId": stock["warehouse"],
                    "quantity": 0,
                    "changeFromQuantity": 99,
                },
            ),
        },
    )

    payload = body["data"]["inventorySetQuantities"]
    assert payload["inventoryAdjustmentGroup"] is None
    assert payload["userErrors"] == [
        {
            "code": "CHANGE_FROM_QUANTITY_STALE",
            "field": ["input", "quantities", "1", "changeFromQuantity"],
            "message": "The changeFromQuantity value does not match persisted value.",
        }
    ]
    # The first quantity was fine, yet nothing was applied.
    assert shop.level("TEE-M")["available"] == 10
    assert shop.level("CAP")["available"] == 3


def test_null_change_from_quantity_sets_without_compare(shop: Shop, stock: dict):
    body = shop.gql(
        SET,
        {
            "key": "push-3",
            "input": _input(
                {
                    "inventoryItemId": stock["cap"],
                    "locationId": stock["warehouse"],
                    "quantity": 9,
                    "changeFromQuantity": None,
                }
            ),
        },
    )

    assert body["data"]["inventorySetQuantities"]["userErrors"] == []
    assert shop.level("CAP")["available"] == 9


def test_same_key_and_variables_replays_the_first_answer_without_applying_again(
    shop: Shop, stock: dict
):
    variables = {
        "key": "push-4",
        "input": _input(
            {
                "inventoryItemId": stock["tee"],
                "locationId": stock["warehouse"],
                "quantity": 6,
                "changeFromQuantity": 10,
            }
        ),
    }
    first = shop.gql(SET, variables)["data"]
    # A shopper buys one unit between the push and its retry.
    shop.control("POST", "sell", {"sku": "TEE-M", "quantity": 1}, expect=201)

    retry = shop.gql(SET, variables)["data"]

    assert retry == first
    assert shop.level("TEE-M")["available"] == 5  # the retry did not overwrite the sale
    calls = shop.control("GET", "requests")["log"]
    assert calls[-1]["notes"] == ["idempotent_replay"]


def test_adjust_replay_applies_the_delta_once(shop: Shop, stock: dict):
    variables = {
        "key": "adjust-1",
        "input": {
            "name": "available",
            "reason": "received",
            "changes": [
                {
                    "inventoryItemId": stock["cap"],
                    "locationId": stock["warehouse"],
                    "delta": 5,
                    "changeFromQuantity": None,
                }
            ],
        },
    }

    first = shop.gql(ADJUST, variables)["data"]
    second = shop.gql(ADJUST, variables)["data"]

    assert first == second
    assert first["inventoryAdjustQuantities"]["inventoryAdjustmentGroup"]["changes"] == [
        {"name": "available", "delta": 5, "quantityAfterChange": 8},
        {"name": "on_hand", "delta": 5, "quantityAfterChange": 8},
    ]
    assert shop.level("CAP")["available"] == 8


def test_same_key_with_different_variables_is_refused(shop: Shop, stock: dict):
    row = {
        "inventoryItemId": stock["tee"],
        "locationId": stock["warehouse"],
        "quantity": 8,
        "changeFromQuantity": 10,
    }
    shop.gql(SET, {"key": "push-5", "input": _input(row)})

    body = shop.gql(SET, {"key": "push-5", "input": _input({**row, "quantity": 2})})

    payload = body["data"]["inventorySetQuantities"]
    assert payload["inventoryAdjustmentGroup"] is None
    assert [e["code"] for e in payload["userErrors"]] == ["IDEMPOTENCY_KEY_PARAMETER_MISMATCH"]
    assert shop.level("TEE-M")["available"] == 8


def test_missing_idempotent_directive_is_a_top_level_error_and_changes_nothing(
    shop: Shop, stock: dict
):
    body = shop.gql(
        SET_WITHOUT_DIRECTIVE,
        {
            "input": _input(
                {
                    "inventoryItemId": stock["tee"],
                    "locationId": stock["warehouse"],
                    "quantity": 1,
                    "changeFromQuantity": 10,
                }
            )
        },
    )

    assert body["data"] == {"inventorySetQuantities": None}
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert error["extensions"]["problem"] == "IDEMPOTENT_DIRECTIVE_MISSING"
    assert error["path"] == ["inventorySetQuantities"]
    assert shop.level("TEE-M")["available"] == 10


def test_missing_change_from_quantity_key_is_refused(shop: Shop, stock: dict):
    body = shop.gql(
        SET,
        {
            "key": "push-6",
            "input": _input(
                {"inventoryItemId": stock["tee"], "locationId": stock["warehouse"], "quantity": 1}
            ),
        },
    )

    assert body["data"] == {"inventorySetQuantities": None}
    assert body["errors"][0]["extensions"]["problem"] == "CHANGE_FROM_QUANTITY_MISSING"
    assert shop.level("TEE-M")["available"] == 10


@pytest.mark.parametrize(
    ("overrides", "row", "code"),
    [
        ({"name": "committed"}, {}, "INVALID_NAME"),
        ({"reason": "because"}, {}, "INVALID_REASON"),
        ({}, {"inventoryItemId": "gid://shopify/InventoryItem/1"}, "INVALID_INVENTORY_ITEM"),
        ({}, {"locationId": "gid://shopify/Location/1"}, "INVALID_LOCATION"),
        ({}, {"quantity": -1}, "INVALID_QUANTITY_NEGATIVE"),
        ({}, {"item": "cap", "locationId": "store"}, "ITEM_NOT_STOCKED_AT_LOCATION"),
    ],
)
def test_invalid_quantities_answer_user_errors(
    shop: Shop, stock: dict, overrides: dict, row: dict, code: str
):
    quantity = {
        "inventoryItemId": stock[row.pop("item", "tee")],
        "locationId": stock["warehouse"],
        "quantity": 1,
        "changeFromQuantity": None,
    }
    if row.get("locationId") == "store":
        row["locationId"] = stock["store"]
    quantity.update(row)

    body = shop.gql(SET, {"key": f"bad-{code}", "input": {**_input(quantity), **overrides}})

    payload = body["data"]["inventorySetQuantities"]
    assert payload["inventoryAdjustmentGroup"] is None
    assert [e["code"] for e in payload["userErrors"]] == [code]
    assert shop.level("TEE-M")["available"] == 10


def test_duplicate_item_location_pair_is_refused(shop: Shop, stock: dict):
    row = {
        "inventoryItemId": stock["tee"],
        "locationId": stock["warehouse"],
        "quantity": 1,
        "changeFromQuantity": None,
    }

    body = shop.gql(SET, {"key": "dup", "input": _input(row, {**row, "quantity": 2})})

    errors = body["data"]["inventorySetQuantities"]["userErrors"]
    assert [e["code"] for e in errors] == ["NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR"]
    assert shop.level("TEE-M")["available"] == 10


def test_more_than_250_quantities_is_refused(shop: Shop, stock: dict):
    row = {
        "inventoryItemId": stock["tee"],
        "locationId": stock["warehouse"],
        "quantity": 1,
        "changeFromQuantity": None,
    }

    body = shop.gql(SET, {"key": "big", "input": _input(*[row] * 251)})

    assert body["errors"][0]["extensions"]["code"] == "MAX_INPUT_SIZE_EXCEEDED"


def test_each_applied_change_echoes_an_inventory_levels_update(
    shop: Shop, stock: dict, subscribed: WebhookReceiver
):
    shop.gql(
        SET,
        {
            "key": "echo",
            "input": _input(
                {
                    "inventoryItemId": stock["tee"],
                    "locationId": stock["store"],
                    "quantity": 1,
                    "changeFromQuantity": 4,
                }
            ),
        },
    )
    shop.flush()

    [delivery] = subscribed.of("inventory_levels/update")
    payload = delivery.payload
    item_id = int(stock["tee"].rsplit("/", 1)[1])
    location_id = int(stock["store"].rsplit("/", 1)[1])
    assert payload["inventory_item_id"] == item_id
    assert payload["location_id"] == location_id
    assert payload["available"] == 1
    assert payload["admin_graphql_api_id"] == (
        f"gid://shopify/InventoryLevel/{location_id}?inventory_item_id={item_id}"
    )
    assert set(payload) == {
        "inventory_item_id",
        "location_id",
        "available",
        "updated_at",
        "admin_graphql_api_id",
    }
