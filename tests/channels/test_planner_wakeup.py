"""A ledger write wakes the planner loop once per burst; the loop task does the work."""

import pytest
from django.core.cache import cache

from channels.models import Listing
from channels.tasks import plan_allocations_task
from ledger import services
from ledger.models import Sku
from ledger.rules import EventLine
from tests.factories import ChannelFactory, ListingFactory

ALIVE, RUNG = "inventory-sync:loop:planner:alive", "inventory-sync:loop:planner:bell"


@pytest.fixture(autouse=True)
def clean_cache():
    cache.clear()
    yield
    cache.clear()


def sale(key):
    return services.record_event(
        kind="sale", lines=[EventLine("TEE-M", "WH-EAST", 1)], idempotency_key=key, source="t"
    )


@pytest.mark.django_db
def test_a_committed_write_queues_one_planner_run_per_burst(
    sku, warehouse, receive, django_capture_on_commit_callbacks
):
    # when a burst of writes commits
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        receive(sku, warehouse, 10)
        sale("s-1")
        sale("s-2")
    # then each rang after its commit, and one loop is alive (queued) for all of them
    assert len(callbacks) == 3
    assert cache.get(ALIVE) == 1
    assert cache.get(RUNG) == 1


@pytest.mark.django_db
def test_a_refused_write_wakes_nobody(sku, warehouse, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(services.InsufficientStock),
    ):
        services.release(
            sku="TEE-M", location="WH-EAST", quantity=1, idempotency_key="r", source="t"
        )
    assert callbacks == []
    assert cache.get(ALIVE) is None


@pytest.mark.django_db
def test_the_planner_loop_plans_every_dirty_sku_and_leaves_no_loop_alive(sku, warehouse, receive):
    listing = ListingFactory(channel=ChannelFactory(code="shopify"), sku=sku)
    receive(sku, warehouse, 6)
    cache.set(ALIVE, 1)
    cache.set(RUNG, 1)
    # one round did work, then the loop found nothing and (idle exit 0 in tests) ended
    assert plan_allocations_task() == 1
    assert cache.get(ALIVE) is None
    assert cache.get(RUNG) is None
    assert Listing.objects.get(pk=listing.pk).desired_quantity == 6
    assert not Sku.objects.filter(allocation_dirty_since__isnull=False).exists()


@pytest.fixture
def redis_doorbell(settings, db):
    """The production doorbell: Redis lists and keys (db 14, emptied around the test)."""
    import redis

    from inventory_sync.lib import loops

    url = "redis://127.0.0.1:6379/14"
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("Redis is not answering on 127.0.0.1:6379 (make services)")
    client.flushdb()
    settings.CACHE_URL = url
    loops._redis_client = None
    yield client
    client.flushdb()
    loops._redis_client = None


def test_a_ring_queues_one_loop_and_a_running_loop_sees_later_rings(redis_doorbell):
    from inventory_sync.lib import loops

    started = []
    assert loops.ring("t", lambda: started.append(1))
    assert not loops.ring("t", lambda: started.append(2))  # one alive: the bell is enough
    assert started == [1]
    rounds = []

    def work():
        rounds.append(len(rounds))
        if len(rounds) == 1:
            loops.ring("t", lambda: started.append(3))  # a ring while the loop works
            return False
        return False

    assert loops.run("t", work, lambda: started.append(4), idle_exit=0.5) == 0
    # the ring during the first round was seen: a second round ran, nobody was queued
    assert len(rounds) == 2
    assert started == [1]
    assert not redis_doorbell.exists(loops._alive("t"))


def test_a_loop_handing_over_with_work_left_queues_its_successor(redis_doorbell):
    from inventory_sync.lib import loops

    successors = []
    loops.run("t", lambda: True, lambda: successors.append(1), idle_exit=1, max_run=0)
    assert successors == [1]
