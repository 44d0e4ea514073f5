"""SP-API buckets shared through Redis: one per (seller, operation) sized from the usage plan,
re-tuned to a lower rate Amazon reports, emptied by a 429 for every worker, and the Shopify
default left as it was."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest

from channels.lanes.amazon import client as amazon
from channels.lanes.throttle import (
    DEFAULT_CAPACITY,
    DEFAULT_RESTORE_RATE,
    KEY_PREFIX,
    LocalThrottle,
    RedisThrottle,
    throttle_for,
)
from channels.sandbox.amazon import ManualClock, serve_in_thread
from tests.channels.lanes.conftest import REDIS_URL, FakeClock

US = "ATVPDKIKX0DER"


@pytest.fixture
def seller_key(redis_client):
    key = f"test-seller-{uuid.uuid4().hex[:8]}"
    yield key
    for name in redis_client.scan_iter(f"{KEY_PREFIX}amazon:{key}:*"):
        redis_client.delete(name)


def test_throttle_for_sizes_a_new_redis_bucket(redis_client, seller_key):
    clock = FakeClock()
    bucket = throttle_for(
        f"amazon:{seller_key}:op", redis_url=REDIS_URL, capacity=10, restore_rate=5
    )
    assert isinstance(bucket, RedisThrottle)
    bucket._clock = clock
    assert [bucket.acquire(1) for _ in range(10)] == [0.0] * 10
    assert bucket.acquire(1) == pytest.approx(0.2)


def test_throttle_for_without_sizes_keeps_the_shopify_bucket(settings, monkeypatch):
    settings.REDIS_URL = ""
    settings.CACHE_URL = ""
    monkeypatch.delenv("REDIS_URL", raising=False)
    bucket = throttle_for(f"shop-{uuid.uuid4().hex}.myshopify.com")
    assert isinstance(bucket, LocalThrottle)
    assert (bucket._capacity, bucket._rate) == (DEFAULT_CAPACITY, DEFAULT_RESTORE_RATE)


@pytest.mark.parametrize("kind", ["redis", "local"])
def test_retune_keeps_the_level_and_changes_the_rate(kind, redis_client, seller_key):
    clock = FakeClock()
    if kind == "redis":
        bucket: Any = RedisThrottle(
            redis_client, f"{KEY_PREFIX}amazon:{seller_key}:op", 10, 5.0, clock=clock
        )
    else:
        bucket = LocalThrottle(10, 5.0, clock=clock)
    for _ in range(10):
        bucket.acquire(1)
    bucket.retune(10, 1.0)
    assert bucket.acquire(1) == pytest.approx(1.0)
    clock.now += 3
    assert bucket.available == pytest.approx(3.0)


def test_two_workers_share_each_operations_bucket_through_redis(redis_client, seller_key):
    # given the sandbox with its usage plans and two clients of one seller (two workers), whose
    # buckets live in Redis on one fake time that also drives the sandbox's clock
    handle = serve_in_thread(clock=ManualClock())
    try:
        sandbox = handle.sandbox
        clock = FakeClock()
        sleeps: list[float] = []

        def sleep(seconds: float) -> None:
            sleeps.append(seconds)
            clock.now += seconds
            sandbox.advance(seconds)

        def factory(key: str, capacity: float, rate: float) -> RedisThrottle:
            return RedisThrottle(redis_client, KEY_PREFIX + key, capacity, rate, clock=clock)

        def worker() -> amazon.AmazonClient:
            return amazon.AmazonClient(
                endpoint=handle.url,
                token_url=handle.token_url,
                credentials=amazon.credentials_from(handle.credentials()),
                seller_id=handle.seller_id,
                marketplace_id=US,
                region_key=seller_key,
                throttle_factory=factory,
                sleep=sleep,
                rng=random.Random(5),
            )

        sandbox.add_listing("FBA-1", channel="AFN", fba={"fulfillable": 1})
        first, second = worker(), worker()
        # when the first spends getInventorySummaries' burst of 2
        list(first.inventory_summaries(skus=["FBA-1"]))
        list(first.inventory_summaries(skus=["FBA-1"]))
        assert sleeps == []
        # then the second waits for the shared bucket instead of collecting a 429
        list(second.inventory_summaries(skus=["FBA-1"]))
        assert sleeps == [pytest.approx(0.5)]
        # and another operation has its own bucket
        second.get_listing("FBA-1")
        assert len(sleeps) == 1
        assert all(e["status"] == 200 for e in sandbox.requests())

        # when Amazon answers 429 to one worker
        sandbox.throttle("getListingsItem", count=1)
        first.get_listing("FBA-1")
        # then the shared bucket was emptied for every worker: what it holds now is only what
        # refilled during the wait, less the retry (without the drain it would hold 8 + more)
        wait = sleeps[-1]
        assert wait >= 1 / 5
        bucket = factory(f"amazon:{seller_key}:getListingsItem", 10, 5.0)
        assert bucket.available == pytest.approx(wait * 5.0 - 1)
    finally:
        handle.stop()
