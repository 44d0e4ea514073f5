"""Reads: SKU lookups, levels, locations, orders, pagination, validation, auth, cost."""

from __future__ import annotations

import pytest

from tests.channels.sandbox.shopify.support import Shop

VARIANTS = """
query VariantsBySku($first: Int!, $after: String, $query: String) {
  productVariants(first: $first, after: $after, query: $query) {
    nodes {
      id legacyResourceId sku barcode title displayName
      inventoryItem { id }
      product { id title }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""

LEVELS = """
query ItemLevels($id: ID!, $location: ID!) {
  inventoryItem(id: $id) {
    id sku tracked duplicateSkuCount
    inventoryLevel(locationId: $location) {
      quantities(names: ["available", "on_hand", "committed", "reserved", "damaged"]) {
        name quantity updatedAt
      }
    }
    inventoryLevels(first: 10) {
      nodes { id location { id name } quantities(names: ["available"]) { name quantity } }
      pageInfo { hasNextPage }
    }
  }
}
"""


@pytest.fixture
def catalogue(shop: Shop) -> dict:
    return shop.seed(
        {
            "sku": "TEE-S",
            "barcode": "0810000000011",
            "title": "Tee",
            "quantities": {"Main warehouse": 5},
        },
        {"sku": "TEE-M", "title": "Tee", "quantities": {"Main warehouse": 6, "SoHo store": 2}},
        {
            "sku": "TEE-L",
            "title": "Tee",
            "quantities": {"Main warehouse": {"available": 7, "damaged": 1}},
        },
    )


def test_variant_lookup_by_sku(shop: Shop, catalogue: dict):
    body = shop.gql(VARIANTS, {"first": 5, "query": "sku:TEE-S"})

    [node] = body["data"]["productVariants"]["nodes"]
    seeded = catalogue["products"][0]
    assert node["id"] == seeded["variant_gid"]
    assert node["legacyResourceId"] == str(seeded["variant_id"])
    assert node["barcode"] == "0810000000011"
    assert node["inventoryItem"]["id"] == seeded["inventory_item_gid"]
    assert node["product"]["title"] == "Tee"
    # 2 + first x (variant + inventoryItem + product)
    assert body["extensions"]["cost"]["requestedQueryCost"] == 2 + 5 * 3


def test_variants_page_with_cursors(shop: Shop, catalogue: dict):
    first = shop.gql(VARIANTS, {"first": 2})["data"]["productVariants"]
    second = shop.gql(VARIANTS, {"first": 2, "after": first["pageInfo"]["endCursor"]})["data"][
        "productVariants"
    ]

    assert [n["sku"] for n in first["nodes"]] == ["TEE-S", "TEE-M"]
    assert first["pageInfo"]["hasNextPage"] is True
    assert [n["sku"] for n in second["nodes"]] == ["TEE-L"]
    assert second["pageInfo"]["hasNextPage"] is False


def test_item_levels_and_named_quantities(shop: Shop, catalogue: dict):
    tee_l = catalogue["products"][2]
    warehouse = catalogue["locations"][0]["gid"]

    body = shop.gql(LEVELS, {"id": tee_l["inventory_item_gid"], "location": warehouse})

    item = body["data"]["inventoryItem"]
    quantities = {q["name"]: q["quantity"] for q in item["inventoryLevel"]["quantities"]}
    assert quantities == {"available": 7, "on_hand": 8, "committed": 0, "reserved": 0, "damaged": 1}
    assert [n["location"]["name"] for n in item["inventoryLevels"]["nodes"]] == ["Main warehouse"]


def test_inventory_items_search_and_nodes(shop: Shop, catalogue: dict):
    tee_m = catalogue["products"][1]
    body = shop.gql(
        """
        query Snapshot($ids: [ID!]!) {
          inventoryItems(first: 10, query: "sku:TEE-M") { nodes { id sku } }
          nodes(ids: $ids) {
            id
            ... on InventoryItem { sku }
            ... on ProductVariant { sku inventoryItem { id } }
          }
        }
        """,
        {
            "ids": [
                tee_m["inventory_item_gid"],
                tee_m["variant_gid"],
                "gid://shopify/InventoryItem/1",
            ]
        },
    )

    assert body["data"]["inventoryItems"]["nodes"] == [
        {"id": tee_m["inventory_item_gid"], "sku": "TEE-M"}
    ]
    assert body["data"]["nodes"] == [
        {"id": tee_m["inventory_item_gid"], "sku": "TEE-M"},
        {
            "id": tee_m["variant_gid"],
            "sku": "TEE-M",
            "inventoryItem": {"id": tee_m["inventory_item_gid"]},
        },
        None,
    ]


def test_locations_and_primary_location(shop: Shop, catalogue: dict):
    body = shop.gql(
        """
        {
          locations(first: 10) { nodes { id legacyResourceId name isActive fulfillsOnlineOrders } }
          location { id name isPrimary }
        }
        """
    )

    assert [n["name"] for n in body["data"]["locations"]["nodes"]] == [
        "Main warehouse",
        "SoHo store",
    ]
    assert body["data"]["location"]["name"] == "Main warehouse"


def test_orders_filtered_by_updated_at_and_sorted(shop: Shop, catalogue: dict):
    # Order numbers keep counting across resets, like a real shop's.
    first = shop.control("POST", "sell", {"sku": "TEE-S", "quantity": 1}, expect=201)["order"]
    second = shop.control("POST", "sell", {"sku": "TEE-M", "quantity": 2}, expect=201)["order"]

    body = shop.gql(
        """
        query Orders($query: String) {
          orders(first: 10, query: $query, sortKey: UPDATED_AT) {
            nodes {
              id legacyResourceId name createdAt updatedAt cancelledAt cancelReason
              displayFulfillmentStatus
              lineItems(first: 5) {
                nodes { id sku quantity currentQuantity variant { id legacyResourceId } }
              }
            }
            pageInfo { hasNextPage endCursor }
          }
        }
        """,
        {"query": "updated_at:>'2000-01-01T00:00:00Z'"},
    )

    orders = body["data"]["orders"]["nodes"]
    assert [o["name"] for o in orders] == [first["name"], second["name"]]
    assert orders[0]["legacyResourceId"] == str(first["id"])
    assert orders[1]["lineItems"]["nodes"][0]["sku"] == "TEE-M"
    assert orders[1]["lineItems"]["nodes"][0]["currentQuantity"] == 2
    assert orders[0]["displayFulfillmentStatus"] == "UNFULFILLED"
    future = shop.gql(
        "query O($q: String) { orders(first: 5, query: $q) { nodes { id } } }",
        {"q": "updated_at:>'2999-01-01T00:00:00Z'"},
    )
    assert future["data"]["orders"]["nodes"] == []


def test_unmodelled_fields_answer_nulls_or_empty_values_that_fit_the_schema(
    shop: Shop, catalogue: dict
):
    body = shop.gql(
        """
        query Odd($id: ID!) {
          inventoryItem(id: $id) {
            id unitCost { amount currencyCode } countryCodeOfOrigin harmonizedSystemCode
            trackedEditable { locked reason } measurement { weight { value unit } }
            countryHarmonizedSystemCodes(first: 3) { nodes { harmonizedSystemCode } }
          }
          shop { name myshopifyDomain currencyCode }
        }
        """,
        {"id": catalogue["products"][0]["inventory_item_gid"]},
    )

    item = body["data"]["inventoryItem"]
    assert "errors" not in body
    assert item["unitCost"] is None
    assert item["trackedEditable"] == {"locked": False, "reason": None}
    assert item["countryHarmonizedSystemCodes"]["nodes"] == []
    assert body["data"]["shop"]["myshopifyDomain"] == "sandbox-shop.myshopify.com"


def test_wrong_token_is_401(shop: Shop):
    response = shop.post_graphql("{ shop { name } }", headers={"X-Shopify-Access-Token": "nope"})

    assert response.status_code == 401
    assert response.json() == {
        "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
    }


def test_invalid_document_is_answered_like_shopify(shop: Shop):
    response = shop.post_graphql('{ shop { name } inventoryItem(id: "x") { available } }')

    assert response.status_code == 200
    body = response.json()
    assert "data" not in body
    [error] = body["errors"]
    assert error["message"] == "Field 'available' doesn't exist on type 'InventoryItem'"
    assert error["extensions"] == {
        "code": "undefinedField",
        "typeName": "InventoryItem",
        "fieldName": "available",
    }
    assert body["extensions"]["cost"]["actualQueryCost"] is None


def test_quantities_without_names_fails_validation(shop: Shop, catalogue: dict):
    body = shop.post_graphql(
        "query($id: ID!) { inventoryItem(id: $id) { inventoryLevels(first: 1) { nodes { quantities { name } } } } }",
        {"id": catalogue["products"][0]["inventory_item_gid"]},
    ).json()

    assert "names" in body["errors"][0]["message"]


def test_a_query_over_the_cost_limit_is_refused_before_running(shop: Shop, catalogue: dict):
    body = shop.gql(
        """
        {
          productVariants(first: 250) {
            nodes { inventoryItem { inventoryLevels(first: 50) { nodes { id } } } }
          }
        }
        """
    )

    assert "data" not in body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert body["extensions"]["cost"]["requestedQueryCost"] > 1000
    assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 2000


def test_connection_without_first_or_last_is_an_error(shop: Shop):
    body = shop.gql("{ productVariants { nodes { id } } }")

    assert body["errors"][0]["message"] == "you must provide one of first or last"
