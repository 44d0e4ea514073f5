"""Worker loops woken by a doorbell: few tasks however many events.

One Celery task per event would cost more than the work (a sale is a few milliseconds of
ledger and planner time). Instead a loop task runs while there is work and for a short idle
time after, and new work rings a doorbell (a cache key) that the running loop sees within
`POLL_SECONDS`. A task is queued only when no loop is alive. The durable record of what is to
do is always in the database: a lost task or a killed worker only delays work until the
alive key expires and the periodic sweep rings again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import close_old_connections

logger = logging.getLogger(__name__)

ALIVE_SECONDS = 10  # a loop refreshes this while it runs; a killed loop is replaced after it
POLL_SECONDS = 0.005
IDLE_EXIT_SECONDS = 2.0
MAX_RUN_SECONDS = 45.0


def _keys(name: str) -> tuple[str, str]:
    return f"loop:{name}:rung", f"loop:{name}:alive"


def ring(name: str, start: Callable[[], object]) -> bool:
    """Tell loop `name` there is work; queue it (via `start`) unless one is alive.

    Returns True when a new loop was queued.
    """
    rung, alive = _keys(name)
    cache.set(rung, 1, timeout=ALIVE_SECONDS * 6)
    if cache.add(alive, 1, timeout=ALIVE_SECONDS):
        try:
            start()
        except Exception:
            cache.delete(alive)
            raise
        return True
    return False


def run(
    name: str,
    work: Callable[[], bool],
    start: Callable[[], object],
    *,
    idle_exit: float | None = None,
    max_run: float | None = None,
    poll: float = POLL_SECONDS,
) -> int:
    """Run `work` (True when it did something) until idle for `idle_exit` or `max_run` is
    spent. Returns the number of rounds that did work."""
    if idle_exit is None:
        idle_exit = getattr(settings, "LOOP_IDLE_EXIT_SECONDS", IDLE_EXIT_SECONDS)
    if max_run is None:
        max_run = getattr(settings, "LOOP_MAX_RUN_SECONDS", MAX_RUN_SECONDS)
    rung, alive = _keys(name)
    started = last_work = time.monotonic()
    rounds = 0
    try:
        while True:
            cache.delete(rung)  # before looking: a ring from now on is seen next round
            did = work()
            cache.set(alive, 1, timeout=ALIVE_SECONDS)
            now = time.monotonic()
            if did:
                rounds += 1
                last_work = now
                if now - started < max_run:
                    continue
                return rounds
            while not cache.get(rung):
                now = time.monotonic()
                if now - last_work > idle_exit or now - started > max_run:
                    return rounds
                time.sleep(poll)
            close_old_connections()
    finally:
        cache.delete(alive)
        # A ring that came after our last look found us alive and queued nothing.
        if cache.get(rung):
            try:
                ring(name, start)
            except Exception:  # the periodic sweep rings again
                logger.exception("loop %s: could not queue its successor", name)
