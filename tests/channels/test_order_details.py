"""Both lanes fill one normalised order (channels.order_details.OrderDetails) from what their
channel sends: Shopify's webhook payloads and GraphQL reads, Amazon's Orders API 2026-01-01
and v0 shapes, checked on the channels' own sample payloads (../shared/contracts/), on the
sandboxes over HTTP, and on what ingest stores on the order row."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from channels.lanes.amazon import api as amazon_api
from channels.lanes.amazon import orders as amazon_orders
from channels.lanes.shopify import api as shopify_api
from channels.lanes.shopify import webhooks as shopify_webhooks
from channels.lanes.shopify.parsers import order_details as shopify_details
from channels.lanes.shopify.parsers import order_from_graphql
from channels.models import ChannelOrder, ChannelOrderLine
from channels.order_details import OrderDetails, money
from tests.channels.amazon_world import mixed_world
from tests.contracts import CONTRACTS


def contract(path: str):
    return json.loads((CONTRACTS / path).read_text(encoding="utf-8"))


def amazon_example(model: str, operation: str, index: int = 0) -> dict:
    response = contract(f"amazon/examples/{model}.examples.json")["operations"][operation][
        "examples"
    ][index]["response"]
    # Some examples nest the body under its media type.
    return response.get("application/json", response)


SHOPIFY_ORDER = contract("shopify/webhooks/orders__create.2026-04.json")


# --- Shopify ----------------------------------------------------------------------------------


def test_a_shopify_webhook_order_gives_its_shipping_destination_weight_money_and_shopper():
    details = shopify_details(SHOPIFY_ORDER)

    assert details == OrderDetails(
        is_prime=False,
        shipping_tier="Generic Shipping",
        ship_by=None,
        destination_country="US",
        destination_region="KY",
        weight_grams=0,
        total_price=Decimal("404.95"),
        currency="USD",
        customer_email="jon@example.com",
        # The order has no phone of its own: the customer has none either, the billing
        # address's is the one given (a placeholder that matching refuses).
        customer_phone="555-555-SHIP",
        customer_name="John Smith",
        customer_email_masked=False,
    )


def test_a_shopify_snapshot_carries_the_details_and_each_lines_unit_price():
    snapshot = shopify_webhooks.order_snapshot(SHOPIFY_ORDER)

    assert snapshot.details == shopify_details(SHOPIFY_ORDER)
    assert [line.unit_price for line in snapshot.lines] == [
        money(line["price"]) for line in SHOPIFY_ORDER["line_items"]
    ]
    assert snapshot.lines[0].unit_price == Decimal("89.99")


def test_a_guest_order_without_customer_falls_back_to_the_addresses():
    payload = {
        **SHOPIFY_ORDER,
        "email": None,
        "contact_email": "guest@example.com",
        "customer": None,
        "billing_address": None,
        "phone": None,
    }
    details = shopify_details(payload)
    assert (details.customer_email, details.customer_name) == ("guest@example.com", "Steve Shipper")
    assert details.customer_phone == "555-555-SHIP"  # the shipping address's


def test_a_removed_shipping_line_is_not_the_tier_and_the_code_stands_in_for_a_missing_title():
    lines = [
        {"title": "Overnight", "code": "OVN", "is_removed": True},
        {"title": None, "code": "STANDARD"},
    ]
    assert shopify_details({**SHOPIFY_ORDER, "shipping_lines": lines}).shipping_tier == "STANDARD"


def test_a_shopify_graphql_order_read_gives_the_same_details_as_its_webhook():
    node = {
        "id": "gid://shopify/Order/820982911946154508",
        "name": "#9999",
        "createdAt": "2026-11-22T08:00:00Z",
        "updatedAt": "2026-11-22T08:05:00Z",
        "email": "jon@example.com",
        "phone": "+1 415-555-0100",
        "currencyCode": "USD",
        "totalWeight": "1200",  # UnsignedInt64 travels as a string
        "totalPriceSet": {"shopMoney": {"amount": "404.95"}},
        "shippingLine": {"title": "Express", "code": "EXPRESS"},
        "shippingAddress": {
            "name": "Steve Shipper",
            "phone": None,
            "countryCodeV2": "US",
            "provinceCode": "KY",
        },
        "customer": {"firstName": "John", "lastName": "Smith"},
        "lineItems": {
            "nodes": [
                {
                    "id": "gid://shopify/LineItem/487817672276298554",
                    "sku": "SKU2006-001",
                    "quantity": 1,
                    "currentQuantity": 1,
                    "fulfillableQuantity": 1,
                    "originalUnitPrice": "89.99",
                    "variant": {"legacyResourceId": "43729076"},
                }
            ]
        },
    }
    payload = order_from_graphql(node)

    assert shopify_details(payload) == OrderDetails(
        shipping_tier="Express",
        destination_country="US",
        destination_region="KY",
        weight_grams=1200,
        total_price=Decimal("404.95"),
        currency="USD",
        customer_email="jon@example.com",
        customer_phone="+1 415-555-0100",
        customer_name="John Smith",
    )
    assert payload["total_weight"] == 1200
    assert shopify_webhooks.order_snapshot(payload).lines[0].unit_price == Decimal("89.99")


# --- Amazon -----------------------------------------------------------------------------------


def test_an_amazon_2026_order_gives_prime_speed_ship_by_destination_total_and_a_masked_buyer():
    order = amazon_example("orders_2026-01-01", "getOrder")["order"]

    details = amazon_orders.order_details(order)

    assert details == OrderDetails(
        is_prime=True,
        shipping_tier="STANDARD",
        ship_by=datetime(2024, 12, 27, 23, 59, 59, tzinfo=UTC),
        destination_country="BR",
        destination_region="SP",
        weight_grams=None,
        total_price=Decimal("299.90"),
        currency="BRL",
        customer_email="buyer-email@marketplace.amazon.com.br",
        customer_phone="+55 11 98765-4321",
        customer_name="Maria Silva Santos",
        customer_email_masked=True,
    )
    snapshot = amazon_orders.order_snapshot(order)
    assert snapshot.details == details
    assert [line.unit_price for line in snapshot.lines] == [Decimal("299.90")]


AMAZON_2026_ORDERS = [
    example["response"]["order"]
    for example in contract("amazon/examples/orders_2026-01-01.examples.json")["operations"][
        "getOrder"
    ]["examples"]
    if "order" in example["response"]
]


@pytest.mark.parametrize("order", AMAZON_2026_ORDERS, ids=lambda order: order["orderId"])
def test_every_amazon_2026_example_order_reads_without_error(order):
    details = amazon_orders.order_details(order)
    assert details.is_prime == ("PRIME" in (order.get("programs") or []))
    assert details.destination_country == (
        (order.get("recipient") or {}).get("deliveryAddress", {}).get("countryCode", "")
    )


def test_a_pending_amazon_order_without_proceeds_totals_its_item_prices():
    order = copy.deepcopy(amazon_example("orders_2026-01-01", "getOrder")["order"])
    del order["proceeds"]
    order["orderItems"][0]["quantityOrdered"] = 2
    details = amazon_orders.order_details(order)
    assert (details.total_price, details.currency) == (Decimal("599.80"), "BRL")
    # An item without a price (Amazon leaves it out while pending) leaves the total blank.
    del order["orderItems"][0]["product"]["price"]
    assert amazon_orders.order_details(order).total_price is None


def test_an_amazon_v0_order_gives_the_same_facts_under_its_own_names():
    order = amazon_example("ordersV0", "getOrder", 2)["payload"]  # with BuyerInfo and address

    details = amazon_orders.order_details(order)

    assert details == OrderDetails(
        is_prime=False,
        shipping_tier="Standard",
        ship_by=datetime(2017, 1, 25, 19, 49, 35, tzinfo=UTC),
        destination_country="US",
        destination_region="MI",
        customer_email="user@example.com",
        customer_name="John Doe",
        customer_email_masked=False,
    )
    priced = amazon_orders.order_details(amazon_example("ordersV0", "getOrder")["payload"])
    assert (priced.total_price, priced.currency) == (Decimal("11.01"), "USD")


def test_an_amazon_v0_item_price_is_the_lines_and_divides_by_its_quantity():
    items = amazon_example("ordersV0", "getOrderItems", 1)["payload"]["OrderItems"]
    assert [amazon_orders.unit_price(item) for item in items] == [Decimal("25.99"), Decimal("8.98")]


@pytest.mark.parametrize(
    "address",
    [
        "a1b2c3@marketplace.amazon.com",
        "x@marketplace.amazon.co.uk",
        "X@Marketplace.Amazon.DE",
    ],
)
def test_amazon_relay_addresses_are_recognised(address):
    assert amazon_orders.is_relay_address(address)


@pytest.mark.parametrize("address", ["ana@example.com", "seller@amazon.com", ""])
def test_other_addresses_are_not_relays(address):
    assert not amazon_orders.is_relay_address(address)


# --- tolerance --------------------------------------------------------------------------------

BROKEN = [
    {},
    {"programs": "PRIME", "fulfillment": [], "recipient": {"deliveryAddress": "Rua"}},
    {"fulfillment": {"shipByWindow": {"latestDateTime": "2026-02-30T10:00:00Z"}}},
    {"fulfillment": {"shipByWindow": {"latestDateTime": "tomorrow"}}},
    {"proceeds": {"grandTotal": {"amount": "NaN", "currencyCode": 7}}},
    {"proceeds": {"grandTotal": {"amount": "1e99"}}, "buyer": {"buyerEmail": 42}},
    {"orderItems": [{"quantityOrdered": "two", "product": {"price": {"unitPrice": "x"}}}]},
    {"orderItems": "none"},
]


@pytest.mark.parametrize("order", BROKEN)
def test_an_amazon_order_missing_or_mangling_fields_reads_as_blanks(order):
    details = amazon_orders.order_details(order)
    assert details.ship_by is None
    assert details.total_price is None
    assert details.customer_email == ""


SHOPIFY_BROKEN = [
    {},
    {"shipping_lines": "Standard", "shipping_address": [], "customer": "John"},
    {"total_weight": "heavy", "total_price": {"amount": 3}, "email": 5},
    {"total_weight": -4, "total_price": "1e99", "shipping_lines": [None, 3]},
]


@pytest.mark.parametrize("payload", SHOPIFY_BROKEN)
def test_a_shopify_order_missing_or_mangling_fields_reads_as_blanks(payload):
    details = shopify_details(payload)
    assert details == OrderDetails()


# --- the sandboxes over HTTP and the stored order -----------------------------------------------

STOCK = {"TEE-M": 10}
ANA = {
    "first_name": "Ana",
    "last_name": "Lopez",
    "email": "Ana.Lopez@Example.com",
    "phone": "+1 415-555-0100",
    "province": "New York",
    "province_code": "NY",
    "shipping_title": "Express",
    "shipping_code": "EXPRESS",
}


@pytest.fixture
def world(live_server, receive, settings, monkeypatch):
    with mixed_world(live_server.url, receive, settings, monkeypatch, STOCK) as built:
        yield built


@pytest.mark.django_db(transaction=True)
def test_a_shopify_sandbox_order_reads_the_same_by_webhook_and_by_graphql(world):
    shop = world.open_shop("shop", stock=STOCK, location=world.warehouse, seed=1)
    shop.sandbox.seed([{"sku": "MUG", "grams": 350, "price": "12.50", "quantities": {}}])
    shop.sandbox.admin_edit("MUG", shop.location_gid, available=5)

    webhook = shop.sandbox.sell(lines=[("TEE-M", 1), ("MUG", 2)], customer=ANA)
    read = shopify_api.fetch_order(shop.channel, str(webhook["id"]))

    expected = OrderDetails(
        shipping_tier="Express",
        destination_country="US",
        destination_region="NY",
        weight_grams=700,
        total_price=Decimal("50.00"),
        currency="USD",
        customer_email="Ana.Lopez@Example.com",
        customer_phone="+1 415-555-0100",
        customer_name="Ana Lopez",
    )
    assert shopify_details(webhook) == expected
    assert shopify_details(read) == expected
    assert [line["price"] for line in read["line_items"]] == ["25.00", "12.50"]


@pytest.mark.django_db(transaction=True)
def test_ingested_orders_store_their_details_prices_and_customer(world):
    shop = world.open_shop("shop", stock=STOCK, location=world.warehouse, seed=1)
    seller = world.open_seller("amazon-us", mfn=dict(STOCK), location=world.warehouse, seed=2)
    world.settle()
    sold = shop.sandbox.sell("TEE-M", 2, customer=ANA)
    bought = seller.sandbox.place_order(
        "TEE-M",
        1,
        buyer={
            "name": "Ana Lopez",
            "email": "q8w7e6@marketplace.amazon.com",
            "phone": "(415) 555-0100",
            "state_or_region": "NY",
            "prime": True,
            "service_level": "NEXT_DAY",
        },
    )
    world.settle()

    shopify_order = ChannelOrder.objects.get(channel=shop.channel, external_id=str(sold["id"]))
    amazon_order = ChannelOrder.objects.get(channel=seller.channel, external_id=bought["orderId"])
    assert (
        shopify_order.is_prime,
        shopify_order.shipping_tier,
        shopify_order.destination_country,
        shopify_order.destination_region,
        shopify_order.total_price,
        shopify_order.currency,
        shopify_order.weight_grams,
    ) == (False, "Express", "US", "NY", Decimal("50.00"), "USD", 0)
    assert (
        amazon_order.is_prime,
        amazon_order.shipping_tier,
        amazon_order.destination_country,
        amazon_order.destination_region,
        amazon_order.currency,
        amazon_order.fulfilled_by_channel,
    ) == (True, "NEXT_DAY", "US", "NY", "USD", False)
    assert amazon_order.ship_by is not None
    assert amazon_order.ship_by > amazon_order.placed_at
    assert ChannelOrderLine.objects.get(order=shopify_order).unit_price == Decimal("25.00")
    assert ChannelOrderLine.objects.get(order=amazon_order).unit_price is not None
    # One shopper on both channels: the relay address never matches Ana's own, her phone does.
    assert shopify_order.customer_id is not None
    assert amazon_order.customer_id == shopify_order.customer_id
    assert amazon_api.fetch_order(seller.channel, bought["orderId"])["buyer"]["buyerEmail"] == (
        "q8w7e6@marketplace.amazon.com"
    )
