"""A seller's cancellation of a merchant-fulfilled Amazon order: the order acknowledgement feed.

SP-API has no cancel operation for a seller's own orders (Orders 2026-01-01 only reads; v0
confirms shipments). A seller cancels an unshipped MFN order with the Feeds API: feed type
POST_ORDER_ACKNOWLEDGEMENT_DATA, an XML `OrderAcknowledgement` message per order with
StatusCode `Failure` and every item with a `CancelReason` (order feed type values,
developer-docs.amazon.com/sp-api/docs/order-feed-type-values; the OrderAcknowledgement XSD).
Amazon then cancels the whole order, refunds the buyer and tells them; for every reason but
NoInventory it also puts the cancelled units back on the listing's quantity. It must not be sent
once an item shipped (Amazon would refund the whole order), and Amazon-fulfilled orders are
Amazon's to cancel.

The feed is processed minutes later: the order turns Canceled (ORDER_CHANGE, or the poll) and
ingest releases its units like any cancel; a refusal is in the feed's XML processing report
(`refusals`), read when FEED_PROCESSING_FINISHED arrives (amazon.inbound; subscribe the
destination to it).
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.etree import ElementTree

ACKNOWLEDGEMENT_FEED = "POST_ORDER_ACKNOWLEDGEMENT_DATA"
XML_CONTENT_TYPE = "text/xml; charset=UTF-8"

# The lane-neutral reason the core gives (Shopify's OrderCancelReason values) -> Amazon's
# CancelReason. NoInventory also keeps the listing's quantity where it is: the unit was never
# there to sell.
CANCEL_REASONS = {
    "INVENTORY": "NoInventory",
    "CUSTOMER": "BuyerCanceled",
    "FRAUD": "RiskAssessmentInformationNotValid",
    "DECLINED": "RiskAssessmentInformationNotValid",
    "STAFF": "GeneralAdjustment",
    "OTHER": "GeneralAdjustment",
}


def cancel_reason(reason: str) -> str:
    try:
        return CANCEL_REASONS[reason.upper()]
    except KeyError:
        raise ValueError(
            f"no Amazon cancel reason for {reason!r}; one of {sorted(CANCEL_REASONS)}"
        ) from None


def cancellation_document(
    seller_id: str, order_id: str, item_ids: Sequence[str], *, reason: str
) -> bytes:
    """The acknowledgement feed that cancels one order: every item with `reason` (Amazon's
    CancelReason), message 1."""
    if not item_ids:
        raise ValueError("an order cancellation names every item of the order")
    envelope = ElementTree.Element(
        "AmazonEnvelope",
        {
            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
            "xsi:noNamespaceSchemaLocation": "amzn-envelope.xsd",
        },
    )
    header = ElementTree.SubElement(envelope, "Header")
    _text(header, "DocumentVersion", "1.01")
    _text(header, "MerchantIdentifier", seller_id)
    _text(envelope, "MessageType", "OrderAcknowledgement")
    message = ElementTree.SubElement(envelope, "Message")
    _text(message, "MessageID", "1")
    acknowledgement = ElementTree.SubElement(message, "OrderAcknowledgement")
    _text(acknowledgement, "AmazonOrderID", order_id)
    _text(acknowledgement, "StatusCode", "Failure")
    for item_id in item_ids:
        item = ElementTree.SubElement(acknowledgement, "Item")
        _text(item, "AmazonOrderItemCode", item_id)
        _text(item, "CancelReason", reason)
    return ElementTree.tostring(envelope, encoding="utf-8", xml_declaration=True)


def _text(parent: ElementTree.Element, tag: str, value: str) -> None:
    ElementTree.SubElement(parent, tag).text = value


def refusals(report: bytes) -> dict[str, str]:
    """Amazon order id -> what the XML processing report says was wrong, for every message
    that ended in an error (`ResultCode` Error, the order in `AdditionalInfo`)."""
    try:
        # The stdlib parser expands no external entity; expat caps entity expansion.
        root = ElementTree.fromstring(report)  # noqa: S314
    except ElementTree.ParseError as error:
        raise ValueError(f"the processing report is not XML: {error}") from error
    refused: dict[str, str] = {}
    for result in root.iter("Result"):
        if (result.findtext("ResultCode") or "").strip() != "Error":
            continue
        order_id = (result.findtext("AdditionalInfo/AmazonOrderID") or "").strip()
        code = (result.findtext("ResultMessageCode") or "").strip()
        text = (result.findtext("ResultDescription") or "").strip()
        if order_id:
            refused[order_id] = f"{code}: {text}" if code else text
    return refused
