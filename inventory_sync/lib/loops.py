"""Worker loops woken by a doorbell: few tasks however many events.

One Celery task per event would cost more than the work (a sale is a few milliseconds of
ledger and planner time). Instead a loop task runs while there is work and for a short idle
time after, and new work rings a doorbell that the running loop waits on. A task is queued
only when no loop is alive. The durable record of what is to do is always in the database: a
lost task or a killed worker only delays work until the alive mark expires and the periodic
sweep rings again.

With Redis (CACHE_URL redis://…) the doorbell is a list the idle loop blocks on (BLPOP: no
polling, woken at once) and a ring is one round trip. Other caches (the single-machine demo)
fall back to polling a cache key.
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

_redis_client = None


def _redis():
    global _redis_client
    url = getattr(settings, "CACHE_URL", "")
    if not url.startswith(("redis://", "rediss://")):
        return None
    if _redis_client is None:
        import redis
        from redis.backoff import ExponentialBackoff
        from redis.retry import Retry

        # A ring runs inside webhook requests: a Redis that is down costs it one quick retry
        # and a bounded connect, not redis-py's default three retries of up to seconds each.
        # The read timeout stays above the longest BLPOP a waiting loop makes.
        timeout = getattr(settings, "BROKER_TIMEOUT_SECONDS", 2.0)
        _redis_client = redis.Redis.from_url(
            url,
            socket_connect_timeout=timeout,
            socket_timeout=ALIVE_SECONDS + timeout,
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), 1),
            health_check_interval=10,
        )
    return _redis_client


def _bell(name: str) -> str:
    return f"inventory-sync:loop:{name}:bell"


def _alive(name: str) -> str:
    return f"inventory-sync:loop:{name}:alive"


def _press(name: str) -> bool:
    """Ring the bell; True when no loop was alive (the caller must start one)."""
    client = _redis()
    if client is None:
        cache.set(_bell(name), 1, timeout=ALIVE_SECONDS * 6)
        return cache.add(_alive(name), 1, timeout=ALIVE_SECONDS)
    bell = _bell(name)
    with client.pipeline(transaction=False) as pipe:
        pipe.lpush(bell, 1)
        pipe.ltrim(bell, 0, 0)  # one press is as good as many
        pipe.expire(bell, ALIVE_SECONDS * 6)
        pipe.set(_alive(name), 1, nx=True, ex=ALIVE_SECONDS)
        return bool(pipe.execute()[-1])


def _keep_alive(name: str) -> None:
    client = _redis()
    if client is None:
        cache.set(_alive(name), 1, timeout=ALIVE_SECONDS)
    else:
        client.set(_alive(name), 1, ex=ALIVE_SECONDS)


def _die(name: str) -> None:
    client = _redis()
    if client is None:
        cache.delete(_alive(name))
    else:
        client.delete(_alive(name))


def _clear(name: str) -> None:
    client = _redis()
    if client is None:
        cache.delete(_bell(name))
    else:
        client.delete(_bell(name))


def _pressed(name: str) -> bool:
    client = _redis()
    if client is None:
        return bool(cache.get(_bell(name)))
    return bool(client.llen(_bell(name)))


def _wait(name: str, seconds: float, poll: float) -> bool:
    """Wait up to `seconds` for the bell; True when it rang (the press stays for the round to
    clear, so a ring is never consumed unseen)."""
    client = _redis()
    if client is None or seconds <= 0:
        deadline = time.monotonic() + max(seconds, 0)
        while not _pressed(name):
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll)
        return True
    rang = client.blpop([_bell(name)], timeout=max(seconds, 0.01))
    if rang is not None:
        client.lpush(_bell(name), 1)
    return rang is not None


def pause(name: str, seconds: float) -> bool:
    """Inside loop `name`'s round: sleep up to `seconds`, cut short by a ring (True, and the
    ring is cleared: the round looks afresh at what it was rung for)."""
    rang = _wait(name, seconds, POLL_SECONDS)
    if rang:
        _clear(name)
    return rang


def ring(name: str, start: Callable[[], object]) -> bool:
    """Tell loop `name` there is work; queue it (via `start`) unless one is alive.

    Returns True when a new loop was queued.
    """
    if not _press(name):
        return False
    try:
        start()
    except Exception:
        _die(name)
        raise
    return True


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
    started = last_work = time.monotonic()
    rounds = 0
    more = False
    try:
        while True:
            _clear(name)  # before looking: a ring from now on is seen next round
            did = work()
            _keep_alive(name)
            now = time.monotonic()
            if did:
                rounds += 1
                last_work = now
                if now - started < max_run:
                    continue
                more = True  # handing over with work maybe left: the successor looks
                return rounds
            # Wake at least every ALIVE_SECONDS / 2 to keep the alive mark fresh.
            remaining = min(idle_exit - (now - last_work), max_run - (now - started))
            if not _wait(name, min(remaining, ALIVE_SECONDS / 2), poll):
                now = time.monotonic()
                if now - last_work >= idle_exit or now - started >= max_run:
                    return rounds
                continue
            close_old_connections()
    finally:
        _die(name)
        # A ring that came after our last look found us alive and queued nothing.
        if more or _pressed(name):
            try:
                ring(name, start)
            except Exception:  # the periodic sweep rings again
                logger.exception("loop %s: could not queue its successor", name)
