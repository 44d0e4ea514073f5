"""Feeds 2021-06-30 with JSON_LISTINGS_FEED: documents, processing and the processing report."""

from __future__ import annotations

import gzip
import json

import requests

from channels.sandbox.amazon.spec import validate_json
from tests.channels.sandbox.amazon.support import JSON_FEED, US, SpApi

REPORT_SCHEMA = "feeds/listings-feed-processing-report-schema-v2.json"


def _quantity_message(message_id: int, sku: str, quantity, channel: str = "DEFAULT") -> dict:
    return {
        "messageId": message_id,
        "sku": sku,
        "operationType": "PATCH",
        "productType": "PRODUCT",
        "patches": [
            {
                "op": "merge",
                "path": "/attributes/fulfillment_availability",
                "value": [{"fulfillment_channel_code": channel, "quantity": quantity}],
            }
        ],
    }


def _upload(api: SpApi, document: dict | bytes) -> str:
    created = api.ok(
        "POST",
        "/feeds/2021-06-30/documents",
        body={"contentType": JSON_FEED},
        operation="createFeedDocument",
        status=201,
    )
    content = document if isinstance(document, bytes) else json.dumps(document).encode()
    upload = requests.put(
        created["url"], data=content, headers={"Content-Type": JSON_FEED}, timeout=5
    )
    assert upload.status_code == 200
    return created["feedDocumentId"]


def _feed_body(document_id: str, feed_type: str = "JSON_LISTINGS_FEED") -> dict:
    return {"feedType": feed_type, "marketplaceIds": [US], "inputFeedDocumentId": document_id}


def _submit(api: SpApi, document: dict | bytes, feed_type: str = "JSON_LISTINGS_FEED") -> str:
    feed = api.ok(
        "POST",
        "/feeds/2021-06-30/feeds",
        body=_feed_body(_upload(api, document), feed_type),
        operation="createFeed",
        status=202,
    )
    return feed["feedId"]


def _get_feed(api: SpApi, feed_id: str) -> dict:
    return api.ok("GET", f"/feeds/2021-06-30/feeds/{feed_id}", operation="getFeed")


def _result(api: SpApi, document_id: str) -> tuple[dict, dict]:
    info = api.ok("GET", f"/feeds/2021-06-30/documents/{document_id}", operation="getFeedDocument")
    raw = api.download(info["url"]).content
    if info.get("compressionAlgorithm") == "GZIP":
        raw = gzip.decompress(raw)
    return info, json.loads(raw)


def test_a_feed_moves_through_its_states_and_applies_its_messages(api: SpApi, sandbox, clock):
    sandbox.add_listing("SKU-1", quantity=1)
    sandbox.add_listing("SKU-2", quantity=1)
    feed_id = _submit(
        api,
        {
            "header": {"sellerId": api.seller_id, "version": "2.0"},
            "messages": [_quantity_message(1, "SKU-1", 12), _quantity_message(2, "SKU-2", 0)],
        },
    )

    assert _get_feed(api, feed_id)["processingStatus"] == "IN_QUEUE"
    clock.advance(sandbox.config.feed_queue_seconds)
    assert _get_feed(api, feed_id)["processingStatus"] == "IN_PROGRESS"
    assert sandbox.listing("SKU-1")["quantity"] == 1
    clock.advance(sandbox.config.feed_processing_seconds)
    done = _get_feed(api, feed_id)

    assert done["processingStatus"] == "DONE"
    assert "processingEndTime" in done
    assert sandbox.listing("SKU-1")["quantity"] == 12
    assert sandbox.listing("SKU-2")["quantity"] == 0
    _, report = _result(api, done["resultFeedDocumentId"])
    assert validate_json(REPORT_SCHEMA, report) == []
    assert report["header"] == {"sellerId": api.seller_id, "version": "2.0", "feedId": feed_id}
    assert report["summary"] == {
        "errors": 0,
        "warnings": 0,
        "messagesProcessed": 2,
        "messagesAccepted": 2,
        "messagesInvalid": 0,
    }


def test_the_report_lists_issues_per_message(api: SpApi, sandbox):
    sandbox.add_listing("SKU-1", quantity=1)
    sandbox.add_listing("HOODIE", channel="AFN", fba={"fulfillable": 3})
    feed_id = _submit(
        api,
        {
            "header": {"sellerId": api.seller_id, "version": "2.0"},
            "messages": [
                _quantity_message(1, "SKU-1", 4),
                _quantity_message(2, "HOODIE", 9, channel="AMAZON_NA"),
                _quantity_message(3, "SKU-1", -2),  # the schema allows it, the attribute not
                {"messageId": 4, "sku": "SKU-1", "operationType": "PATCH"},  # no patches
            ],
        },
    )
    sandbox.advance(sandbox.config.feed_queue_seconds + sandbox.config.feed_processing_seconds)

    _, report = _result(api, _get_feed(api, feed_id)["resultFeedDocumentId"])

    assert validate_json(REPORT_SCHEMA, report) == []
    assert sorted({i["messageId"] for i in report["issues"]}) == [2, 3, 4]
    assert {i["code"] for i in report["issues"] if i["messageId"] == 2} == {"4000003"}
    assert report["summary"]["messagesProcessed"] == 4
    assert report["summary"]["messagesAccepted"] == 1
    assert report["summary"]["messagesInvalid"] == 3
    assert sandbox.listing("SKU-1")["quantity"] == 4


def test_a_document_that_is_not_json_ends_fatal(api: SpApi, sandbox):
    feed_id = _submit(api, b"<AmazonEnvelope/>")
    sandbox.advance(sandbox.config.feed_queue_seconds + sandbox.config.feed_processing_seconds)

    feed = _get_feed(api, feed_id)

    assert feed["processingStatus"] == "FATAL"
    _, report = _result(api, feed["resultFeedDocumentId"])
    assert validate_json(REPORT_SCHEMA, report) == []
    assert report["summary"]["messagesProcessed"] == 0


def test_legacy_inventory_feeds_end_fatal(api: SpApi, sandbox):
    sandbox.add_listing("SKU-1", quantity=1)
    feed_id = _submit(api, b"<AmazonEnvelope/>", feed_type="POST_INVENTORY_AVAILABILITY_DATA")
    sandbox.advance(sandbox.config.feed_queue_seconds + sandbox.config.feed_processing_seconds)

    assert _get_feed(api, feed_id)["processingStatus"] == "FATAL"
    assert sandbox.listing("SKU-1")["quantity"] == 1


def test_feed_fatal_fault_ends_a_valid_feed_fatal(api: SpApi, sandbox):
    sandbox.add_listing("SKU-1", quantity=1)
    sandbox.fail_feeds(1)
    feed_id = _submit(
        api,
        {
            "header": {"sellerId": api.seller_id, "version": "2.0"},
            "messages": [_quantity_message(1, "SKU-1", 12)],
        },
    )
    sandbox.advance(sandbox.config.feed_queue_seconds + sandbox.config.feed_processing_seconds)

    assert _get_feed(api, feed_id)["processingStatus"] == "FATAL"
    assert sandbox.listing("SKU-1")["quantity"] == 1


def test_result_documents_can_be_gzip_compressed(api: SpApi, sandbox):
    sandbox.config.gzip_documents = True
    sandbox.add_listing("SKU-1", quantity=1)
    feed_id = _submit(
        api,
        {
            "header": {"sellerId": api.seller_id, "version": "2.0"},
            "messages": [_quantity_message(1, "SKU-1", 2)],
        },
    )
    sandbox.advance(sandbox.config.feed_queue_seconds + sandbox.config.feed_processing_seconds)

    info, report = _result(api, _get_feed(api, feed_id)["resultFeedDocumentId"])

    assert info["compressionAlgorithm"] == "GZIP"
    assert report["summary"]["messagesAccepted"] == 1


def test_an_upload_with_another_content_type_is_refused_like_s3(api: SpApi):
    created = api.ok(
        "POST",
        "/feeds/2021-06-30/documents",
        body={"contentType": JSON_FEED},
        operation="createFeedDocument",
        status=201,
    )

    upload = requests.put(
        created["url"], data=b"{}", headers={"Content-Type": "text/xml"}, timeout=5
    )

    assert upload.status_code == 403
    assert b"SignatureDoesNotMatch" in upload.content


def test_create_feed_before_the_upload_is_refused(api: SpApi):
    created = api.ok(
        "POST",
        "/feeds/2021-06-30/documents",
        body={"contentType": JSON_FEED},
        operation="createFeedDocument",
        status=201,
    )

    response = api.call(
        "POST",
        "/feeds/2021-06-30/feeds",
        body={
            "feedType": "JSON_LISTINGS_FEED",
            "marketplaceIds": [US],
            "inputFeedDocumentId": created["feedDocumentId"],
        },
    )

    assert response.status_code == 400


def test_a_queued_feed_can_be_cancelled(api: SpApi, sandbox):
    sandbox.add_listing("SKU-1", quantity=1)
    feed_id = _submit(
        api,
        {
            "header": {"sellerId": api.seller_id, "version": "2.0"},
            "messages": [_quantity_message(1, "SKU-1", 2)],
        },
    )

    cancelled = api.call("DELETE", f"/feeds/2021-06-30/feeds/{feed_id}")
    sandbox.advance(60)

    assert cancelled.status_code == 200
    assert _get_feed(api, feed_id)["processingStatus"] == "CANCELLED"
    assert sandbox.listing("SKU-1")["quantity"] == 1


def test_json_listings_feeds_are_limited_to_five_per_five_minutes(api: SpApi, sandbox, clock):
    # given createFeed's own burst of 15 is far from spent
    sandbox.add_listing("SKU-1", quantity=1)
    document = {
        "header": {"sellerId": api.seller_id, "version": "2.0"},
        "messages": [_quantity_message(1, "SKU-1", 3)],
    }
    for _ in range(5):
        _submit(api, document)
    # when a sixth JSON_LISTINGS_FEED follows within five minutes
    sixth = api.call("POST", "/feeds/2021-06-30/feeds", body=_feed_body(_upload(api, document)))
    # then the feed type's quota refuses it the way a usage plan does
    assert sixth.status_code == 429
    assert sixth.json()["errors"][0]["code"] == "QuotaExceeded"
    assert sandbox.request_log.counters()["throttled"] == 1
    # and one submission comes back each minute
    clock.advance(60)
    assert (
        api.call(
            "POST", "/feeds/2021-06-30/feeds", body=_feed_body(_upload(api, document))
        ).status_code
        == 202
    )
    again = api.call("POST", "/feeds/2021-06-30/feeds", body=_feed_body(_upload(api, document)))
    assert again.status_code == 429
