"""The shared cost bucket: RedisThrottle against a real Redis, LocalThrottle, the factory."""

from __future__ import annotations

import threading
import uuid

import pytest

from channels.lanes import throttle as throttle_module
from channels.lanes.throttle import (
    LocalThrottle,
    RedisThrottle,
    ThrottleStatus,
    throttle_for,
)
from tests.channels.lanes.conftest import REDIS_URL, FakeClock


@pytest.fixture
def key(redis_client):
    name = f"test:throttle:{uuid.uuid4()}"
    yield name
    redis_client.delete(name)


@pytest.fixture(params=["redis", "local"])
def bucket_factory(request):
    """Build buckets of either kind over one shared clock; redis ones share one key."""
    clock = FakeClock()
    if request.param == "redis":
        client = request.getfixturevalue("redis_client")
        name = request.getfixturevalue("key")

        def make(capacity=100.0, rate=10.0):
            return RedisThrottle(client, name, capacity=capacity, restore_rate=rate, clock=clock)

        return make, clock, True

    shared = {}

    def make_local(capacity=100.0, rate=10.0):
        # A local bucket is shared by handing out the same object, as throttle_for() does.
        return shared.setdefault("bucket", LocalThrottle(capacity, rate, clock=clock))

    return make_local, clock, False


def test_two_workers_cannot_spend_the_same_points(bucket_factory):
    make, _, _ = bucket_factory
    worker_a, worker_b = make(), make()

    assert worker_a.acquire(60) == 0
    # 40 points left: B must wait for 20 more at 10/s.
    assert worker_b.acquire(60) == pytest.approx(2.0)
    assert worker_a.available == pytest.approx(40)


def test_concurrent_acquires_never_overspend(bucket_factory):
    make, _, _ = bucket_factory
    granted = []
    lock = threading.Lock()

    def worker():
        bucket = make()
        for _ in range(5):
            if bucket.acquire(10) == 0:
                with lock:
                    granted.append(1)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # The clock is frozen: exactly the bucket's 100 points were handed out, 10 at a time.
    assert len(granted) == 10


def test_bucket_refills_over_time(bucket_factory):
    make, clock, _ = bucket_factory
    bucket = make(capacity=100, rate=10)

    assert bucket.acquire(100) == 0
    assert bucket.acquire(50) == pytest.approx(5.0)
    clock.now += 5
    assert bucket.acquire(50) == 0
    clock.now += 1000
    assert bucket.available == pytest.approx(100)  # never above capacity


def test_a_clock_that_steps_back_mints_no_points(bucket_factory):
    make, clock, _ = bucket_factory
    bucket = make(capacity=100, rate=10)
    bucket.acquire(100)

    clock.now -= 30
    assert bucket.available == pytest.approx(0)
    clock.now += 31
    assert bucket.available == pytest.approx(10)


def test_observe_adopts_shopifys_numbers(bucket_factory):
    make, clock, _ = bucket_factory
    bucket = make(capacity=100, rate=10)

    bucket.observe(
        ThrottleStatus(maximum_available=2000, currently_available=500, restore_rate=100)
    )

    assert bucket.available == pytest.approx(500)
    assert bucket.acquire(600) == pytest.approx(1.0)  # (600 - 500) / 100
    clock.now += 1
    assert bucket.acquire(600) == 0
    clock.now += 100
    assert bucket.available == pytest.approx(2000)  # the plan's capacity, not the default


def test_refund_returns_unspent_points(bucket_factory):
    make, _, _ = bucket_factory
    bucket = make(capacity=100, rate=10)
    bucket.acquire(60)

    bucket.refund(60, 12)

    assert bucket.available == pytest.approx(88)


def test_a_query_dearer_than_the_bucket_can_still_go_once_full(bucket_factory):
    make, _, _ = bucket_factory
    bucket = make(capacity=100, rate=10)

    assert bucket.acquire(150) == 0
    assert bucket.available == pytest.approx(0)


def test_redis_state_expires_once_it_would_be_full(redis_client, key):
    bucket = RedisThrottle(redis_client, key, capacity=2000, restore_rate=100, clock=FakeClock())

    bucket.acquire(10)

    assert 0 < redis_client.ttl(key) <= 2000 / 100 + 60


def test_throttle_for_uses_redis_when_configured(settings, monkeypatch, redis_client):
    settings.REDIS_URL = REDIS_URL
    shop = f"test-{uuid.uuid4()}.myshopify.com"

    bucket = throttle_for(shop)

    assert isinstance(bucket, RedisThrottle)
    redis_client.delete(throttle_module.KEY_PREFIX + shop)


def test_throttle_for_falls_back_to_one_local_bucket_per_shop(settings, monkeypatch):
    settings.REDIS_URL = ""
    settings.CACHE_URL = ""
    monkeypatch.delenv("REDIS_URL", raising=False)

    first = throttle_for("demo.myshopify.com")

    assert isinstance(first, LocalThrottle)
    assert throttle_for("demo.myshopify.com") is first
    assert throttle_for("other.myshopify.com") is not first


def test_throttle_for_reads_a_redis_cache_url(settings, monkeypatch):
    settings.REDIS_URL = ""
    settings.CACHE_URL = REDIS_URL
    monkeypatch.delenv("REDIS_URL", raising=False)

    assert isinstance(throttle_for("cache.myshopify.com"), RedisThrottle)
