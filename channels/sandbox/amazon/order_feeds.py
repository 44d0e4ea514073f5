"""The order acknowledgement feed (POST_ORDER_ACKNOWLEDGEMENT_DATA): how a seller cancels a
merchant-fulfilled order, and its XML processing report.

Each `Message` holds one `OrderAcknowledgement` (AmazonOrderID, StatusCode Success|Failure,
`Item`s with AmazonOrderItemCode and, for Failure, a CancelReason). Success only acknowledges
(nothing changes). Failure with every item of an unshipped MFN order cancels the whole order as
the seller (cancellationExecution cancelledBy MERCHANT), refunds the buyer and publishes
ORDER_CHANGE; the units go back on the listing for every reason but NoInventory, as Amazon
documents. Refused per message (an error Result in the report, the order untouched): an unknown
order, an Amazon-fulfilled one, one with shipped items or already cancelled, a Failure without
items or naming only some items, an unknown CancelReason.

Sandbox choices: a whole-order cancel needs every item listed (Amazon's partial cancels go
through the adjustment feed, not served); the ResultMessageCode numbers are the sandbox's own;
a Pending order may be cancelled like an Unshipped one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from xml.etree import ElementTree

from channels.sandbox.common.errors import SandboxError

if TYPE_CHECKING:
    from .world.base import WorldBase
    from .world.records import Feed

ACKNOWLEDGEMENT_FEED = "POST_ORDER_ACKNOWLEDGEMENT_DATA"
REPORT_CONTENT_TYPE = "text/xml; charset=UTF-8"
CANCEL_REASONS = frozenset(
    {
        "NoInventory",
        "ShippingAddressUndeliverable",
        "CustomerExchange",
        "BuyerCanceled",
        "GeneralAdjustment",
        "CarrierCreditDecision",
        "RiskAssessmentInformationNotValid",
        "CarrierCoverageFailure",
        "CustomerReturn",
        "MerchandiseNotReceived",
    }
)
# The sandbox's own result codes (Amazon's numbers for these cases are not published).
UNREADABLE, UNKNOWN_ORDER, NOT_CANCELLABLE, BAD_ITEMS = "90001", "90002", "90003", "90004"


class Refused(Exception):
    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code, self.text = code, text


def process_acknowledgements(sandbox: WorldBase, feed: Feed, content: bytes) -> tuple[str, bytes]:
    """Apply the feed; (processing status, the XML processing report)."""
    try:
        root = ElementTree.fromstring(content)  # noqa: S314 - the sandbox's own test input
    except ElementTree.ParseError as error:
        return "FATAL", _report(feed, 0, [("0", "", UNREADABLE, f"Not XML: {error}")])
    if root.tag != "AmazonEnvelope" or root.findtext("MessageType") != "OrderAcknowledgement":
        return "FATAL", _report(
            feed, 0, [("0", "", UNREADABLE, "Not an OrderAcknowledgement feed")]
        )
    messages = root.findall("Message")
    errors = []
    for message in messages:
        message_id = (message.findtext("MessageID") or "").strip()
        order_id = (message.findtext("OrderAcknowledgement/AmazonOrderID") or "").strip()
        try:
            _apply(sandbox, feed.seller_id, message.find("OrderAcknowledgement"))
        except Refused as refused:
            errors.append((message_id, order_id, refused.code, refused.text))
    return "DONE", _report(feed, len(messages), errors)


def _apply(sandbox: WorldBase, seller_id: str, acknowledgement) -> None:
    if acknowledgement is None:
        raise Refused(UNREADABLE, "The message has no OrderAcknowledgement.")
    order_id = (acknowledgement.findtext("AmazonOrderID") or "").strip()
    order = sandbox.orders.get(order_id)
    if order is None or order.seller_id != seller_id:
        raise Refused(UNKNOWN_ORDER, f"Order {order_id} was not found for this seller.")
    status = (acknowledgement.findtext("StatusCode") or "").strip()
    if status == "Success":
        return  # an acknowledgement: the order goes on as it is
    if status != "Failure":
        raise Refused(UNREADABLE, f"StatusCode must be Success or Failure, not {status!r}.")
    reason = _cancel_reason(order, acknowledgement.findall("Item"))
    if order.afn:
        raise Refused(NOT_CANCELLABLE, f"Order {order_id} is fulfilled by Amazon.")
    if order.status == "CANCELLED" or any(item.shipped for item in order.items):
        raise Refused(NOT_CANCELLABLE, f"Order {order_id} is shipped or cancelled already.")
    try:
        sandbox.cancel_order(
            order_id, reason=reason, restock=reason != "NoInventory", cancelled_by="MERCHANT"
        )
    except SandboxError as error:
        raise Refused(NOT_CANCELLABLE, str(error)) from error


def _cancel_reason(order, items) -> str:
    """The one CancelReason of a whole-order cancel that lists every item."""
    named = {(item.findtext("AmazonOrderItemCode") or "").strip() for item in items}
    if named != {item.order_item_id for item in order.items}:
        raise Refused(BAD_ITEMS, "A cancellation lists every item of the order, each once.")
    reasons = {(item.findtext("CancelReason") or "").strip() for item in items}
    if len(reasons) != 1 or not reasons <= CANCEL_REASONS:
        raise Refused(
            BAD_ITEMS, f"CancelReason must be one of {', '.join(sorted(CANCEL_REASONS))}."
        )
    return reasons.pop()


def _report(feed: Feed, processed: int, errors: list[tuple[str, str, str, str]]) -> bytes:
    """Amazon's XML ProcessingReport: a summary and a Result per message in error."""
    envelope = ElementTree.Element("AmazonEnvelope")
    header = ElementTree.SubElement(envelope, "Header")
    _text(header, "DocumentVersion", "1.02")
    _text(header, "MerchantIdentifier", feed.seller_id)
    _text(envelope, "MessageType", "ProcessingReport")
    message = ElementTree.SubElement(envelope, "Message")
    _text(message, "MessageID", "1")
    report = ElementTree.SubElement(message, "ProcessingReport")
    _text(report, "DocumentTransactionID", feed.feed_id)
    _text(report, "StatusCode", "Complete")
    summary = ElementTree.SubElement(report, "ProcessingSummary")
    failed = len({message_id for message_id, *_ in errors})
    _text(summary, "MessagesProcessed", str(processed))
    _text(summary, "MessagesSuccessful", str(max(processed - failed, 0)))
    _text(summary, "MessagesWithError", str(failed))
    _text(summary, "MessagesWithWarning", "0")
    for message_id, order_id, code, description in errors:
        result = ElementTree.SubElement(report, "Result")
        _text(result, "MessageID", message_id)
        _text(result, "ResultCode", "Error")
        _text(result, "ResultMessageCode", code)
        _text(result, "ResultDescription", description)
        if order_id:
            _text(ElementTree.SubElement(result, "AdditionalInfo"), "AmazonOrderID", order_id)
    return ElementTree.tostring(envelope, encoding="utf-8", xml_declaration=True)


def _text(parent, tag: str, value: str) -> None:
    ElementTree.SubElement(parent, tag).text = value
