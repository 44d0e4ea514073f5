"""python-amazon-sp-api 2.x itself against the sandbox, pointed at it the way CONTRACT.md §1.9
describes; every request the library sent must be valid for the official models."""

from __future__ import annotations

import io
import json

import pytest
from sp_api.api import (
    FeedsV20210630,
    Inventories,
    ListingsItemsV20210801,
    OrdersV0,
    OrdersV20260101,
    Reports,
)
from sp_api.base import SellingApiForbiddenException, SellingApiRequestThrottledException
from sp_api.util import throttle_retry

from tests.channels.sandbox.amazon.support import JSON_FEED, US, sp_client


@pytest.fixture(autouse=True)
def every_request_was_valid(sandbox):
    yield
    assert sandbox.invalid_requests() == []


def test_listings_get_and_patch(handle, sandbox):
    sandbox.add_listing("TEE-M", quantity=7)
    listings = sp_client(handle, ListingsItemsV20210801)

    item = listings.get_listings_item(
        handle.seller_id,
        "TEE-M",
        marketplaceIds=[US],
        includedData=["summaries", "fulfillmentAvailability"],
    )
    answer = listings.patch_listings_item(
        handle.seller_id,
        "TEE-M",
        marketplaceIds=[US],
        body={
            "productType": "PRODUCT",
            "patches": [
                {
                    "op": "merge",
                    "path": "/attributes/fulfillment_availability",
                    "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 2}],
                }
            ],
        },
    )
    sandbox.advance(sandbox.config.patch_apply_delay)

    assert item.payload["fulfillmentAvailability"] == [
        {"fulfillmentChannelCode": "DEFAULT", "quantity": 7}
    ]
    assert item.rate_limit == "5.0"
    assert answer.payload["status"] == "ACCEPTED"
    assert sandbox.listing("TEE-M")["quantity"] == 2
    # One token call for both requests: the library caches it.
    assert [e["operation_id"] for e in sandbox.requests()] == [
        "getListingsItem",
        "patchListingsItem",
    ]


def test_the_library_raises_on_a_revoked_token(handle, sandbox):
    sandbox.add_listing("TEE-M", quantity=7)
    listings = sp_client(handle, ListingsItemsV20210801)
    listings.get_listings_item(handle.seller_id, "TEE-M", marketplaceIds=[US])
    sandbox.revoke_tokens()

    with pytest.raises(SellingApiForbiddenException) as raised:
        listings.get_listings_item(handle.seller_id, "TEE-M", marketplaceIds=[US])

    assert raised.value.amzn_code == "Unauthorized"


def test_a_json_listings_feed_round_trip(handle, sandbox):
    sandbox.add_listing("TEE-M", quantity=7)
    feeds = sp_client(handle, FeedsV20210630)
    document = {
        "header": {"sellerId": handle.seller_id, "version": "2.0", "issueLocale": "en_US"},
        "messages": [
            {
                "messageId": 1,
                "sku": "TEE-M",
                "operationType": "PATCH",
                "productType": "PRODUCT",
                "patches": [
                    {
                        "op": "merge",
                        "path": "/attributes/fulfillment_availability",
                        "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 12}],
                    }
                ],
            }
        ],
    }

    _, created = feeds.submit_feed(
        "JSON_LISTINGS_FEED", io.StringIO(json.dumps(document)), JSON_FEED
    )
    sandbox.advance(sandbox.config.feed_queue_seconds + sandbox.config.feed_processing_seconds)
    feed = feeds.get_feed(created.payload["feedId"]).payload
    report = json.loads(feeds.get_feed_result_document(feed["resultFeedDocumentId"]))

    assert feed["processingStatus"] == "DONE"
    assert report["summary"]["messagesAccepted"] == 1
    assert sandbox.listing("TEE-M")["quantity"] == 12


def test_a_gzip_result_document_is_unpacked_by_the_library(handle, sandbox):
    sandbox.config.gzip_documents = True
    feeds = sp_client(handle, FeedsV20210630)
    _, created = feeds.submit_feed("JSON_LISTINGS_FEED", io.StringIO("not json"), JSON_FEED)
    sandbox.advance(sandbox.config.feed_queue_seconds + sandbox.config.feed_processing_seconds)

    feed = feeds.get_feed(created.payload["feedId"]).payload
    report = json.loads(feeds.get_feed_result_document(feed["resultFeedDocumentId"]))

    assert feed["processingStatus"] == "FATAL"
    assert report["issues"][0]["severity"] == "ERROR"


def test_orders_search_pages_and_confirm_shipment(handle, sandbox, clock):
    sandbox.add_listing("TEE-M", quantity=20)
    placed = [sandbox.place_order("TEE-M", 1)["orderId"] for _ in range(3)]
    sandbox.advance(sandbox.config.order_pending_seconds)
    orders = sp_client(handle, OrdersV20260101)

    seen, token = [], None
    while True:
        extra = {"paginationToken": token} if token else {}
        page = orders.search_orders(
            createdAfter="2020-01-01T00:00:00Z",
            marketplaceIds=[US],
            maxResultsPerPage=2,
            includedData=["FULFILLMENT"],
            **extra,
        )
        seen += page.payload["orders"]
        token = page.next_token
        if not token:
            break
    order = orders.get_order(placed[0], includedData=["FULFILLMENT"]).payload["order"]
    shipped = sp_client(handle, OrdersV0).confirm_shipment(
        placed[0],
        marketplaceId=US,
        packageDetail={
            "packageReferenceId": "1",
            "carrierCode": "UPS",
            "trackingNumber": "1Z999AA10123456784",
            "shipDate": "2026-03-02T10:00:00Z",
            "orderItems": [{"orderItemId": order["orderItems"][0]["orderItemId"], "quantity": 1}],
        },
    )

    assert [o["orderId"] for o in seen] == placed
    assert order["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED"
    assert shipped.payload == {"status_code": 204}
    assert sandbox.order_json(placed[0])["fulfillment"]["fulfillmentStatus"] == "SHIPPED"


def test_fba_inventory_summaries(handle, sandbox):
    sandbox.add_listing("HOODIE", channel="AFN", fba={"fulfillable": 8, "inbound_shipped": 4})
    inventories = sp_client(handle, Inventories)

    answer = inventories.get_inventory_summary_marketplace(details=True, marketplaceIds=[US])

    [summary] = answer.payload["inventorySummaries"]
    assert summary["sellerSku"] == "HOODIE"
    assert summary["inventoryDetails"]["fulfillableQuantity"] == 8
    assert summary["inventoryDetails"]["inboundShippedQuantity"] == 4
    assert answer.next_token is None


def test_returns_report_download(handle, sandbox):
    sandbox.add_listing("HOODIE", channel="AFN", fba={"fulfillable": 8})
    sandbox.add_return("HOODIE", 1, disposition="DEFECTIVE", license_plate_number="LPNRR9")
    reports = sp_client(handle, Reports)

    created = reports.create_report(
        reportType="GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA", marketplaceIds=[US]
    )
    sandbox.advance(sandbox.config.report_queue_seconds + sandbox.config.report_processing_seconds)
    report = reports.get_report(created.payload["reportId"]).payload
    document = reports.get_report_document(report["reportDocumentId"], download=True)

    lines = document.payload["document"].splitlines()
    assert lines[0].split("\t")[:3] == ["return-date", "order-id", "sku"]
    assert "DEFECTIVE" in lines[1].split("\t")
    assert "LPNRR9" in lines[1].split("\t")


def test_throttle_retry_rides_out_a_429_storm(handle, sandbox):
    sandbox.add_listing("TEE-M", quantity=7)
    sandbox.throttle("getListingsItem", count=2)
    listings = sp_client(handle, ListingsItemsV20210801)

    @throttle_retry(tries=3, delay=0.01, rate=1.0)
    def read():
        return listings.get_listings_item(handle.seller_id, "TEE-M", marketplaceIds=[US])

    assert read().payload["sku"] == "TEE-M"
    assert [e["status"] for e in sandbox.requests()] == [429, 429, 200]


def test_a_throttled_call_raises_the_librarys_exception(handle, sandbox):
    sandbox.add_listing("TEE-M", quantity=7)
    listings = sp_client(handle, ListingsItemsV20210801)
    for _ in range(10):
        listings.get_listings_item(handle.seller_id, "TEE-M", marketplaceIds=[US])

    with pytest.raises(SellingApiRequestThrottledException) as raised:
        listings.get_listings_item(handle.seller_id, "TEE-M", marketplaceIds=[US])

    assert raised.value.amzn_code == "QuotaExceeded"
    assert "x-amzn-RateLimit-Limit" not in raised.value.headers
