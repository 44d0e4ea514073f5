"""Webhook endpoints: verify, store raw, answer. Nothing else happens in the request (the
channel needs a 2xx within seconds, and everything that can fail happens in the worker)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from inventory_sync.lib import secrets

from . import inbound, tasks
from .adapters import amazon_notifications as amazon
from .adapters import shopify_webhooks as shopify
from .models import Channel

logger = logging.getLogger(__name__)

# The headers kept with the raw body (the signature itself is not needed once checked).
_SHOPIFY_KEPT = (
    "X-Shopify-Topic",
    "X-Shopify-Shop-Domain",
    "X-Shopify-API-Version",
    "X-Shopify-Webhook-Id",
    "X-Shopify-Event-Id",
    "X-Shopify-Triggered-At",
    "X-Shopify-Name",
)


# Channel id → (read at, channel, webhook secrets). Decrypting and reading the channel on every
# delivery costs more than storing it; a rotated secret applies within this many seconds (the
# old one stays accepted meanwhile anyway).
_SECRETS_TTL = 10.0
_secrets: dict[int, tuple[float, Channel, tuple[str, ...]]] = {}


def _channel_and_secrets(channel_id: int) -> tuple[Channel | None, tuple[str, ...]]:
    cached = _secrets.get(channel_id)
    if cached is not None and time.monotonic() - cached[0] < _SECRETS_TTL:
        return cached[1], cached[2]
    channel = (
        Channel.objects.filter(pk=channel_id, kind=Channel.Kind.SHOPIFY)
        .only("id", "code", "kind", "credentials_sealed")
        .first()
    )
    if channel is None:
        return None, ()
    credentials = channel.credentials  # raises SecretUnreadable
    keys = tuple(
        key
        for key in (credentials.get("webhook_secret"), credentials.get("old_webhook_secret"))
        if key
    )
    _secrets[channel_id] = (time.monotonic(), channel, keys)
    return channel, keys


@receiver(post_save, sender=Channel)
def _forget_secrets(sender, instance: Channel, **kwargs) -> None:
    _secrets.pop(instance.pk, None)


def receive_shopify(
    channel_id: int, headers: Mapping[str, str], body: bytes
) -> tuple[int, dict[str, str]]:
    """Verify, store raw, ring the ingest worker: (HTTP status, JSON answer).

    Shared by the Django view and the WSGI fast path (inventory_sync.wsgi), which answer
    the same thing for the same request.
    """
    try:
        channel, keys = _channel_and_secrets(channel_id)
    except secrets.SecretUnreadable:
        logger.error("channel %s: credentials unreadable; webhook refused", channel_id)
        return 503, {"detail": "Channel credentials unreadable."}
    if channel is None:
        return 404, {"detail": "No such Shopify channel."}
    found = shopify.shopify_headers(headers)
    if not shopify.signature_valid(keys, body, shopify.header(found, "X-Shopify-Hmac-Sha256")):
        return 401, {"detail": "Invalid webhook signature."}
    topic = shopify.header(found, "X-Shopify-Topic")
    event_id = shopify.header(found, "X-Shopify-Event-Id")
    delivery_id = shopify.header(found, "X-Shopify-Webhook-Id")
    if not topic or not (event_id or delivery_id):
        return 400, {"detail": "X-Shopify-Topic and X-Shopify-Event-Id are required."}
    stored = inbound.store(
        channel=channel,
        source="webhook",
        topic=topic,
        # The event id is Shopify's documented duplicate key (with the topic, in case one event
        # is ever announced under two topics); older deliveries lack it.
        dedupe_key=f"event:{topic}:{event_id}" if event_id else f"webhook:{topic}:{delivery_id}",
        delivery_id=delivery_id,
        headers={name: shopify.header(found, name) for name in _SHOPIFY_KEPT},
        body=body,
        occurred_at=shopify.triggered_at(found),
    )
    return _answer(channel, stored, f"event {event_id or delivery_id}")


def _answer(channel: Channel, stored: inbound.Stored, what: str) -> tuple[int, dict[str, str]]:
    """The answer to a stored delivery (I3): the same id with another body is refused, a new
    one rings the ingest worker once the row is committed."""
    if stored.conflict:
        logger.warning(
            "channel %s: %s redelivered with another body; the first one stands",
            channel.code,
            what,
        )
        return 409, {"detail": f"This {what.split()[0]} id was delivered before with another body."}
    if stored.created:
        transaction.on_commit(tasks.wake_ingest)
    return 200, {"status": "received" if stored.created else "duplicate"}


@csrf_exempt
@require_POST
def shopify_webhook(request: HttpRequest, channel_id: int) -> JsonResponse:
    status, answer = receive_shopify(channel_id, request.headers, request.body)
    return JsonResponse(answer, status=status)


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


def _amazon_target(channel: Channel, notification: amazon.Notification) -> Channel:
    """Amazon subscribes a destination per seller, not per marketplace: an order of another
    marketplace of the same seller belongs to that marketplace's channel, when we have one."""
    marketplace = amazon.marketplace_of(notification.body)
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
    except secrets.SecretUnreadable:
        logger.error("channel %s: credentials unreadable; notification refused", channel_id)
        return 503, {"detail": "Channel credentials unreadable."}
    if channel is None:
        return 404, {"detail": "No such Amazon channel."}
    if not amazon.key_valid(keys, headers.get(amazon.API_KEY_HEADER, "")):
        return 401, {"detail": f"Missing or wrong {amazon.API_KEY_HEADER}."}
    try:
        notification = amazon.unwrap(body)
    except shopify.PayloadError as error:
        return 400, {"detail": str(error)}
    target = _amazon_target(channel, notification)
    stored = inbound.store(
        channel=target,
        source="notification",
        topic=notification.type,
        dedupe_key=f"notification:{notification.notification_id}",
        delivery_id=str(notification.envelope.get("id") or ""),
        headers={key: str(value) for key, value in notification.envelope.items() if value},
        body=notification.canonical(),
        occurred_at=notification.event_time,
    )
    return _answer(target, stored, f"notification {notification.notification_id}")


@csrf_exempt
@require_POST
def amazon_webhook(request: HttpRequest, channel_id: int) -> JsonResponse:
    status, answer = receive_amazon(channel_id, request.headers, request.body)
    return JsonResponse(answer, status=status)
