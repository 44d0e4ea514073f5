"""Signed webhook delivery with Shopify's at-least-once, unordered behaviour.

One background thread delivers in due-time order (common.delivery). Every random decision (delay,
duplicate, reorder, retry jitter) is drawn from a seeded RNG, so a given sequence of events
always produces the same delivery schedule. Ids (event, webhook) come from the OS so that they
stay unique across sandbox resets: the app dedupes on them in a database that outlives a reset.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from channels.sandbox.common.delivery import Delivery, DeliveryQueue

TOPICS = (
    "orders/create",
    "orders/updated",
    "orders/cancelled",
    "orders/edited",
    "refunds/create",
    "inventory_levels/update",
    "fulfillments/create",
)


def sign(secret: str, raw_body: bytes) -> str:
    """X-Shopify-Hmac-Sha256: base64 of HMAC-SHA256 over the raw body, keyed by the app secret."""
    digest = hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def encode_body(payload: dict) -> bytes:
    # Shopify posts compact JSON; receivers must verify the HMAC over these exact bytes.
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass
class Subscription:
    url: str
    secret: str
    api_version: str = "2026-04"
    topics: frozenset[str] | None = None  # None = every topic the sandbox emits
    name: str | None = None
    duplicate_rate: float = 0.0
    reorder_rate: float = 0.0
    delay_ms: tuple[float, float] = (2.0, 100.0)
    max_retries: int = 8
    retry_base_ms: float = 50.0
    retry_max_ms: float = 2000.0
    timeout_s: float = 5.0

    def wants(self, topic: str) -> bool:
        return self.topics is None or topic in self.topics

    def as_json(self) -> dict:
        return {
            "url": self.url,
            "api_version": self.api_version,
            "topics": sorted(self.topics) if self.topics is not None else None,
            "name": self.name,
            "duplicate_rate": self.duplicate_rate,
            "reorder_rate": self.reorder_rate,
            "delay_ms": list(self.delay_ms),
            "max_retries": self.max_retries,
            "retry_base_ms": self.retry_base_ms,
            "retry_max_ms": self.retry_max_ms,
            "timeout_s": self.timeout_s,
        }


@dataclass(order=True, kw_only=True)
class WebhookDelivery(Delivery):
    topic: str = field(compare=False)
    event_id: str = field(compare=False)
    webhook_id: str = field(compare=False)
    triggered_at: str = field(compare=False)


def _triggered_at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class WebhookDispatcher(DeliveryQueue):
    def __init__(
        self,
        shop_domain: str,
        seed: int = 0,
        post: Callable[..., Any] | None = None,
        history: int = 5000,
    ) -> None:
        super().__init__(
            # Webhook delays are real time: the sandbox clock only drives the throttle bucket.
            clock=time.monotonic,
            seed=seed,
            post=post,
            history=history,
            thread_name="shopify-sandbox-webhooks",
            stats=("published", "delivered", "failed_attempts", "given_up"),
        )
        self.shop_domain = shop_domain
        self.events = self._log()

    @property
    def subscriptions(self) -> list[Subscription]:
        return self._subscribed()

    # publishing ----------------------------------------------------------------------------
    def publish(self, topic: str, payload: dict, triggered: datetime) -> str:
        """Queue one event for every matching subscription; returns the X-Shopify-Event-Id."""
        body = encode_body(payload)
        event_id = str(uuid.uuid4())
        triggered_at = _triggered_at(triggered)
        with self._cond:
            self.stats["published"] += 1
            self.events.append(
                {
                    "event_id": event_id,
                    "topic": topic,
                    "triggered_at": triggered_at,
                    "payload": payload,
                }
            )
            now = time.monotonic()
            for subscription in self._targets:
                if not subscription.wants(topic):
                    continue
                low, high = subscription.delay_ms
                delay = self._rng.uniform(low, high)
                if self._rng.random() < subscription.reorder_rate:
                    # Held back long enough that events published after it overtake it.
                    delay += high + self._rng.uniform(high, 3 * high)
                self._enqueue(subscription, topic, body, event_id, triggered_at, now + delay / 1000)
                if self._rng.random() < subscription.duplicate_rate:
                    extra = self._rng.uniform(low, high) + high
                    self._enqueue(
                        subscription,
                        topic,
                        body,
                        event_id,
                        triggered_at,
                        now + (delay + extra) / 1000,
                        duplicate=True,
                    )
            self._wake()
        return event_id

    def _enqueue(self, subscription, topic, body, event_id, triggered_at, due, duplicate=False):
        self._push(
            WebhookDelivery(
                due=due,
                seq=next(self._seq),
                target=subscription,
                topic=topic,
                body=body,
                event_id=event_id,
                webhook_id=str(uuid.uuid4()),
                triggered_at=triggered_at,
                duplicate=duplicate,
            )
        )

    # delivery ------------------------------------------------------------------------------
    def _headers(self, delivery: WebhookDelivery) -> dict[str, str]:
        subscription = delivery.target
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Shopify-Captain-Hook",
            "X-Shopify-Topic": delivery.topic,
            "X-Shopify-Hmac-Sha256": sign(subscription.secret, delivery.body),
            "X-Shopify-Shop-Domain": self.shop_domain,
            "X-Shopify-API-Version": subscription.api_version,
            "X-Shopify-Webhook-Id": delivery.webhook_id,
            "X-Shopify-Event-Id": delivery.event_id,
            "X-Shopify-Triggered-At": delivery.triggered_at,
        }
        if subscription.name:
            headers["X-Shopify-Name"] = subscription.name
        return headers

    def _attempt_json(
        self, delivery: WebhookDelivery, status: int | None, error: str | None
    ) -> dict:
        return {
            "topic": delivery.topic,
            "event_id": delivery.event_id,
            "webhook_id": delivery.webhook_id,
            "attempt": delivery.attempt,
            "duplicate": delivery.duplicate,
            "status": status,
            "error": error,
            "url": delivery.target.url,
        }

    def _retry_in(self, delivery: WebhookDelivery, status: int | None) -> float | None:
        subscription = delivery.target
        if delivery.attempt > subscription.max_retries:
            return None
        # Shopify retries with exponential backoff (8 times over 4 h), compressed here.
        backoff = min(
            subscription.retry_max_ms,
            subscription.retry_base_ms * 2 ** (delivery.attempt - 1),
        )
        backoff *= self._rng.uniform(0.8, 1.2)
        return backoff / 1000

    def flush(self, timeout: float = 10.0) -> dict:
        """Deliver everything queued now, ignoring delays, and wait until it was attempted.

        Due-time order is kept, so reordered and duplicate deliveries still arrive the way the
        schedule says; retries of failing deliveries also run without their backoff.
        """
        with self._cond:
            pending = self._flush(timeout, everything=True)
            return {"flushed": pending == 0, "pending": pending, **self.stats}

    def pending(self) -> int:
        with self._cond:
            return len(self._queue) + self._in_flight
