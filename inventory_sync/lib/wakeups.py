"""Wake-ups that cross the dependency direction without an import.

A lower app announces that something changed ("ledger.changed"); an upper app registered, at
start-up, what to run then (wake the planner). The durable signal is always a dirty row in
the database: a lost wake-up only delays work until the periodic sweep.

A wake-up runs after the commit, often inside a webhook request whose row is already stored:
it never raises (the caller's write stands and its answer must not change), and while the
broker is down it is skipped for a few seconds at a time, so requests do not each wait for a
connection that is not there.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from functools import cache, partial

from django.db import transaction

from . import memo

logger = logging.getLogger(__name__)

# After a wake-up fails, this process skips wake-ups for this long; the periodic sweep (every
# 15 s) rings every loop once the broker is back.
PAUSE_AFTER_FAILURE_SECONDS = 5.0

_listeners: dict[str, list[Callable[[], None]]] = defaultdict(list)
_paused_until = 0.0


def listen(topic: str, callback: Callable[[], None]) -> None:
    if callback not in _listeners[topic]:
        _listeners[topic].append(callback)


def attempt(what: str, ring: Callable[[], object]) -> bool:
    """Run one wake-up; False when it was skipped or failed (logged, left to the sweep)."""
    global _paused_until
    if time.monotonic() < _paused_until:
        return False
    try:
        ring()
    except Exception as error:  # a wake-up must never fail the write that caused it
        _paused_until = time.monotonic() + PAUSE_AFTER_FAILURE_SECONDS
        logger.warning(
            "wake-up %s failed (%s: %s); wake-ups pause for %g s, the periodic sweep will catch up",
            what,
            type(error).__name__,
            error,
            PAUSE_AFTER_FAILURE_SECONDS,
        )
        return False
    return True


def resume() -> None:
    """Forget an earlier failure in this process (the sweep before its own rings, and tests);
    other processes keep their pause until it runs out."""
    global _paused_until
    _paused_until = 0.0


def notify(topic: str) -> None:
    for callback in _listeners.get(topic, ()):
        attempt(topic, callback)


def notify_on_commit(topic: str) -> None:
    """Notify once the current transaction commits (at once when there is none).

    Inside an ingest claim (dozens of events in one transaction, inventory_sync.lib.memo)
    once per topic: one ring wakes a loop as well as fifty. A registration made inside a
    savepoint that was rolled back is already gone from the list, so it never stands in for
    this one.
    """
    ring = _notifier(topic)
    if memo.active() and any(
        func is ring for _, func, _ in transaction.get_connection().run_on_commit
    ):
        return
    transaction.on_commit(ring)


@cache
def _notifier(topic: str) -> Callable[[], None]:
    return partial(notify, topic)
