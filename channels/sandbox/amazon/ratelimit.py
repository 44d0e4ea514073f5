"""SP-API usage plans: a token bucket per (selling partner, operation).

Rates and bursts come from `data/usage_plans.json`, which is generated from the "Usage Plan"
tables of the official models. Each request spends one token; tokens refill at `rate` per second
up to `burst` (https://developer-docs.amazon.com/sp-api/docs/usage-plans-and-rate-limits).
`scale` multiplies every rate so a test suite can run at 10x without changing the shape of the
limits; the `x-amzn-RateLimit-Limit` header then reports the scaled rate, which is what a client
pacing itself by that header needs.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

from .clock import Clock

USAGE_PLANS = Path(__file__).with_name("data") / "usage_plans.json"


@dataclass(frozen=True)
class UsagePlan:
    rate: float
    burst: int


# Per feed type, on top of createFeed's plan: 5 JSON_LISTINGS_FEED submissions per 5 minutes per
# region (changelog 2025-05-06, "update feed size and rate limit changes").
FEED_TYPE_QUOTAS = {"JSON_LISTINGS_FEED": UsagePlan(5 / 300, 5)}


def load_usage_plans(path: Path = USAGE_PLANS) -> dict[str, UsagePlan]:
    """`<model>.<operationId>` -> plan, for every operation whose model states one."""
    document = json.loads(path.read_text(encoding="utf-8"))
    plans: dict[str, UsagePlan] = {}
    for entry in document["operations"]:
        if entry.get("rate") is None or entry.get("burst") is None:
            continue
        model = entry["model"].removesuffix(".json")
        plans[f"{model}.{entry['operationId']}"] = UsagePlan(
            float(entry["rate"]), int(entry["burst"])
        )
    return plans


def format_rate(rate: float) -> str:
    # Amazon sends "5.0", "0.0167": the shortest decimal that round-trips.
    return repr(float(round(rate, 6)))


class TokenBucket:
    def __init__(self, rate: float, burst: int, clock: Clock) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._stamp)
        self._stamp = now
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)

    def try_take(self) -> bool:
        self._refill()
        # A hair of tolerance: 0.2 s at 5/s must make a whole token despite float sums.
        if self._tokens >= 1.0 - 1e-9:
            self._tokens = max(0.0, self._tokens - 1.0)
            return True
        return False

    def available(self) -> float:
        self._refill()
        return self._tokens

    def drain(self) -> None:
        self._refill()
        self._tokens = 0.0


class RateLimiter:
    """Buckets are created on first use, full, like a fresh selling partner + application pair."""

    def __init__(self, clock: Clock, *, scale: float = 1.0, enabled: bool = True) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.scale = scale
        self.enabled = enabled
        self.plans = load_usage_plans()
        self.overrides: dict[str, UsagePlan] = {}
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    def plan(self, operation_key: str) -> UsagePlan | None:
        plan = self.overrides.get(operation_key) or self.plans.get(operation_key)
        if plan is None:
            return None
        return UsagePlan(plan.rate * self.scale, plan.burst)

    def rate_header(self, operation_key: str) -> str | None:
        plan = self.plan(operation_key)
        return format_rate(plan.rate) if plan else None

    def try_acquire(self, seller_id: str, operation_key: str) -> bool:
        if not self.enabled:
            return True
        plan = self.plan(operation_key)
        return plan is None or self._take(seller_id, operation_key, plan)

    def try_acquire_feed(self, seller_id: str, feed_type: str) -> bool:
        """One submission of `feed_type` against its own quota, if it has one."""
        quota = FEED_TYPE_QUOTAS.get(feed_type)
        if not self.enabled or quota is None:
            return True
        plan = UsagePlan(quota.rate * self.scale, quota.burst)
        return self._take(seller_id, f"feedType:{feed_type}", plan)

    def _take(self, seller_id: str, name: str, plan: UsagePlan) -> bool:
        with self._lock:
            key = (seller_id, name)
            bucket = self._buckets.get(key)
            if bucket is None or bucket.rate != plan.rate or bucket.burst != plan.burst:
                bucket = TokenBucket(plan.rate, plan.burst, self._clock)
                self._buckets[key] = bucket
            return bucket.try_take()

    def configure(
        self,
        *,
        scale: float | None = None,
        enabled: bool | None = None,
        operation: str | None = None,
        rate: float | None = None,
        burst: int | None = None,
    ) -> None:
        with self._lock:
            if scale is not None:
                self.scale = float(scale)
            if enabled is not None:
                self.enabled = bool(enabled)
            if operation is not None:
                base = self.overrides.get(operation) or self.plans.get(operation)
                if base is None and (rate is None or burst is None):
                    raise KeyError(f"no usage plan for {operation!r}; give rate and burst")
                self.overrides[operation] = UsagePlan(
                    float(rate if rate is not None else base.rate),  # type: ignore[union-attr]
                    int(burst if burst is not None else base.burst),  # type: ignore[union-attr]
                )
            self._buckets.clear()

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
            self.overrides.clear()

    def status(self, seller_id: str | None = None) -> list[dict]:
        with self._lock:
            return [
                {
                    "seller_id": seller,
                    "operation": operation,
                    "rate": bucket.rate,
                    "burst": bucket.burst,
                    "available": round(bucket.available(), 3),
                }
                for (seller, operation), bucket in sorted(self._buckets.items())
                if seller_id is None or seller == seller_id
            ]
