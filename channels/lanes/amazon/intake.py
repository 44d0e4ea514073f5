"""The Amazon notification endpoint (an EventBridge API destination): check the API key,
store the notification raw once per NotificationId on the channel of its marketplace, answer."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from channels import inbox
from channels.lanes.base import PayloadError
from channels.lanes.endpoints import webhook_view
from channels.models import Channel
from inventory_sync.lib import secrets

from . import notifications

logger = logging.getLogger(__name__)


def _amazon_channel_and_keys(channel_id: int) -> tuple[Channel | None, tuple[str, ...]]:
    channel = (
        Channel.objects.filter(pk=channel_id, kind=Channel.Kind.AMAZON)
        .only("id", "code", "kind", "seller_id", "marketplace", "credentials_sealed")
        .first()
    )
    if channel is None:
        return None, ()
    credentials = channel.credentials  # raises SecretUnreadable
    keys = tuple(
        key
        for key in (
            credentials.get("notification_key"),
            credentials.get("old_notification_key"),
        )
        if key
    )
    return channel, keys


def _amazon_target(channel: Channel, notification: notifications.Notification) -> Channel:
    """Amazon subscribes a destination per seller, not per marketplace: an order of another
    marketplace of the same seller belongs to that marketplace's channel, when we have one."""
    marketplace = notifications.checked_marketplace(notifications.marketplace_of(notification.body))
    if not marketplace or marketplace == channel.marketplace or not channel.seller_id:
        return channel
    sibling = Channel.objects.filter(
        kind=Channel.Kind.AMAZON, seller_id=channel.seller_id, marketplace=marketplace
    ).first()
    return sibling or channel


def receive_amazon(
    channel_id: int, headers: Mapping[str, str], body: bytes
) -> tuple[int, dict[str, str]]:
    """Verify the API key, store the notification raw and once (by its NotificationId), ring
    the ingest worker: (HTTP status, JSON answer)."""
    try:
        channel, keys = _amazon_channel_and_keys(channel_id)
    except secrets.SecretUnreadable as error:
        logger.error("channel %s: notification refused (503). %s", channel_id, error)
        return 503, {"detail": "Channel credentials unreadable."}
    if channel is None:
        return 404, {"detail": "No such Amazon channel."}
    if not notifications.key_valid(keys, headers.get(notifications.API_KEY_HEADER, "")):
        return 401, {"detail": f"Missing or wrong {notifications.API_KEY_HEADER}."}
    # Authentic, yet unfit to store (not a notification, a type we do not take, no such time,
    # an over-long id): the sender's mistake, answered 400 with the reason, never a 500.
    try:
        notification = notifications.unwrap(body)
        target = _amazon_target(channel, notification)
        stored = inbox.store(
            channel=target,
            source="notification",
            topic=notification.type,
            dedupe_key=f"notification:{notification.notification_id}",
            delivery_id=str(notification.envelope.get("id") or ""),
            headers={key: str(value) for key, value in notification.envelope.items() if value},
            body=notification.canonical(),
            occurred_at=notification.event_time,
        )
    except (PayloadError, inbox.Unstorable) as error:
        return 400, {"detail": str(error)}
    return inbox.answer_stored(target, stored, f"notification {notification.notification_id}")


webhook = webhook_view(receive_amazon)
