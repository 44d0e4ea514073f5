"""SP-API answers turned into our values (pure). PARSERS maps each operation to the function
the client applies to its answer; a body that is not what the operation returns raises
`BadAnswer`."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Mapping
from typing import Any

from .errors import BadAnswer
from .values import (
    MFN_CHANNEL,
    Document,
    FeedIssue,
    FeedReport,
    FeedStatus,
    ListingSubmission,
    ListingSummary,
    OrdersPage,
)


def _require(body: Any, *keys: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadAnswer(f"expected a JSON object, got {type(body).__name__}")
    missing = [k for k in keys if body.get(k) in (None, "")]
    if missing:
        raise BadAnswer(f"answer lacks {', '.join(missing)}")
    return body


def listing_from_json(body: Any) -> dict[str, Any]:
    return _require(body, "sku")


def submission_from_json(body: Any) -> ListingSubmission:
    body = _require(body, "sku", "status", "submissionId")
    issues = body.get("issues") or []
    if not isinstance(issues, list):
        raise BadAnswer("issues is not a list")
    return ListingSubmission(
        sku=str(body["sku"]),
        status=str(body["status"]),
        submission_id=str(body["submissionId"]),
        issues=[dict(i) for i in issues if isinstance(i, dict)],
    )


def listings_page_from_json(body: Any) -> tuple[list[dict[str, Any]], str | None]:
    body = _require(body)
    items = body.get("items")
    if not isinstance(items, list):
        raise BadAnswer("answer lacks items")
    return items, (body.get("pagination") or {}).get("nextToken") or None


def document_from_json(body: Any) -> Document:
    """createFeedDocument, getFeedDocument and getReportDocument answers."""
    body = _require(body, "url")
    document_id = body.get("feedDocumentId") or body.get("reportDocumentId")
    if not document_id:
        raise BadAnswer("answer lacks feedDocumentId/reportDocumentId")
    return Document(str(document_id), str(body["url"]), body.get("compressionAlgorithm"))


def feed_id_from_json(body: Any) -> str:
    return str(_require(body, "feedId")["feedId"])


def feed_status_from_json(body: Any) -> FeedStatus:
    body = _require(body, "feedId", "processingStatus")
    return FeedStatus(
        feed_id=str(body["feedId"]),
        feed_type=body.get("feedType"),
        processing_status=str(body["processingStatus"]),
        result_feed_document_id=body.get("resultFeedDocumentId") or None,
        created_time=body.get("createdTime"),
        processing_end_time=body.get("processingEndTime"),
        raw=body,
    )


def feed_report_from_json(
    body: Any, skus_by_message_id: Mapping[int, str] | None = None
) -> FeedReport:
    """Parse a JSON_LISTINGS_FEED processing report. An issue without `sku` gets it from
    `skus_by_message_id` when given (messageId → SKU of the submitted feed)."""
    body = _require(body)
    summary = body.get("summary") or {}
    if not isinstance(summary, dict):
        raise BadAnswer("summary is not an object")
    issues = []
    for raw in body.get("issues") or []:
        if not isinstance(raw, dict):
            continue
        message_id = raw.get("messageId")
        message_id = message_id if isinstance(message_id, int) else None
        sku = raw.get("sku")
        if not sku and message_id is not None and skus_by_message_id:
            sku = skus_by_message_id.get(message_id)
        issues.append(
            FeedIssue(
                message_id=message_id,
                sku=sku or None,
                code=raw.get("code"),
                severity=str(raw.get("severity") or "ERROR"),
                message=str(raw.get("message") or ""),
                attribute_name=raw.get("attributeName"),
            )
        )
    header = body.get("header") or {}
    return FeedReport(
        feed_id=header.get("feedId") if isinstance(header, dict) else None,
        messages_processed=int(summary.get("messagesProcessed") or 0),
        messages_accepted=int(summary.get("messagesAccepted") or 0),
        messages_invalid=int(summary.get("messagesInvalid") or 0),
        errors=int(summary.get("errors") or 0),
        warnings=int(summary.get("warnings") or 0),
        issues=tuple(issues),
        raw=body,
    )


def orders_page_from_json(body: Any) -> OrdersPage:
    body = _require(body)
    orders = body.get("orders")
    if not isinstance(orders, list):
        raise BadAnswer("answer lacks orders")
    for order in orders:
        _require(order, "orderId", "lastUpdatedTime")
    return OrdersPage(
        orders=orders,
        next_token=(body.get("pagination") or {}).get("nextToken") or None,
        last_updated_before=body.get("lastUpdatedBefore"),
    )


def order_from_json(body: Any) -> dict[str, Any]:
    order = _require(body, "order")["order"]
    return _require(order, "orderId", "lastUpdatedTime")


def inventory_page_from_json(body: Any) -> tuple[list[dict[str, Any]], str | None]:
    body = _require(body, "payload")
    summaries = (
        body["payload"].get("inventorySummaries") if isinstance(body["payload"], dict) else None
    )
    if not isinstance(summaries, list):
        raise BadAnswer("answer lacks payload.inventorySummaries")
    return summaries, (body.get("pagination") or {}).get("nextToken") or None


def report_id_from_json(body: Any) -> str:
    return str(_require(body, "reportId")["reportId"])


def report_from_json(body: Any) -> dict[str, Any]:
    return _require(body, "reportId", "processingStatus")


def no_body(body: Any) -> None:
    return None


PARSERS: dict[str, Callable[[Any], Any]] = {
    "getListingsItem": listing_from_json,
    "patchListingsItem": submission_from_json,
    "searchListingsItems": listings_page_from_json,
    "createFeedDocument": document_from_json,
    "createFeed": feed_id_from_json,
    "getFeed": feed_status_from_json,
    "getFeedDocument": document_from_json,
    "searchOrders": orders_page_from_json,
    "getOrder": order_from_json,
    "confirmShipment": no_body,
    "getInventorySummaries": inventory_page_from_json,
    "createReport": report_id_from_json,
    "getReport": report_from_json,
    "getReportDocument": document_from_json,
}


def mfn_quantity(item: Mapping[str, Any]) -> int | None:
    """The merchant-fulfilled quantity of a listings item (getListingsItem with
    fulfillmentAvailability): the DEFAULT channel's quantity; None for AFN or when absent."""
    for entry in item.get("fulfillmentAvailability") or []:
        if isinstance(entry, dict) and entry.get("fulfillmentChannelCode") == MFN_CHANNEL:
            quantity = entry.get("quantity")
            return int(quantity) if isinstance(quantity, int) else None
    return None


def availability_errors(item: Mapping[str, Any]) -> tuple[str, ...]:
    """ERROR issues on a listings item's fulfillment_availability (`includedData=issues`), as
    "code: message": what Amazon found processing a quantity it had answered ACCEPTED."""
    found = []
    for issue in item.get("issues") or []:
        if not isinstance(issue, dict) or issue.get("severity") != "ERROR":
            continue
        if "fulfillment_availability" in (issue.get("attributeNames") or []):
            found.append(f"{issue.get('code', '')}: {issue.get('message', '')}".strip(": "))
    return tuple(found)


def fulfillment_channel(item: Mapping[str, Any]) -> str | None:
    """MFN when the item has the DEFAULT channel, AFN when only AMAZON_* channels."""
    codes = {
        str(e.get("fulfillmentChannelCode"))
        for e in item.get("fulfillmentAvailability") or []
        if isinstance(e, dict) and e.get("fulfillmentChannelCode")
    }
    if MFN_CHANNEL in codes:
        return "MFN"
    if any(code.startswith("AMAZON") for code in codes):
        return "AFN"
    return None


def listing_summary(item: Mapping[str, Any], marketplace_id: str | None = None) -> ListingSummary:
    summaries = [s for s in item.get("summaries") or [] if isinstance(s, dict)]
    summary = next(
        (s for s in summaries if marketplace_id and s.get("marketplaceId") == marketplace_id),
        summaries[0] if summaries else {},
    )
    return ListingSummary(
        sku=str(item.get("sku") or ""),
        asin=summary.get("asin"),
        fulfillment_channel=fulfillment_channel(item),
        quantity=mfn_quantity(item),
        product_type=summary.get("productType"),
        status=tuple(summary.get("status") or ()),
        item_name=summary.get("itemName"),
    )


def decompress_document(content: bytes, compression_algorithm: str | None) -> bytes:
    """GZIP-aware: decompress when Amazon says GZIP and the bytes are gzip (an HTTP layer that
    honoured Content-Encoding may already have inflated them)."""
    if compression_algorithm and compression_algorithm.upper() == "GZIP":
        if content[:2] == b"\x1f\x8b":
            return gzip.decompress(content)
    elif content[:2] == b"\x1f\x8b":
        return gzip.decompress(content)
    return content


def errors_of(body: bytes) -> list[dict[str, Any]]:
    try:
        payload = json.loads(body) if body else None
    except ValueError:
        return []
    errors = payload.get("errors") if isinstance(payload, dict) else None
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
