"""Feeds 2021-06-30: createFeed, its processing, and the JSON_LISTINGS_FEED processing report.

A feed sits IN_QUEUE for `feed_queue_seconds`, is IN_PROGRESS for `feed_processing_seconds`,
then ends DONE (with a processing report as its result document) or FATAL. The order
acknowledgement feed (a seller cancelling orders) is processed by `order_feeds`. JSON_LISTINGS_FEED
documents are validated against Amazon's listings-feed schema v2 (`data/feeds/`); each message is
then handled like a patchListingsItem call and reported per message. The legacy listing feeds
(POST_INVENTORY_AVAILABILITY_DATA, POST_FLAT_FILE_*, ...) end FATAL, as they do on Amazon since
2025-07-31 (https://developer-docs.amazon.com/sp-api/docs/listings-feed-type-values).
Besides createFeed's usage plan, JSON_LISTINGS_FEED has its own quota of 5 submissions per
5 minutes per seller (`ratelimit.FEED_TYPE_QUOTAS`): the sixth is answered 429 QuotaExceeded.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from . import order_feeds, payloads
from .spec import validate_json
from .world.records import Feed

if TYPE_CHECKING:
    from .world.base import WorldBase

LISTINGS_FEED = "JSON_LISTINGS_FEED"
FEED_SCHEMA = "feeds/listings-feed-schema-v2.json"
REPORT_SCHEMA = "feeds/listings-feed-processing-report-schema-v2.json"


def create_feed(sandbox: WorldBase, seller_id: str, body: dict) -> tuple[int, dict]:
    document = sandbox.documents.get(body["inputFeedDocumentId"])
    if document is None or document.seller_id != seller_id or document.kind != "feed_input":
        return 400, payloads.errors(
            "InvalidInput", "The inputFeedDocumentId is not a feed document of this seller."
        )
    if document.content is None:
        return 400, payloads.errors(
            "InvalidInput", "The feed document has no content: upload it to its url first."
        )
    if not sandbox.rate_limiter.try_acquire_feed(seller_id, body["feedType"]):
        return 429, payloads.errors(
            "QuotaExceeded", "You exceeded your quota for the requested resource."
        )
    feed = Feed(
        feed_id=str(50_000_000_000 + sandbox._number()),
        seller_id=seller_id,
        feed_type=body["feedType"],
        marketplace_ids=list(body["marketplaceIds"]),
        input_document_id=document.document_id,
        created=sandbox.now(),
        options=body.get("feedOptions"),
        fatal=sandbox.faults.take_one("feed_fatal", (body["feedType"],)) is not None,
    )
    sandbox.feeds[feed.feed_id] = feed

    def start(feed: Feed = feed) -> None:
        if feed.status != "IN_QUEUE":
            return  # cancelled meanwhile
        feed.status = "IN_PROGRESS"
        feed.started = sandbox.now()
        sandbox.scheduler.at(
            sandbox.config.feed_processing_seconds, f"finish feed {feed.feed_id}", finish
        )

    def finish(feed: Feed = feed) -> None:
        process(sandbox, feed)

    sandbox.scheduler.at(sandbox.config.feed_queue_seconds, f"start feed {feed.feed_id}", start)
    return 202, {"feedId": feed.feed_id}


def cancel_feed(sandbox: WorldBase, seller_id: str, feed_id: str) -> tuple[int, dict | None]:
    feed = sandbox.feeds.get(feed_id)
    if feed is None or feed.seller_id != seller_id:
        return 404, payloads.errors("NotFound", f"Feed {feed_id} was not found.")
    if feed.status != "IN_QUEUE":
        return 400, payloads.errors(
            "InvalidInput", f"The feed is {feed.status}; only IN_QUEUE feeds can be cancelled."
        )
    feed.status = "CANCELLED"
    feed.ended = sandbox.now()
    _finished(sandbox, feed)
    return 200, None


def process(sandbox: WorldBase, feed: Feed) -> None:
    document = sandbox.documents[feed.input_document_id]
    report: dict | None = None
    if feed.fatal:
        report = _report(feed, [_fatal_issue("An internal error occurred during processing.")])
        status = "FATAL"
    elif feed.feed_type == order_feeds.ACKNOWLEDGEMENT_FEED:
        # An order feed reports in XML (Amazon's ProcessingReport), not the listings JSON.
        status, xml = order_feeds.process_acknowledgements(sandbox, feed, document.content or b"")
        _result(sandbox, feed, order_feeds.REPORT_CONTENT_TYPE, xml)
    elif feed.feed_type != LISTINGS_FEED:
        status = "FATAL"
    else:
        status, report = _process_listings_feed(sandbox, feed, document.content or b"")
    feed.status = status
    feed.ended = sandbox.now()
    if report is not None:
        _result(
            sandbox,
            feed,
            "application/json; charset=UTF-8",
            json.dumps(report, indent=2).encode("utf-8"),
        )
    _finished(sandbox, feed)


def _result(sandbox: WorldBase, feed: Feed, content_type: str, content: bytes) -> None:
    result = sandbox.new_document(feed.seller_id, "feed_result", content_type, content)
    feed.result_document_id = result.document_id


def _finished(sandbox: WorldBase, feed: Feed) -> None:
    notification = {
        "sellerId": feed.seller_id,
        "accountId": f"amzn1.merchant.o.{feed.seller_id}",
        "feedId": feed.feed_id,
        "feedType": feed.feed_type,
        "processingStatus": feed.status,
    }
    if feed.result_document_id:
        notification["resultFeedDocumentId"] = feed.result_document_id
    sandbox._publish(
        "FEED_PROCESSING_FINISHED", {"feedProcessingFinishedNotification": notification}
    )


def _fatal_issue(message: str) -> dict:
    return {"code": "4000001", "severity": "ERROR", "message": message}


def _report(
    feed: Feed, issues: list[dict], processed: int = 0, accepted: int = 0, invalid: int = 0
) -> dict:
    return {
        "header": {"sellerId": feed.seller_id, "version": "2.0", "feedId": feed.feed_id},
        "issues": issues,
        "summary": {
            "errors": sum(1 for i in issues if i["severity"] == "ERROR"),
            "warnings": sum(1 for i in issues if i["severity"] == "WARNING"),
            "messagesProcessed": processed,
            "messagesAccepted": accepted,
            "messagesInvalid": invalid,
        },
    }


def _process_listings_feed(sandbox: WorldBase, feed: Feed, content: bytes) -> tuple[str, dict]:
    try:
        document = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return "FATAL", _report(feed, [_fatal_issue(f"The feed is not valid JSON: {exc}")])
    problems_by_message: dict[int, list[str]] = {}
    fatal: list[str] = []
    for problem in validate_json(FEED_SCHEMA, document):
        where = problem.split(":", 1)[0].split("/")
        if len(where) >= 2 and where[0] == "messages" and where[1].isdigit():
            problems_by_message.setdefault(int(where[1]), []).append(problem)
        else:
            fatal.append(problem)
    if fatal:
        return "FATAL", _report(feed, [_fatal_issue(f"Invalid feed: {p}") for p in fatal])
    if document["header"]["sellerId"] != feed.seller_id:
        return "FATAL", _report(
            feed, [_fatal_issue("The sellerId in the header does not match the feed's seller.")]
        )
    issues: list[dict] = []
    accepted = invalid = 0
    for index, message in enumerate(document["messages"]):
        message_id = message.get("messageId") if isinstance(message, dict) else None
        sku = message.get("sku") if isinstance(message, dict) else None
        found: list[dict] = []
        if index in problems_by_message:
            found = [
                _message_issue(message_id, sku, "4000001", f"Invalid message: {p}")
                for p in problems_by_message[index]
            ]
        else:
            found = _apply_message(sandbox, feed, message)
        if any(i["severity"] == "ERROR" for i in found):
            invalid += 1
        else:
            accepted += 1
        issues += found
    return "DONE", _report(feed, issues, len(document["messages"]), accepted, invalid)


def _message_issue(
    message_id: int | None, sku: str | None, code: str, message: str, attribute: str | None = None
) -> dict:
    entry: dict = {"code": code, "severity": "ERROR", "message": message}
    if isinstance(message_id, int) and message_id >= 1:
        entry["messageId"] = message_id
    if isinstance(sku, str) and sku:
        entry["sku"] = sku
    if attribute:
        entry["attributeName"] = attribute
    return entry


def _apply_message(sandbox: WorldBase, feed: Feed, message: dict) -> list[dict]:
    operation = message["operationType"]
    sku = message["sku"]
    if operation == "DELETE":
        for marketplace_id in feed.marketplace_ids:
            sandbox.listings.pop((feed.seller_id, sku, marketplace_id), None)
        return []
    if operation == "PATCH":
        patches = message["patches"]
    else:
        # PARTIAL_UPDATE is "PATCH with the replace op"; UPDATE is modelled the same way (the
        # sandbox keeps no full product data to replace).
        patches = [
            {"op": "replace", "path": f"/attributes/{name}", "value": value}
            for name, value in message["attributes"].items()
        ]
    answer = sandbox.submit_patches(
        feed.seller_id,
        sku,
        feed.marketplace_ids,
        message["productType"],
        patches,
        source=LISTINGS_FEED,
        delay=0,  # the feed applies while it is processed
    )
    return [
        _message_issue(
            message["messageId"],
            sku,
            issue["code"],
            issue["message"],
            (issue.get("attributeNames") or [None])[0],
        )
        for issue in answer["issues"]
    ]
