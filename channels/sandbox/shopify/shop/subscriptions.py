"""Webhook subscriptions: where the shop's topics are delivered, and waiting for them."""

from __future__ import annotations

from collections.abc import Iterable

from channels.sandbox.shopify.webhooks import Subscription

from .base import ShopBase


class SubscriptionsMixin(ShopBase):
    def subscribe_webhooks(
        self,
        url: str,
        secret: str,
        *,
        api_version: str | None = None,
        topics: Iterable[str] | None = None,
        name: str | None = None,
        duplicate_rate: float = 0.0,
        reorder_rate: float = 0.0,
        delay_ms: tuple[float, float] | list[float] = (2.0, 100.0),
        max_retries: int = 8,
        retry_base_ms: float = 50.0,
        retry_max_ms: float = 2000.0,
        timeout_s: float = 5.0,
        seed: int | None = None,
        replace: bool = True,
    ) -> Subscription:
        low, high = (float(x) for x in delay_ms)
        subscription = Subscription(
            url=url,
            secret=secret,
            api_version=api_version or self.config.api_version,
            topics=frozenset(topics) if topics is not None else None,
            name=name,
            duplicate_rate=float(duplicate_rate),
            reorder_rate=float(reorder_rate),
            delay_ms=(low, max(low, high)),
            max_retries=int(max_retries),
            retry_base_ms=float(retry_base_ms),
            retry_max_ms=float(retry_max_ms),
            timeout_s=float(timeout_s),
        )
        return self.webhooks.subscribe(subscription, replace=replace, seed=seed)

    def flush_webhooks(self, timeout: float = 10.0) -> dict:
        return self.webhooks.flush(timeout)
