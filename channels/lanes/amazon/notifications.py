"""SP-API notifications as they reach POST /webhooks/amazon/<channel_id>/.

Amazon delivers through an SQS queue or EventBridge; an EventBridge API destination (or a small
SQS forwarder) posts each one to us with an API-key header, which is how API destinations
authenticate. The body is either the EventBridge event, whose `detail` is the notification, or
the notification itself (an SQS message body). Delivery is at least once and unordered, so a
notification is deduplicated by its NotificationId and, for orders, is only a trigger: the
order is read back and applied by its last-update time.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from channels.lanes.base import PayloadError
from inventory_sync.lib.inputs import holds_nul, parse_time

# The header an EventBridge API destination sends its API key in (its connection's
# "API key name"); set the same name there.
API_KEY_HEADER = "X-Api-Key"

ORDER_CHANGE = "ORDER_CHANGE"
FBA_INVENTORY_AVAILABILITY_CHANGES = "FBA_INVENTORY_AVAILABILITY_CHANGES"
LISTINGS_ITEM_MFN_QUANTITY_CHANGE = "LISTINGS_ITEM_MFN_QUANTITY_CHANGE"
# An order acknowledgement feed (our order cancels) finished: its report names refusals.
FEED_PROCESSING_FINISHED = "FEED_PROCESSING_FINISHED"
# The notification types this lane subscribes to and handles (amazon.inbound.HANDLERS): any
# other is refused with 400, which an EventBridge API destination does not retry.
TYPES = (
    ORDER_CHANGE,
    FBA_INVENTORY_AVAILABILITY_CHANGES,
    LISTINGS_ITEM_MFN_QUANTITY_CHANGE,
    FEED_PROCESSING_FINISHED,
)
# ATVPDKIKX0DER, A1F83G8C2ARO7P: upper-case letters and digits.
_MARKETPLACE = re.compile(r"[A-Z0-9]{1,32}")


@dataclass(frozen=True, slots=True)
class Notification:
    notification_id: str
    type: str
    event_time: datetime | None
    body: dict
    # EventBridge's own fields (its event id differs between redeliveries of one notification).
    envelope: dict = field(default_factory=dict)

    def canonical(self) -> bytes:
        """The notification's bytes as stored: the same for every delivery of it, whichever
        transport wrapped it (so a redelivery is a duplicate, never a conflict)."""
        return json.dumps(self.body, sort_keys=True, separators=(",", ":")).encode()


def key_valid(keys: Iterable[str], presented: str) -> bool:
    """Constant time against every accepted key (the previous one too, during a rotation)."""
    if not presented:
        return False
    valid = False
    for key in keys:
        valid |= hmac.compare_digest(key.encode(), presented.encode())
    return valid


def unwrap(body: bytes) -> Notification:
    """The notification a delivery carries; PayloadError naming what is wrong with it (not
    JSON, a NUL character anywhere in it, not a notification, a type we do not take, no such
    EventTime). Lengths against the inbox's columns are the inbox's own check
    (channels.inbox.check_storable)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise PayloadError(f"body is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise PayloadError("body is not a JSON object")
    if holds_nul(data):
        raise PayloadError("body holds a NUL character (\\u0000), which cannot be stored")
    envelope = {}
    if isinstance(data.get("detail"), dict) and "detail-type" in data:
        envelope = {key: data.get(key) for key in ("id", "detail-type", "source", "time")}
        data = data["detail"]
    kind = _first(data, "NotificationType", "notificationType")
    metadata = _first(data, "NotificationMetadata", "notificationMetadata")
    notification_id = _first(metadata, "NotificationId", "notificationId")
    if not kind or not _is_id(notification_id):
        raise PayloadError("not an SP-API notification: NotificationType or NotificationId missing")
    if kind not in TYPES:
        raise PayloadError(f"NotificationType must be one of {', '.join(TYPES)}")
    return Notification(
        notification_id=str(notification_id),
        type=kind,
        event_time=_event_time(_first(data, "EventTime", "eventTime")),
        body=data,
        envelope=envelope,
    )


def _is_id(value: object) -> bool:
    return bool(value) and isinstance(value, str | int) and not isinstance(value, bool)


def _event_time(value: object) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return parse_time(str(value), "EventTime")
    except ValueError as error:
        raise PayloadError(str(error)) from None


def checked_marketplace(marketplace: str) -> str:
    """A marketplace id named by a notification, before it is looked up: PayloadError for
    anything that cannot be one."""
    if marketplace and not _MARKETPLACE.fullmatch(marketplace):
        raise PayloadError("MarketplaceId is not a marketplace id")
    return marketplace


def payload(notification: Mapping) -> dict:
    return _first(notification, "Payload", "payload") or {}


def order_change(notification: Mapping) -> tuple[str, str, str]:
    """(Amazon order id, seller id, marketplace id) of an ORDER_CHANGE notification."""
    change = _first(payload(notification), "OrderChangeNotification", "orderChangeNotification")
    if not isinstance(change, Mapping):
        raise PayloadError("ORDER_CHANGE without OrderChangeNotification")
    order_id = _first(change, "AmazonOrderId", "amazonOrderId")
    if not order_id:
        raise PayloadError("ORDER_CHANGE without AmazonOrderId")
    summary = _first(change, "Summary", "summary") or {}
    return (
        str(order_id),
        str(_first(change, "SellerId", "sellerId") or ""),
        str(_first(summary, "MarketplaceId", "marketplaceId") or ""),
    )


def feed_finished(notification: Mapping) -> dict:
    """The feedProcessingFinishedNotification (feedId, feedType, processingStatus,
    resultFeedDocumentId) of a FEED_PROCESSING_FINISHED notification."""
    finished = _first(
        payload(notification),
        "feedProcessingFinishedNotification",
        "FeedProcessingFinishedNotification",
    )
    if not isinstance(finished, Mapping) or not finished.get("feedId"):
        raise PayloadError("FEED_PROCESSING_FINISHED without feedProcessingFinishedNotification")
    return dict(finished)


def marketplace_of(notification: Mapping) -> str:
    """The marketplace a notification is about, where it names one (an order's)."""
    if _first(notification, "NotificationType", "notificationType") == ORDER_CHANGE:
        try:
            return order_change(notification)[2]
        except PayloadError:
            return ""
    return ""


def _first(mapping: Mapping, *names: str):
    if not isinstance(mapping, Mapping):  # a string or list where an object belongs
        return None
    for name in names:
        if name in mapping:
            return mapping[name]
    return None
