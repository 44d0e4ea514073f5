"""The client modules stay the one place callers import from, though each client is a package of
small modules: every name callers used is still there, both clients record calls with the one
shared type, and the Amazon module's default bucket factory can still be replaced in place."""

from __future__ import annotations

import pytest

from channels.lanes import calls
from channels.lanes.amazon import client as amazon
from channels.lanes.shopify import client as shopify
from channels.lanes.throttle import NoThrottle

SHOPIFY_NAMES = [
    "API_VERSION",
    "Answer",
    "Attempt",
    "COST_TARGET",
    "CallRecord",
    "CancelResult",
    "Cost",
    "CreatedFulfillment",
    "DOCUMENTS_DIR",
    "Document",
    "FULFILLMENT_ORDERS_PAGE",
    "FULFILLMENT_ORDER_LINES_PAGE",
    "FulfillmentResult",
    "InventoryChange",
    "Level",
    "MAX_INPUT_ITEMS",
    "MAX_PAGE_SIZE",
    "MAX_QUERY_COST",
    "ORDER_CANCEL_REASONS",
    "ORDER_LINE_ITEMS_PAGE",
    "QUANTITY_NAMES",
    "SKUS_PER_SEARCH",
    "SetQuantity",
    "SetResult",
    "ShopLocation",
    "ShopifyAuthError",
    "ShopifyClient",
    "ShopifyError",
    "ShopifyQueryError",
    "ShopifyThrottled",
    "ShopifyUnavailable",
    "ShopifyUserError",
    "Tracking",
    "UserError",
    "Variant",
    "document_names",
    "estimate_cost",
    "fulfillment_create_variables",
    "inventory_levels_variables",
    "largest_batch",
    "legacy_id",
    "level_from_graphql",
    "load_document",
    "location_from_graphql",
    "locations_variables",
    "order_cancel_variables",
    "order_from_graphql",
    "order_fulfillment_orders_variables",
    "order_line_from_graphql",
    "order_line_items_variables",
    "order_variables",
    "orders_search_query",
    "orders_variables",
    "product_variants_variables",
    "search_value",
    "set_quantities_variables",
    "set_result_from_payload",
    "sku_search_query",
    "variant_from_graphql",
]

AMAZON_NAMES = [
    "AmazonCall",
    "AmazonClient",
    "AmazonCredentials",
    "AmazonCredentialsError",
    "AmazonError",
    "AmazonThrottled",
    "Attempt",
    "CREDENTIAL_KEYS",
    "Document",
    "FEED_CONTENT_TYPE",
    "FEED_STATUSES_FINISHED",
    "FEED_TYPE_QUOTAS",
    "FeedIssue",
    "FeedReport",
    "FeedStatus",
    "INVENTORY_SKUS_PER_CALL",
    "JSON_LISTINGS_FEED",
    "LISTING_INCLUDED_DATA",
    "ListingLevel",
    "ListingSubmission",
    "ListingSummary",
    "MAX_FEED_MESSAGES",
    "MFN_CHANNEL",
    "ORDERS_BEFORE_LAG",
    "ORDERS_INCLUDED_DATA",
    "ORDERS_PAGE",
    "OrderSearch",
    "OrdersPage",
    "PARSERS",
    "SEARCH_LISTINGS_PAGE",
    "TOKEN_MARGIN_SECONDS",
    "USAGE_PLANS",
    "USER_AGENT",
    "UsagePlan",
    "ThrottleFactory",
    "availability_errors",
    "clear_token_cache",
    "confirm_shipment_body",
    "credentials_from",
    "decompress_document",
    "default_options",
    "default_throttle_factory",
    "document_from_json",
    "feed_id_from_json",
    "feed_report_from_json",
    "feed_status_from_json",
    "fulfillment_channel",
    "inventory_page_from_json",
    "iso_datetime",
    "listing_from_json",
    "listing_patch_body",
    "listing_summary",
    "listings_page_from_json",
    "mfn_quantity",
    "order_from_json",
    "orders_page_from_json",
    "quantity_feed_document",
    "quantity_patches",
    "report_from_json",
    "report_id_from_json",
    "submission_from_json",
]


@pytest.mark.parametrize(
    ("module", "names"),
    [(shopify, SHOPIFY_NAMES), (amazon, AMAZON_NAMES)],
    ids=["shopify", "amazon"],
)
def test_every_name_callers_import_is_still_in_the_client_module(module, names):
    missing = [name for name in names if not hasattr(module, name)]

    assert missing == []
    assert sorted(module.__all__) == sorted(names)


def test_both_clients_record_calls_with_the_shared_types():
    assert shopify.CallRecord is calls.CallRecord
    assert amazon.AmazonCall is calls.CallRecord
    assert shopify.Attempt is amazon.Attempt is calls.Attempt


def test_the_default_bucket_factory_is_replaced_where_callers_replace_it(monkeypatch):
    built = []

    def factory(key: str, capacity: float, rate: float) -> NoThrottle:
        built.append((key, capacity, rate))
        return NoThrottle()

    monkeypatch.setattr(amazon, "default_throttle_factory", factory)
    client = amazon.AmazonClient(
        endpoint="http://127.0.0.1:9",
        token_url="http://127.0.0.1:9/auth/o2/token",
        credentials=amazon.AmazonCredentials("Atzr|r", "amzn1.application-oa2-client.x", "s"),
        seller_id="A1SELLER",
        marketplace_id="ATVPDKIKX0DER",
    )

    assert client.budget("getReport") == float("inf")
    assert built == [("amazon:A1SELLER:getReport", 15.0, 2.0)]
