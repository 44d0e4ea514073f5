"""Signed webhook delivery with Shopify's at-least-once, unordered behaviour.

One background thread delivers in due-time order. Every random decision (delay, duplicate,
reorder, retry jitter) is drawn from a seeded RNG at publish time, so a given sequence of events
always produces the same delivery schedule. Ids (event, webhook) come from the OS so that they
stay unique across sandbox resets: the app dedupes on them in a database that outlives a reset.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import itertools
import json
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests

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


@dataclass(order=True)
class Delivery:
    due: float
    seq: int
    subscription: Subscription = field(compare=False)
    topic: str = field(compare=False)
    body: bytes = field(compare=False)
    event_id: str = field(compare=False)
    webhook_id: str = field(compare=False)
    triggered_at: str = field(compare=False)
    duplicate: bool = field(default=False, compare=False)
    attempt: int = field(default=0, compare=False)


def _triggered_at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class WebhookDispatcher:
    def __init__(
        self,
        shop_domain: str,
        seed: int = 0,
        post: Callable[..., Any] | None = None,
        history: int = 5000,
    ) -> None:
        self.shop_domain = shop_domain
        self._rng = random.Random(seed)
        self._post = post
        self._session: requests.Session | None = None
        self._subscriptions: list[Subscription] = []
        self._queue: list[Delivery] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._in_flight = 0
        self._hurry = 0
        self._running = False
        self._thread: threading.Thread | None = None
        self.events: deque[dict] = deque(maxlen=history)
        self.attempts: deque[dict] = deque(maxlen=history)
        self.stats = {"published": 0, "delivered": 0, "failed_attempts": 0, "given_up": 0}

    # configuration -------------------------------------------------------------------------
    def subscribe(
        self, subscription: Subscription, *, replace: bool = True, seed: int | None = None
    ):
        with self._cond:
            if replace:
                self._subscriptions = []
            self._subscriptions.append(subscription)
            if seed is not None:
                self._rng = random.Random(seed)
        return subscription

    @property
    def subscriptions(self) -> list[Subscription]:
        with self._cond:
            return list(self._subscriptions)

    def clear(self, seed: int = 0) -> None:
        """Forget subscriptions, pending deliveries and history (a sandbox reset)."""
        with self._cond:
            self._subscriptions = []
            self._queue = []
            self._rng = random.Random(seed)
            self.events.clear()
            self.attempts.clear()
            self.stats = dict.fromkeys(self.stats, 0)
            self._cond.notify_all()

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
            for subscription in self._subscriptions:
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
            if self._queue:
                self._ensure_thread()
                self._cond.notify_all()
        return event_id

    def _enqueue(self, subscription, topic, body, event_id, triggered_at, due, duplicate=False):
        heapq.heappush(
            self._queue,
            Delivery(
                due=due,
                seq=next(self._seq),
                subscription=subscription,
                topic=topic,
                body=body,
                event_id=event_id,
                webhook_id=str(uuid.uuid4()),
                triggered_at=triggered_at,
                duplicate=duplicate,
            ),
        )

    # delivery ------------------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._running = True
            self._thread = threading.Thread(
                target=self._run, name="shopify-sandbox-webhooks", daemon=True
            )
            self._thread.start()

    def _next_due(self) -> Delivery | None:
        with self._cond:
            while self._running:
                if self._queue:
                    wait = self._queue[0].due - time.monotonic()
                    if self._hurry or wait <= 0:
                        self._in_flight += 1
                        return heapq.heappop(self._queue)
                    self._cond.wait(wait)
                else:
                    self._cond.wait()
            return None

    def _run(self) -> None:
        while True:
            delivery = self._next_due()
            if delivery is None:
                return
            try:
                status, error = self._attempt(delivery)
            finally:
                with self._cond:
                    self._in_flight -= 1
            self._record(delivery, status, error)

    def _headers(self, delivery: Delivery) -> dict[str, str]:
        subscription = delivery.subscription
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

    def _attempt(self, delivery: Delivery) -> tuple[int | None, str | None]:
        delivery.attempt += 1
        headers = self._headers(delivery)
        try:
            if self._post is not None:
                status = self._post(delivery.subscription.url, delivery.body, headers)
            else:
                if self._session is None:
                    self._session = requests.Session()
                response = self._session.post(
                    delivery.subscription.url,
                    data=delivery.body,
                    headers=headers,
                    timeout=delivery.subscription.timeout_s,
                )
                status = response.status_code
        except Exception as exc:  # any transport failure counts as a failed attempt
            return None, f"{type(exc).__name__}: {exc}"
        return status, None

    def _record(self, delivery: Delivery, status: int | None, error: str | None) -> None:
        ok = status is not None and 200 <= status < 300
        with self._cond:
            self.attempts.append(
                {
                    "topic": delivery.topic,
                    "event_id": delivery.event_id,
                    "webhook_id": delivery.webhook_id,
                    "attempt": delivery.attempt,
                    "duplicate": delivery.duplicate,
                    "status": status,
                    "error": error,
                    "url": delivery.subscription.url,
                }
            )
            if ok:
                self.stats["delivered"] += 1
            else:
                self.stats["failed_attempts"] += 1
                subscription = delivery.subscription
                # A reset or a new subscription drops retries meant for the old endpoint.
                still_subscribed = any(s is subscription for s in self._subscriptions)
                if still_subscribed and delivery.attempt <= subscription.max_retries:
                    # Shopify retries with exponential backoff (8 times over 4 h), compressed here.
                    backoff = min(
                        subscription.retry_max_ms,
                        subscription.retry_base_ms * 2 ** (delivery.attempt - 1),
                    )
                    backoff *= self._rng.uniform(0.8, 1.2)
                    delivery.due = time.monotonic() + backoff / 1000
                    delivery.seq = next(self._seq)
                    heapq.heappush(self._queue, delivery)
                else:
                    self.stats["given_up"] += 1
            self._cond.notify_all()

    def flush(self, timeout: float = 10.0) -> dict:
        """Deliver everything queued now, ignoring delays, and wait until it was attempted.

        Due-time order is kept, so reordered and duplicate deliveries still arrive the way the
        schedule says; retries of failing deliveries also run without their backoff.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            self._hurry += 1
            self._cond.notify_all()
            try:
                while self._queue or self._in_flight:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                pending = len(self._queue) + self._in_flight
            finally:
                self._hurry -= 1
            return {"flushed": pending == 0, "pending": pending, **self.stats}

    def pending(self) -> int:
        with self._cond:
            return len(self._queue) + self._in_flight

    def stop(self) -> None:
        with self._cond:
            self._running = False
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._session is not None:
            self._session.close()
