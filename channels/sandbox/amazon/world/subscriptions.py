"""Notification subscriptions: what the account publishes and where it is delivered."""

from __future__ import annotations

from typing import Any

from channels.sandbox.amazon.clock import wall_time
from channels.sandbox.amazon.notifications import Destination

from .base import WorldBase


class SubscriptionsMixin(WorldBase):
    def subscribe_notifications(self, url: str, **options: Any) -> dict:
        """Deliver notifications to `url` the way an EventBridge API destination would.
        Options: envelope ("eventbridge" | "raw"), api_key_header, api_key,
        notification_types, delay_s, late_rate, late_delay_s, duplicate_rate, reorder_rate,
        drop_rate, max_retries, retry_base_s, timeout_s, seed, replace (default True)."""
        seed = options.pop("seed", None)
        replace = options.pop("replace", True)
        types = options.pop("notification_types", None)
        for key in ("delay_s", "late_delay_s"):
            if key in options:
                options[key] = tuple(options[key])
        destination = Destination(
            url=url,
            notification_types=frozenset(types) if types is not None else None,
            **options,
        )
        self.notifications.subscribe(destination, replace=replace, seed=seed)
        return destination.as_json()

    def _publish(self, notification_type: str, payload: dict) -> None:
        drop = self.faults.take_one("drop_notification", (notification_type,)) is not None
        self.notifications.publish(
            notification_type, payload, moment=wall_time(self.config.clock), drop=drop
        )

    def flush(self, timeout: float = 10.0, *, everything: bool = False) -> dict:
        """Run due work, then deliver every notification due now and wait (see Dispatcher)."""
        self.tick()
        return self.notifications.flush(timeout, everything=everything)
