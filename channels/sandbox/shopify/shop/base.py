"""The state every domain of the shop works on, its lifecycle, its clock and its ids.

One re-entrant lock guards all state; the GraphQL layer holds it for a whole document so a
request sees and changes the shop atomically, like one Shopify transaction.
"""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime
from typing import Any

from channels.sandbox.common.config import override
from channels.sandbox.shopify import payloads
from channels.sandbox.shopify.faults import FaultBook, RequestLog
from channels.sandbox.shopify.throttle import CostBucket
from channels.sandbox.shopify.webhooks import WebhookDispatcher

from .config import SandboxConfig
from .records import IdempotentRecord, InventoryItem, Level, Location, Order, Product, Variant

# Realistic-looking numeric ids, all below 2**53 so JavaScript clients do not round them.
TRANSACTIONAL_KINDS = frozenset(
    {
        "order",
        "line_item",
        "fulfillment_order",
        "fulfillment_order_line",
        "fulfillment",
        "fulfillment_line",
        "refund",
        "refund_line",
    }
)
ID_BASES = {
    "product": 8_100_000_000_000,
    "variant": 45_100_000_000_000,
    "inventory_item": 47_100_000_000_000,
    "location": 71_000_000_000,
    "order": 6_100_000_000_000,
    "line_item": 15_100_000_000_000,
    "fulfillment_order": 7_100_000_000_000,
    "fulfillment_order_line": 16_100_000_000_000,
    "fulfillment": 5_600_000_000_000,
    "fulfillment_line": 12_100_000_000_000,
    "refund": 9_100_000_000_000,
    "refund_line": 9_600_000_000_000,
    "transaction": 8_600_000_000_000,
    "adjustment_group": 97_854_000_000,
    "order_edit": 78_900_000_000,
    "job": 3_300_000_000,
}


class ShopBase:
    """The shared state; the domain mixins add the actions (see `model.ShopifySandbox`)."""

    def __init__(self, config: SandboxConfig | None = None, **overrides: Any) -> None:
        config = override(config or SandboxConfig(), overrides)
        self.config = config
        self.lock = threading.RLock()
        self.bucket = CostBucket(config.bucket_size, config.restore_rate, config.clock)
        self.webhooks = WebhookDispatcher(config.shop_domain, seed=config.seed)
        self.faults = FaultBook()
        self.request_log = RequestLog()
        # Ids keep counting across resets: the app's database outlives a sandbox reset and must
        # never see an order id or number come back.
        self._ids = {
            kind: itertools.count(
                base + 1 + (config.order_id_offset if kind in TRANSACTIONAL_KINDS else 0)
            )
            for kind, base in ID_BASES.items()
        }
        self._order_numbers = itertools.count(1)
        self.shoppers = None
        self._clear_state()

    def _clear_state(self) -> None:
        self.locations: dict[int, Location] = {}
        self.products: dict[int, Product] = {}
        self.variants: dict[int, Variant] = {}
        self.items: dict[int, InventoryItem] = {}
        self.levels: dict[tuple[int, int], Level] = {}
        self.orders: dict[int, Order] = {}
        self.adjustment_groups: dict[int, dict] = {}
        self.idempotency: dict[str, IdempotentRecord] = {}
        self.jobs: dict[int, dict] = {}
        self.add_location(self.config.default_location, primary=True)

    def reset(self) -> None:
        """Empty shop with one primary location; faults, logs, webhooks and bucket reset too."""
        self.stop_shoppers()
        with self.lock:
            self._clear_state()
            self.faults.clear()
            self.request_log.clear()
            self.webhooks.clear(seed=self.config.seed)
            self.bucket.fill()

    def close(self) -> None:
        self.stop_shoppers()
        self.webhooks.stop()

    def next_id(self, kind: str) -> int:
        return next(self._ids[kind])

    def now(self) -> datetime:
        # Shopify stores whole seconds: two changes in one second share a timestamp, so a
        # client polling with `updated_at:>` must overlap its window.
        return self.config.now().astimezone(UTC).replace(microsecond=0)

    def _emit(self, topic: str, payload: dict, moment: datetime) -> str:
        return self.webhooks.publish(topic, payload, moment)

    def _emit_level(self, level: Level, moment: datetime) -> None:
        self._emit(
            "inventory_levels/update",
            payloads.inventory_level_payload(
                level.item_id, level.location_id, level.quantity("available"), moment
            ),
            moment,
        )
