"""Cost-based leaky bucket for a channel's API budget, shared by every worker of one shop.

Shopify's Admin GraphQL API debits each query's requested cost from a per-shop bucket that
refills at a fixed rate (2 000 points, 100/s on a standard plan). Every answer reports the
bucket as Shopify sees it, so the local estimate only has to be good between answers: it stops
a fleet of workers from all firing at an empty bucket and collecting THROTTLED answers.

Three implementations share one interface:

- `RedisThrottle`: the production bucket; one Redis hash per shop, mutated only by one Lua
  script so a check-and-reserve is atomic across processes and machines.
- `LocalThrottle`: the same arithmetic behind a process-local lock (demo on SQLite, no Redis).
- `NoThrottle`: never waits; the client still honours Shopify's THROTTLED answers.

The Amazon SP-API client uses the same buckets with a cost of 1 per request: one bucket per
(seller, operation), sized from the operation's usage plan (`capacity` = burst, `restore_rate`
= rate) and re-tuned with `retune()` when Amazon reports a lower rate.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

DEFAULT_CAPACITY = 2000.0
DEFAULT_RESTORE_RATE = 100.0
KEY_PREFIX = "inventory-sync:throttle:"
# Refill arithmetic leaves float residue (14.999999 for 15): a reservation that short by less
# than this is granted rather than answered with a microsecond wait.
EPSILON = 1e-6


@dataclass(frozen=True, slots=True)
class ThrottleStatus:
    """Shopify's `extensions.cost.throttleStatus`."""

    maximum_available: float
    currently_available: float
    restore_rate: float

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> ThrottleStatus | None:
        if not raw:
            return None
        try:
            return cls(
                maximum_available=float(raw["maximumAvailable"]),
                currently_available=float(raw["currentlyAvailable"]),
                restore_rate=float(raw["restoreRate"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


class Throttle(Protocol):
    def acquire(self, cost: float) -> float:
        """Reserve `cost` points and return 0, or return the seconds to wait (nothing reserved)."""

    def observe(self, status: ThrottleStatus) -> None:
        """Adopt the bucket Shopify reported: it is the authority, our estimate only fills gaps."""

    def refund(self, requested: float, actual: float) -> None:
        """Give back what was reserved but not spent (an answer without a throttle status)."""


class NoThrottle:
    def acquire(self, cost: float) -> float:
        return 0.0

    def observe(self, status: ThrottleStatus) -> None:
        return None

    def refund(self, requested: float, actual: float) -> None:
        return None

    def retune(self, capacity: float, restore_rate: float) -> None:
        return None


class LocalThrottle:
    """Process-local bucket with the same arithmetic as the Redis script."""

    def __init__(
        self,
        capacity: float = DEFAULT_CAPACITY,
        restore_rate: float = DEFAULT_RESTORE_RATE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._capacity = float(capacity)
        self._rate = float(restore_rate)
        self._clock = clock
        self._level = float(capacity)
        self._ts = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        # A clock that steps backwards must not mint points.
        if now > self._ts:
            self._level = min(self._capacity, self._level + (now - self._ts) * self._rate)
            self._ts = now

    def acquire(self, cost: float) -> float:
        with self._lock:
            self._refill()
            # A query dearer than the whole bucket would otherwise wait forever.
            cost = min(float(cost), self._capacity)
            if self._level + EPSILON >= cost:
                self._level = max(0.0, self._level - cost)
                return 0.0
            return (cost - self._level) / self._rate

    def observe(self, status: ThrottleStatus) -> None:
        with self._lock:
            self._capacity = status.maximum_available
            self._rate = status.restore_rate
            self._level = min(status.currently_available, status.maximum_available)
            self._ts = max(self._ts, self._clock())

    def refund(self, requested: float, actual: float) -> None:
        with self._lock:
            self._refill()
            self._level = min(self._capacity, self._level + max(0.0, requested - actual))

    def retune(self, capacity: float, restore_rate: float) -> None:
        """Change the bucket's size and refill rate, keeping what it holds (capped)."""
        with self._lock:
            self._refill()
            self._capacity = float(capacity)
            self._rate = float(restore_rate)
            self._level = min(self._level, self._capacity)

    @property
    def available(self) -> float:
        with self._lock:
            self._refill()
            return self._level


# One script for the three operations keeps the refill arithmetic in exactly one place.
# State: hash {level, cap, rate, ts}. Numbers are returned as strings because Redis truncates a
# Lua number reply to an integer.
_LUA = """
local key = KEYS[1]
local op = ARGV[1]
local now = tonumber(ARGV[2])
local default_cap = tonumber(ARGV[3])
local default_rate = tonumber(ARGV[4])
local epsilon = tonumber(ARGV[8])
local a = tonumber(ARGV[5])
local b = tonumber(ARGV[6])

local state = redis.call('HMGET', key, 'level', 'cap', 'rate', 'ts')
local cap = tonumber(state[2]) or default_cap
local rate = tonumber(state[3]) or default_rate
local level = tonumber(state[1]) or cap
local ts = tonumber(state[4]) or now

-- Workers on different machines disagree about the time; never let an earlier clock mint points
-- or move the reference point backwards.
if now > ts then
  level = math.min(cap, level + (now - ts) * rate)
  ts = now
end

local reply = '0'
if op == 'acquire' then
  local cost = math.min(a, cap)
  if level + epsilon >= cost then
    level = math.max(0, level - cost)
  else
    reply = string.format('%.17g', (cost - level) / rate)
  end
elseif op == 'observe' then
  cap = b
  rate = tonumber(ARGV[7])
  level = math.min(a, cap)
elseif op == 'refund' then
  level = math.min(cap, level + math.max(0, a - b))
elseif op == 'retune' then
  cap = a
  rate = b
  level = math.min(level, cap)
elseif op == 'peek' then
  reply = string.format('%.17g', level)
end

redis.call('HSET', key, 'level', string.format('%.17g', level), 'cap', string.format('%.17g', cap),
  'rate', string.format('%.17g', rate), 'ts', string.format('%.17g', ts))
-- Once the bucket would have refilled completely the state carries no information.
redis.call('EXPIRE', key, math.ceil(cap / rate) + 60)
return reply
"""


class RedisThrottle:
    """The shared bucket for one shop; safe across processes and machines."""

    def __init__(
        self,
        redis_client: Any,
        key: str,
        capacity: float = DEFAULT_CAPACITY,
        restore_rate: float = DEFAULT_RESTORE_RATE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key
        self._capacity = float(capacity)
        self._rate = float(restore_rate)
        self._clock = clock
        self._script = redis_client.register_script(_LUA)

    def _call(self, op: str, a: float = 0.0, b: float = 0.0, c: float = 0.0) -> float:
        reply = self._script(
            keys=[self._key],
            args=[
                op,
                repr(self._clock()),
                repr(self._capacity),
                repr(self._rate),
                repr(float(a)),
                repr(float(b)),
                repr(float(c)),
                repr(EPSILON),
            ],
        )
        return float(reply.decode() if isinstance(reply, bytes) else reply)

    def acquire(self, cost: float) -> float:
        return self._call("acquire", float(cost))

    def observe(self, status: ThrottleStatus) -> None:
        self._call(
            "observe",
            status.currently_available,
            status.maximum_available,
            status.restore_rate,
        )

    def refund(self, requested: float, actual: float) -> None:
        self._call("refund", float(requested), float(actual))

    def retune(self, capacity: float, restore_rate: float) -> None:
        """Change the shared bucket's size and refill rate, keeping what it holds (capped)."""
        self._capacity = float(capacity)
        self._rate = float(restore_rate)
        self._call("retune", self._capacity, self._rate)

    @property
    def available(self) -> float:
        return self._call("peek")


_local_throttles: dict[str, LocalThrottle] = {}
_redis_clients: dict[str, Any] = {}
_registry_lock = threading.Lock()


def _redis_url() -> str | None:
    try:
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured
    except ImportError:
        settings = None
    if settings is not None:
        try:
            for name in ("REDIS_URL", "CACHE_URL"):
                value = getattr(settings, name, "") or ""
                if value.startswith(("redis://", "rediss://", "unix://")):
                    return value
        except ImproperlyConfigured:  # a bare script without Django settings: use the env
            pass
    value = os.environ.get("REDIS_URL", "")
    return value or None


def throttle_for(
    shop_key: str,
    *,
    redis_url: str | None = None,
    capacity: float | None = None,
    restore_rate: float | None = None,
) -> Throttle:
    """The bucket for one shop: shared through Redis when one is configured, else per process.

    `shop_key` should name the shop (its myshopify domain), not the channel row: two channels
    on one shop share Shopify's bucket.

    `capacity` and `restore_rate` size a new bucket (Shopify's 2000 points at 100/s when left
    out). Other channels use them for their own buckets, e.g. one per SP-API operation; a
    bucket that already exists (in Redis or in this process) keeps its state.
    """
    size = DEFAULT_CAPACITY if capacity is None else float(capacity)
    rate = DEFAULT_RESTORE_RATE if restore_rate is None else float(restore_rate)
    url = redis_url or _redis_url()
    with _registry_lock:
        if url:
            client = _redis_clients.get(url)
            if client is None:
                import redis

                client = redis.Redis.from_url(url)
                _redis_clients[url] = client
            return RedisThrottle(client, KEY_PREFIX + shop_key, capacity=size, restore_rate=rate)
        throttle = _local_throttles.get(shop_key)
        if throttle is None:
            throttle = _local_throttles[shop_key] = LocalThrottle(size, rate)
        return throttle
