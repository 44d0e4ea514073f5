"""order_from_graphql() rebuilds the webhook payload's shape, so one mapper serves both."""

from __future__ import annotations

import json

from channels.lanes.shopify.client import legacy_id, order_from_graphql
from tests.channels.lanes.conftest import WEBHOOKS

WEBHOOK = json.loads((WEBHOOKS / "orders__create.2026-04.json").read_text())

NODE = {
    "id": "gid://shopify/Order/820982911946154508",
    "legacyResourceId": "820982911946154508",
    "name": "#9999",
    "createdAt": "2026-11-22T08:00:00Z",
    "updatedAt": "2026-11-22T08:05:00Z",
    "cancelledAt": "2026-11-22T08:05:00Z",
    "cancelReason": "CUSTOMER",
    "test": True,
    "retailLocation": {"legacyResourceId": "124656943"},
    "lineItems": {
        "nodes": [
            {
                "id": "gid://shopify/LineItem/487817672276298554",
                "sku": "SKU2006-001",
                "title": "Aviator sunglasses",
                "quantity": 3,
                "currentQuantity": 2,
                "fulfillableQuantity": 1,
                "variant": {"legacyResourceId": "43729076"},
            },
            {
                "id": "gid://shopify/LineItem/789012345678901234",
                "sku": None,
                "title": "Lens Protection Plan (2 Year)",
                "quantity": 1,
                "currentQuantity": 1,
                "fulfillableQuantity": 1,
                "variant": None,
            },
        ],
        "pageInfo": {"hasNextPage": False, "endCursor": "x"},
    },
}


def test_order_node_becomes_the_webhook_shape():
    order = order_from_graphql(NODE)

    assert order == {
        "id": 820982911946154508,
        "admin_graphql_api_id": "gid://shopify/Order/820982911946154508",
        "name": "#9999",
        "created_at": "2026-11-22T08:00:00Z",
        "updated_at": "2026-11-22T08:05:00Z",
        "cancelled_at": "2026-11-22T08:05:00Z",
        "cancel_reason": "customer",
        "location_id": 124656943,
        "test": True,
        "line_items": [
            {
                "id": 487817672276298554,
                "admin_graphql_api_id": "gid://shopify/LineItem/487817672276298554",
                "variant_id": 43729076,
                "sku": "SKU2006-001",
                "title": "Aviator sunglasses",
                "quantity": 3,
                "current_quantity": 2,
                "fulfillable_quantity": 1,
            },
            {
                "id": 789012345678901234,
                "admin_graphql_api_id": "gid://shopify/LineItem/789012345678901234",
                "variant_id": None,
                "sku": None,
                "title": "Lens Protection Plan (2 Year)",
                "quantity": 1,
                "current_quantity": 1,
                "fulfillable_quantity": 1,
            },
        ],
    }


def test_every_key_produced_exists_in_the_webhook_payload_with_the_same_type():
    order = order_from_graphql(NODE)

    assert set(order) <= set(WEBHOOK)
    assert set(order["line_items"][0]) <= set(WEBHOOK["line_items"][0])
    for key in ("id", "name", "created_at", "updated_at", "cancel_reason", "test"):
        assert type(order[key]) is type(WEBHOOK[key]), key
    for key in ("id", "quantity", "current_quantity", "fulfillable_quantity", "sku"):
        assert type(order["line_items"][0][key]) is type(WEBHOOK["line_items"][0][key]), key
    # The gid and the integer id name the same order, as in the webhook.
    assert legacy_id(order["admin_graphql_api_id"]) == order["id"]
    assert legacy_id(WEBHOOK["admin_graphql_api_id"]) == WEBHOOK["id"]


def test_open_order_without_retail_location():
    node = {**NODE, "cancelledAt": None, "cancelReason": None, "retailLocation": None}

    order = order_from_graphql(node)

    assert (order["cancelled_at"], order["cancel_reason"], order["location_id"]) == (
        None,
        None,
        None,
    )


def test_edges_shaped_line_items_are_accepted():
    lines = NODE["lineItems"]["nodes"]
    node = {**NODE, "lineItems": {"edges": [{"node": line} for line in lines]}}

    assert order_from_graphql(node)["line_items"] == order_from_graphql(NODE)["line_items"]
