"""SP-API usage plans and the rate-limit buckets built from them.

Each (seller or `region_key`, operation) has a token bucket sized from the operation's usage
plan (burst = capacity, rate = refill per second), held in Redis by `channels.lanes.throttle` so
every worker shares it (a process-local bucket without Redis). An answer whose
`x-amzn-RateLimit-Limit` is lower than the table's rate re-tunes the shared bucket to it (never
above the table); a 429 empties it for every worker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from channels.lanes.throttle import Throttle, ThrottleStatus

JSON_LISTINGS_FEED = "JSON_LISTINGS_FEED"
# Submission quotas per feed type, on top of createFeed's usage plan (burst, refill per second):
# 5 JSON_LISTINGS_FEED submissions per 5 minutes per region, however much createFeed budget is
# left. Shared through the same buckets as the usage plans.
FEED_TYPE_QUOTAS: dict[str, tuple[int, float]] = {JSON_LISTINGS_FEED: (5, 5 / 300)}

ThrottleFactory = Callable[[str, float, float], Throttle]


# Generated from contracts/amazon/usage_plans.json, Amazon's model descriptions.


@dataclass(frozen=True, slots=True)
class UsagePlan:
    operation: str  # our name for the operation (operationId; getOrder is the 2026-01-01 one)
    model: str
    method: str
    path: str
    rate: float  # requests per second (token refill)
    burst: int  # bucket size
    success_status: int
    write: bool  # changes something at Amazon: a doubtful 2xx is not sent again


def _plan(
    operation: str,
    model: str,
    method: str,
    path: str,
    rate: float,
    burst: int,
    success: int,
    write: bool = False,
) -> UsagePlan:
    return UsagePlan(operation, model, method, path, rate, burst, success, write)


USAGE_PLANS: dict[str, UsagePlan] = {
    p.operation: p
    for p in (
        _plan(
            "getListingsItem",
            "listingsItems_2021-08-01",
            "GET",
            "/listings/2021-08-01/items/{sellerId}/{sku}",
            5.0,
            10,
            200,
        ),
        _plan(
            "patchListingsItem",
            "listingsItems_2021-08-01",
            "PATCH",
            "/listings/2021-08-01/items/{sellerId}/{sku}",
            5.0,
            5,
            200,
            write=True,
        ),
        _plan(
            "searchListingsItems",
            "listingsItems_2021-08-01",
            "GET",
            "/listings/2021-08-01/items/{sellerId}",
            5.0,
            5,
            200,
        ),
        _plan(
            "createFeedDocument",
            "feeds_2021-06-30",
            "POST",
            "/feeds/2021-06-30/documents",
            0.5,
            15,
            201,
            write=True,
        ),
        _plan(
            "createFeed",
            "feeds_2021-06-30",
            "POST",
            "/feeds/2021-06-30/feeds",
            0.0083,
            15,
            202,
            write=True,
        ),
        _plan(
            "getFeed", "feeds_2021-06-30", "GET", "/feeds/2021-06-30/feeds/{feedId}", 2.0, 15, 200
        ),
        _plan(
            "getFeedDocument",
            "feeds_2021-06-30",
            "GET",
            "/feeds/2021-06-30/documents/{feedDocumentId}",
            0.0222,
            10,
            200,
        ),
        _plan(
            "searchOrders", "orders_2026-01-01", "GET", "/orders/2026-01-01/orders", 0.0056, 20, 200
        ),
        _plan(
            "getOrder",
            "orders_2026-01-01",
            "GET",
            "/orders/2026-01-01/orders/{orderId}",
            0.5,
            30,
            200,
        ),
        _plan(
            "confirmShipment",
            "ordersV0",
            "POST",
            "/orders/v0/orders/{orderId}/shipmentConfirmation",
            2.0,
            10,
            204,
            write=True,
        ),
        _plan(
            "getInventorySummaries",
            "fbaInventory",
            "GET",
            "/fba/inventory/v1/summaries",
            2.0,
            2,
            200,
        ),
        _plan(
            "createReport",
            "reports_2021-06-30",
            "POST",
            "/reports/2021-06-30/reports",
            0.0167,
            15,
            202,
            write=True,
        ),
        _plan(
            "getReport",
            "reports_2021-06-30",
            "GET",
            "/reports/2021-06-30/reports/{reportId}",
            2.0,
            15,
            200,
        ),
        _plan(
            "getReportDocument",
            "reports_2021-06-30",
            "GET",
            "/reports/2021-06-30/documents/{reportDocumentId}",
            0.0167,
            15,
            200,
        ),
    )
}


def level(bucket: Throttle) -> float:
    """What a bucket holds now (unbounded for one that cannot tell, such as NoThrottle)."""
    available = getattr(bucket, "available", None)
    return float(available) if available is not None else float("inf")


def _empty(bucket: Throttle, burst: int, rate: float) -> None:
    bucket.observe(
        ThrottleStatus(maximum_available=float(burst), currently_available=0.0, restore_rate=rate)
    )


class RateBuckets:
    """The buckets every worker of one seller (and region) shares: one per operation, sized
    from its usage plan, and one per feed type's submission quota. `key` names them in Redis;
    `factory(key, capacity, rate)` builds one."""

    def __init__(self, key: str, factory: ThrottleFactory) -> None:
        self.key = key
        self._factory = factory
        self._buckets: dict[str, Throttle] = {}
        self._rates: dict[str, float] = {}

    def rate(self, operation: str) -> float:
        """Requests per second we allow ourselves for `operation` now."""
        return self._rates.get(operation, USAGE_PLANS[operation].rate)

    def bucket(self, operation: str) -> Throttle:
        return self._shared(operation, USAGE_PLANS[operation].burst, self.rate(operation))

    def feed_quota(self, feed_type: str) -> Throttle:
        burst, rate = FEED_TYPE_QUOTAS[feed_type]
        return self._shared(f"feedType:{feed_type}", burst, rate)

    def _shared(self, name: str, burst: int, rate: float) -> Throttle:
        """The bucket every worker of this seller and region shares for `name`."""
        bucket = self._buckets.get(name)
        if bucket is None:
            key = f"amazon:{self.key}:{name}"
            bucket = self._buckets[name] = self._factory(key, float(burst), rate)
        return bucket

    def observe_rate_limit(self, operation: str, header: str | None) -> None:
        if not header:
            return
        try:
            reported = float(header)
        except ValueError:
            return
        if reported <= 0:
            return
        plan = USAGE_PLANS[operation]
        # Amazon's number wins when it is lower than the table; never go above the table.
        effective = min(plan.rate, reported)
        if abs(effective - self.rate(operation)) < 1e-9:
            return
        self._rates[operation] = effective
        retune = getattr(self.bucket(operation), "retune", None)
        if retune is not None:
            retune(float(plan.burst), effective)

    def drain(self, operation: str) -> None:
        # Amazon says its bucket is empty: tell every worker sharing ours.
        _empty(self.bucket(operation), USAGE_PLANS[operation].burst, self.rate(operation))
        if operation == "createFeed":
            # Which limit refused it, the usage plan's or a feed type's, is not said: both are
            # taken as spent.
            for feed_type, (burst, rate) in FEED_TYPE_QUOTAS.items():
                _empty(self.feed_quota(feed_type), burst, rate)
