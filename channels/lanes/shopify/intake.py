"""The Shopify webhook endpoint: verify the HMAC, store the raw body once per event id, answer.
Nothing else happens in the request (Shopify needs a 2xx within seconds; everything that can
fail happens in the ingest worker)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from django.db.models.signals import post_save
from django.dispatch import receiver

from channels import inbox
from channels.lanes.endpoints import webhook_view
from channels.models import Channel
from inventory_sync.lib import secrets

from . import webhooks

logger = logging.getLogger(__name__)

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

    Shared by the Django view and the WSGI fast path (channels.intake), which answer
    the same thing for the same request.
    """
    try:
        channel, keys = _channel_and_secrets(channel_id)
    except secrets.SecretUnreadable as error:
        logger.error("channel %s: webhook refused (503). %s", channel_id, error)
        return 503, {"detail": "Channel credentials unreadable."}
    if channel is None:
        return 404, {"detail": "No such Shopify channel."}
    found = webhooks.shopify_headers(headers)
    if not webhooks.signature_valid(keys, body, webhooks.header(found, "X-Shopify-Hmac-Sha256")):
        return 401, {"detail": "Invalid webhook signature."}
    # Signed, yet unfit to store (an over-long id, no such date, not JSON): the sender's
    # mistake, answered 400 with the reason, never a 500 that reads as ours.
    try:
        delivery = webhooks.delivery(found, body)
        stored = inbox.store(
            channel=channel,
            source="webhook",
            topic=delivery.topic,
            dedupe_key=delivery.dedupe_key,
            delivery_id=delivery.webhook_id,
            headers=delivery.kept,
            body=body,
            occurred_at=delivery.triggered_at,
        )
    except (webhooks.PayloadError, inbox.Unstorable) as error:
        return 400, {"detail": str(error)}
    return inbox.answer_stored(channel, stored, f"event {delivery.event_id or delivery.webhook_id}")


webhook = webhook_view(receive_shopify)
