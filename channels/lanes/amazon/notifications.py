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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from django.utils.dateparse import parse_datetime

from channels.lanes.base import PayloadError

# The header an EventBridge API destination sends its API key in (its connection's
# "API key name"); set the same name there.
API_KEY_HEADER = "X-Api-Key"

ORDER_CHANGE = "ORDER_CHANGE"
FBA_INVENTORY_AVAILABILITY_CHANGES = "FBA_INVENTORY_AVAILABILITY_CHANGES"


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
    try:
        data = json.loads(body)
    except ValueError as error:
        raise PayloadError(f"body is not JSON: {error}") from error
    if not isinstance(data, dict):
        raise PayloadError("body is not a JSON object")
    envelope = {}
    if isinstance(data.get("detail"), dict) and "detail-type" in data:
        envelope = {key: data.get(key) for key in ("id", "detail-type", "source", "time")}
        data = data["detail"]
    kind = _first(data, "NotificationType", "notificationType")
    metadata = _first(data, "NotificationMetadata", "notificationMetadata") or {}
    notification_id = _first(metadata, "NotificationId", "notificationId")
    if not kind or not notification_id:
        raise PayloadError("not an SP-API notification: NotificationType or NotificationId missing")
    return Notification(
        notification_id=str(notification_id),
        type=str(kind),
        event_time=parse_datetime(str(_first(data, "EventTime", "eventTime") or "")),
        body=data,
        envelope=envelope,
    )


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


def marketplace_of(notification: Mapping) -> str:
    """The marketplace a notification is about, where it names one (an order's)."""
    if _first(notification, "NotificationType", "notificationType") == ORDER_CHANGE:
        try:
            return order_change(notification)[2]
        except PayloadError:
            return ""
    return ""


def _first(mapping: Mapping, *names: str):
    for name in names:
        if name in mapping:
            return mapping[name]
    return None
