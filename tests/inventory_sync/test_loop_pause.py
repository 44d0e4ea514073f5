"""A loop's pause (inventory_sync.lib.loops.pause): a pusher waiting out its window is cut short
by a ring, so a change planned meanwhile is looked at before its own deadline passes."""

import pytest
from django.core.cache import cache

from inventory_sync.lib import loops

BELL = "inventory-sync:loop:pause-test:bell"


@pytest.fixture(autouse=True)
def clean_cache():
    cache.clear()
    yield
    cache.clear()


def test_a_ring_cuts_the_pause_short_and_is_cleared():
    loops._press("pause-test")
    assert loops.pause("pause-test", 30) is True
    assert not loops._pressed("pause-test")  # the round looks afresh; a new ring is news


def test_without_a_ring_the_pause_runs_out():
    assert loops.pause("pause-test", 0.02) is False
    assert cache.get(BELL) is None
