"""The state every domain of the sandbox works on, its lifecycle, its time and its ids.

One re-entrant lock guards all state; an SP-API call holds it for its whole handling, so a
request sees and changes the account atomically.
"""

from __future__ import annotations

import itertools
import random
import threading
import uuid
from datetime import datetime
from typing import Any

from channels.sandbox.amazon import spec as spec_module
from channels.sandbox.amazon.clock import ManualClock, wall_time
from channels.sandbox.amazon.faults import FaultBook, RequestLog
from channels.sandbox.amazon.marketplaces import MARKETPLACES
from channels.sandbox.amazon.notifications import Dispatcher
from channels.sandbox.amazon.ratelimit import RateLimiter
from channels.sandbox.common.config import override
from channels.sandbox.common.errors import SandboxError

from .config import SandboxConfig
from .records import (
    Document,
    FbaStock,
    Feed,
    Listing,
    MerchantReturn,
    Order,
    Report,
    ReturnRow,
    Seller,
)
from .scheduler import Scheduler


class WorldBase:
    """The shared state; the domain mixins add the actions (see `model.AmazonSandbox`)."""

    def __init__(self, config: SandboxConfig | None = None, **overrides: Any) -> None:
        config = override(config or SandboxConfig(), overrides)
        config.__post_init__()
        self.config = config
        self.lock = threading.RLock()
        self.spec = spec_module.spec()
        self.faults = FaultBook()
        self.request_log = RequestLog()
        self.rate_limiter = RateLimiter(
            config.clock, scale=config.rate_scale, enabled=config.rate_limits
        )
        self.notifications = Dispatcher(
            config.clock,
            application_id=config.application_id,
            aws_account_id=config.aws_account_id,
            aws_region=config.aws_region,
            seed=config.seed,
        )
        self.scheduler = Scheduler(config.clock)
        self.buyers: Any = None
        # Ids keep counting across resets: the app under test dedupes on them in a database
        # that outlives a sandbox reset.
        self._ids = itertools.count(1)
        self._ticker_stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._reset_state()
        auto_tick = config.auto_tick
        if auto_tick is None:
            auto_tick = not isinstance(config.clock, ManualClock)
        if auto_tick:
            self._ticker = threading.Thread(
                target=self._tick_loop, name="amazon-sandbox-tick", daemon=True
            )
            self._ticker.start()

    def _reset_state(self) -> None:
        self.rng = random.Random(self.config.seed)
        self.sellers: dict[str, Seller] = {}
        self.access_tokens: dict[str, tuple[str, float]] = {}
        self.listings: dict[tuple[str, str, str], Listing] = {}
        self.fba: dict[tuple[str, str, str], FbaStock] = {}
        self.orders: dict[str, Order] = {}
        self.documents: dict[str, Document] = {}
        self.documents_by_token: dict[str, Document] = {}
        self.feeds: dict[str, Feed] = {}
        self.reports: dict[str, Report] = {}
        self.returns: list[ReturnRow] = []
        self.merchant_returns: list[MerchantReturn] = []
        self.submissions: list[dict] = []
        self.page_tokens: dict[str, dict] = {}
        self.channel_switches: list[dict] = []
        self.scheduler.clear()
        self.add_seller(self.config.default_seller_id, name="Sandbox seller")

    def reset(self) -> None:
        """Forget all state, faults, logs, subscriptions and buckets; keep the configuration."""
        self.stop_buyers()
        with self.lock:
            self._reset_state()
            self.faults.clear()
            self.request_log.clear()
            self.rate_limiter.reset()
            self.rate_limiter.configure(
                scale=self.config.rate_scale, enabled=self.config.rate_limits
            )
            self.notifications.clear(seed=self.config.seed)

    def close(self) -> None:
        self.stop_buyers()
        self._ticker_stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
        self.notifications.stop()

    def _tick_loop(self) -> None:
        while not self._ticker_stop.wait(0.05):
            self.tick()

    def now(self) -> datetime:
        # Whole seconds, like Amazon's timestamps: two changes within one second share a time.
        return wall_time(self.config.clock).replace(microsecond=0)

    def tick(self) -> int:
        """Run the delayed work that is due on the sandbox clock."""
        with self.lock:
            return self.scheduler.run_due()

    def advance(self, seconds: float) -> int:
        """Move a ManualClock forward and run what became due (feeds, patches, AFN shipments)."""
        clock = self.config.clock
        if not isinstance(clock, ManualClock):
            raise SandboxError("the sandbox runs on the real clock; start it with a ManualClock")
        ran = 0
        # Step through due times so that work scheduled by work (IN_PROGRESS -> DONE) runs too.
        target = clock() + seconds
        with self.lock:
            while True:
                upcoming = self.scheduler.next_due()
                if upcoming is not None and upcoming > target:
                    upcoming = None
                step_to = upcoming if upcoming is not None else target
                if step_to > clock():
                    clock.advance(step_to - clock())
                ran += self.scheduler.run_due()
                if upcoming is None:
                    break
        return ran

    def _number(self) -> int:
        return next(self._ids)

    def _order_id(self) -> str:
        n = self._number()
        return f"{111 + n % 800:03d}-{self.rng.randrange(10**7):07d}-{(n * 7919) % 10**7:07d}"

    def _order_item_id(self) -> str:
        # Unique across resets (the counter) but realistic-looking: 14 digits.
        return f"{self.rng.randrange(10**4, 10**5)}{self._number():09d}"

    def _asin(self, sku: str) -> str:
        return "B0" + uuid.uuid5(uuid.NAMESPACE_URL, f"asin:{sku}").hex[:8].upper()

    def _fn_sku(self, sku: str) -> str:
        return "X00" + uuid.uuid5(uuid.NAMESPACE_URL, f"fnsku:{sku}").hex[:7].upper()

    def _marketplace(self, marketplace_id: str) -> tuple[str, str, str, str, str]:
        info = MARKETPLACES.get(marketplace_id)
        if info is None:
            raise SandboxError(f"unknown marketplace {marketplace_id!r}")
        return info
