"""Shoppers and order flows: sale, cancel, fulfil, refund, edit, and their webhooks."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.channels.sandbox.shopify.support import Shop, WebhookReceiver
from tests.contracts import SHOPIFY

# Every key of Shopify's own orders/create example must be in the sandbox's payloads.
TEMPLATE_KEYS = set(json.loads((SHOPIFY / "webhooks" / "orders__create.2026-04.json").read_text()))

FULFILLMENT_ORDERS = """
query FulfillmentOrders($id: ID!) {
  order(id: $id) {
    id name displayFulfillmentStatus cancelledAt
    fulfillmentOrders(first: 5) {
      nodes {
        id status requestStatus
        assignedLocation { name location { id } }
        lineItems(first: 10) { nodes { id remainingQuantity totalQuantity sku lineItem { id } } }
      }
    }
  }
}
"""

FULFILL = """
mutation Ship($fulfillment: FulfillmentInput!) {
  fulfillmentCreate(fulfillment: $fulfillment) {
    fulfillment {
      id status name createdAt
      trackingInfo { company number url }
      fulfillmentLineItems(first: 10) { nodes { id quantity lineItem { id } } }
    }
    userErrors { field message }
  }
}
"""

CANCEL = """
mutation Cancel($id: ID!, $restock: Boolean!) {
  orderCancel(orderId: $id, reason: CUSTOMER, restock: $restock, notifyCustomer: false,
              refundMethod: {originalPaymentMethodsRefund: true}) {
    job { id done }
    orderCancelUserErrors { code field message }
    userErrors { field message }
  }
}
"""


@pytest.fixture
def hoodie(shop: Shop) -> dict:
    return shop.seed(
        {"sku": "HOODIE", "title": "Hoodie", "price": "49.00", "quantities": {"Main warehouse": 5}}
    )["products"][0]


def test_sale_moves_available_to_committed_and_emits_orders_create(
    shop: Shop, hoodie: dict, subscribed: WebhookReceiver
):
    order = shop.control("POST", "sell", {"sku": "HOODIE", "quantity": 2}, expect=201)["order"]
    shop.flush()

    level = shop.level("HOODIE")
    assert (level["available"], level["committed"], level["on_hand"]) == (3, 2, 5)
    assert set(order) >= TEMPLATE_KEYS
    assert order["admin_graphql_api_id"] == f"gid://shopify/Order/{order['id']}"
    assert order["cancelled_at"] is None
    assert order["cancel_reason"] is None
    [line] = order["line_items"]
    assert (line["sku"], line["variant_id"], line["quantity"]) == (
        "HOODIE",
        hoodie["variant_id"],
        2,
    )
    assert (line["current_quantity"], line["fulfillable_quantity"], line["price"]) == (
        2,
        2,
        "49.00",
    )
    assert order["total_price"] == "98.00"
    [created] = subscribed.of("orders/create")
    assert created.payload == order
    [echo] = subscribed.of("inventory_levels/update")
    assert echo.payload["available"] == 3


def test_sold_out_checkout_is_refused_and_changes_nothing(shop: Shop, hoodie: dict):
    refused = shop.control("POST", "sell", {"sku": "HOODIE", "quantity": 6}, expect=409)

    assert refused["error"] == "out_of_stock"
    assert shop.level("HOODIE")["available"] == 5
    assert shop.control("GET", "orders")["orders"] == []


def test_a_sale_can_carry_a_null_variant_id(shop: Shop, hoodie: dict):
    order = shop.control(
        "POST", "sell", {"sku": "HOODIE", "quantity": 1, "variant_id_null": True}, expect=201
    )["order"]

    assert order["line_items"][0]["variant_id"] is None
    assert order["line_items"][0]["sku"] == "HOODIE"


def test_fulfillment_create_ships_committed_units(
    shop: Shop, hoodie: dict, subscribed: WebhookReceiver
):
    order = shop.control("POST", "sell", {"sku": "HOODIE", "quantity": 3}, expect=201)["order"]
    order_gid = order["admin_graphql_api_id"]
    [fulfillment_order] = shop.gql(FULFILLMENT_ORDERS, {"id": order_gid})["data"]["order"][
        "fulfillmentOrders"
    ]["nodes"]
    [fo_line] = fulfillment_order["lineItems"]["nodes"]
    assert (fulfillment_order["status"], fo_line["remainingQuantity"]) == ("OPEN", 3)

    body = shop.gql(
        FULFILL,
        {
            "fulfillment": {
                "lineItemsByFulfillmentOrder": [
                    {
                        "fulfillmentOrderId": fulfillment_order["id"],
                        "fulfillmentOrderLineItems": [{"id": fo_line["id"], "quantity": 2}],
                    }
                ],
                "trackingInfo": {"company": "UPS", "number": "1Z999"},
                "notifyCustomer": False,
            }
        },
    )
    shop.flush()

    created = body["data"]["fulfillmentCreate"]
    assert created["userErrors"] == []
    assert created["fulfillment"]["status"] == "SUCCESS"
    assert created["fulfillment"]["trackingInfo"] == [
        {"company": "UPS", "number": "1Z999", "url": None}
    ]
    assert created["fulfillment"]["fulfillmentLineItems"]["nodes"][0]["quantity"] == 2
    level = shop.level("HOODIE")
    assert (level["available"], level["committed"], level["on_hand"]) == (2, 1, 3)
    after = shop.gql(FULFILLMENT_ORDERS, {"id": order_gid})["data"]["order"]
    assert after["displayFulfillmentStatus"] == "PARTIALLY_FULFILLED"
    assert after["fulfillmentOrders"]["nodes"][0]["status"] == "IN_PROGRESS"
    [shipped] = subscribed.of("fulfillments/create")
    assert shipped.payload["order_id"] == order["id"]
    assert shipped.payload["tracking_number"] == "1Z999"
    assert shipped.payload["line_items"][0]["quantity"] == 2


def test_fulfilling_more_than_remaining_is_a_user_error(shop: Shop, hoodie: dict):
    order = shop.control("POST", "sell", {"sku": "HOODIE", "quantity": 1}, expect=201)["order"]
    fulfillment_order = shop.gql(FULFILLMENT_ORDERS, {"id": order["admin_graphql_api_id"]})["data"][
        "order"
    ]["fulfillmentOrders"]["nodes"][0]
    fo_line = fulfillment_order["lineItems"]["nodes"][0]

    body = shop.gql(
        FULFILL,
        {
            "fulfillment": {
                "lineItemsByFulfillmentOrder": [
                    {
                        "fulfillmentOrderId": fulfillment_order["id"],
                        "fulfillmentOrderLineItems": [{"id": fo_line["id"], "quantity": 2}],
                    }
                ]
            }
        },
    )

    assert body["data"]["fulfillmentCreate"]["fulfillment"] is None
    assert body["data"]["fulfillmentCreate"]["userErrors"][0]["field"] == ["fulfillment"]
    assert shop.level("HOODIE")["committed"] == 1


def test_order_cancel_with_restock_returns_committed_units(
    shop: Shop, hoodie: dict, subscribed: WebhookReceiver
):
    order = shop.control("POST", "sell", {"sku": "HOODIE", "quantity": 2}, expect=201)["order"]

    body = shop.gql(CANCEL, {"id": order["admin_graphql_api_id"], "restock": True})
    shop.flush()

    payload = body["data"]["orderCancel"]
    assert payload["orderCancelUserErrors"] == []
    assert payload["userErrors"] == []
    assert payload["job"]["id"].startswith("gid://shopify/Job/")
    level = shop.level("HOODIE")
    assert (level["available"], level["committed"], level["on_hand"]) == (5, 0, 5)
    [cancelled] = subscribed.of("orders/cancelled")
    assert cancelled.payload["cancel_reason"] == "customer"
    assert cancelled.payload["cancelled_at"] is not None
    assert cancelled.payload["line_items"][0]["current_quantity"] == 0
    assert len(subscribed.of("orders/updated")) == 1
    [refund] = subscribed.of("refunds/create")
    assert refund.payload["refund_line_items"][0]["restock_type"] == "cancel"
    assert subscribed.of("inventory_levels/update")[-1].payload["available"] == 5
    again = shop.gql(CANCEL, {"id": order["admin_graphql_api_id"], "restock": True})
    assert again["data"]["orderCancel"]["orderCancelUserErrors"][0]["code"] == "INVALID"


def test_cancel_without_restock_takes_units_off_the_shelf(shop: Shop, hoodie: dict):
    order = shop.control("POST", "sell", {"sku": "HOODIE", "quantity": 2}, expect=201)["order"]

    shop.control("POST", "cancel", {"order_id": order["id"], "restock": False}, expect=200)

    level = shop.level("HOODIE")
    assert (level["available"], level["committed"], level["on_hand"]) == (3, 0, 3)


def test_return_refund_restocks_shipped_units(
    shop: Shop, hoodie: dict, subscribed: WebhookReceiver
):
    order = shop.control("POST", "sell", {"sku": "HOODIE", "quantity": 2}, expect=201)["order"]
    shop.control("POST", "fulfill", {"order_id": order["id"]}, expect=201)

    refund = shop.control(
        "POST",
        "refund",
        {
            "order_id": order["id"],
            "lines": [{"sku": "HOODIE", "quantity": 1}],
            "restock_type": "return",
        },
        expect=201,
    )["refund"]
    shop.flush()

    [line] = refund["refund_line_items"]
    assert (line["restock_type"], line["quantity"]) == ("return", 1)
    # An online order names no location (Shopify's own payloads); the restock names where.
    assert order["location_id"] is None
    assert line["location_id"] == int(shop.level("HOODIE")["location_gid"].rsplit("/", 1)[-1])
    assert line["line_item_id"] == order["line_items"][0]["id"]
    level = shop.level("HOODIE")
    assert (level["available"], level["committed"], level["on_hand"]) == (4, 0, 4)
    [delivered] = subscribed.of("refunds/create")
    assert delivered.payload == refund


def test_order_edit_removing_a_unit_restocks_it(
    shop: Shop, hoodie: dict, subscribed: WebhookReceiver
):
    order = shop.control("POST", "sell", {"sku": "HOODIE", "quantity": 3}, expect=201)["order"]
    line_id = order["line_items"][0]["id"]

    edit = shop.control(
        "POST",
        "edit_order",
        {"order_id": order["id"], "changes": [{"line_item_id": line_id, "quantity": 1}]},
        expect=200,
    )
    shop.flush()

    assert edit["order_edit"]["line_items"]["removals"] == [{"id": line_id, "delta": 2}]
    assert shop.level("HOODIE")["available"] == 4
    assert len(subscribed.of("orders/edited")) == 1
    updated = subscribed.of("orders/updated")[-1].payload
    assert updated["line_items"][0]["current_quantity"] == 1


def test_admin_edit_is_a_blind_set_that_echoes(
    shop: Shop, hoodie: dict, subscribed: WebhookReceiver
):
    level = shop.control("POST", "admin_edit", {"sku": "HOODIE", "available": 12}, expect=200)[
        "level"
    ]
    shop.flush()

    assert (level["available"], level["on_hand"]) == (12, 12)
    [echo] = subscribed.of("inventory_levels/update")
    assert echo.payload["available"] == 12


def test_shoppers_buy_until_sold_out(shop: Shop):
    shop.seed(
        {"sku": "A", "quantities": {"Main warehouse": 3}},
        {"sku": "B", "quantities": {"Main warehouse": 2}},
    )

    loop = shop.sandbox.start_shoppers(1000, {"A": 3, "B": 1}, seed=5)
    assert loop.join(timeout=10)

    summary = loop.as_json()
    assert summary["orders"] == 5
    assert sorted(summary["sold_out"]) == ["A", "B"]
    assert shop.level("A")["committed"] == 3
    assert shop.level("B")["committed"] == 2


def test_concurrent_checkouts_never_sell_the_last_unit_twice(shop: Shop):
    shop.seed({"sku": "LAST", "quantities": {"Main warehouse": 10}})
    barrier = threading.Barrier(20)

    def checkout(_: int) -> int:
        with requests.Session() as session:
            barrier.wait()
            url = f"{shop.handle.url}/_sandbox/sell"
            return session.post(url, json={"sku": "LAST", "quantity": 1}).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = sorted(pool.map(checkout, range(20)))

    assert statuses == [201] * 10 + [409] * 10
    level = shop.level("LAST")
    assert (level["available"], level["committed"]) == (0, 10)


def test_an_order_id_offset_keeps_a_restarted_sandbox_from_reusing_order_ids():
    from channels.sandbox.shopify import ShopifySandbox

    first, restarted = ShopifySandbox(), ShopifySandbox(order_id_offset=10**9)
    try:
        orders = []
        for sandbox in (first, restarted):
            sandbox.seed([{"sku": "MUG", "quantities": {"Main warehouse": 5}}])
            orders.append(sandbox.sell("MUG"))
        assert orders[1]["id"] - orders[0]["id"] == 10**9
        # The catalogue keeps its ids: the shop's listings are the same variants either way.
        variants = [order["line_items"][0]["variant_id"] for order in orders]
        assert variants[0] == variants[1]
    finally:
        first.close()
        restarted.close()
