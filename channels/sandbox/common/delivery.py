"""At-least-once HTTP delivery from one background thread, in due-time order.

Both sandboxes push events the way their channel does: Shopify's webhooks and Amazon's
notifications are at-least-once and unordered. A subclass decides at publish time when each copy
is due (delays, duplicates, reordering: every decision drawn from the seeded `_rng` there, so a
seed always gives the same schedule), builds its body and headers, and says how a failed attempt
is retried. This module does the rest: deliver what is due, record every attempt, reschedule
retries, and let a test flush what is pending and wait for it.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests


@dataclass(order=True)
class Delivery:
    """One copy of one event on its way to one endpoint; ordered by due time, then by seq."""

    due: float
    seq: int
    target: Any = field(compare=False)  # the subscription: has `url` and `timeout_s`
    body: bytes = field(compare=False)
    duplicate: bool = field(default=False, compare=False)
    # Held back on purpose (later than polling would see the change): a normal flush leaves it.
    late: bool = field(default=False, compare=False)
    attempt: int = field(default=0, compare=False)


class DeliveryQueue:
    """The delivery thread and its queue. Subclasses publish (push `Delivery`s under `_cond`,
    then `_wake()`) and implement `_headers`, `_attempt_json` and `_retry_in`.

    `clock` gives the due times. With `poll` set, the thread and `_flush` look at the clock at
    least that often instead of sleeping until the next due time: for a clock that can move
    without telling us (a ManualClock).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        seed: int,
        post: Callable[[str, bytes, dict], int] | None,
        history: int,
        thread_name: str,
        stats: tuple[str, ...],
        poll: float | None = None,
    ) -> None:
        self._clock = clock
        self._rng = random.Random(seed)
        self._post = post
        self._session: requests.Session | None = None
        self._targets: list[Any] = []
        self._queue: list[Delivery] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._in_flight = 0
        # How many flushes are hurrying the queue: "normal" ones deliver everything except late
        # deliveries whose time has not come; "everything" ones those too.
        self._hurry = {"normal": 0, "everything": 0}
        self._running = False
        self._thread: threading.Thread | None = None
        self._thread_name = thread_name
        self._poll = poll
        self._history = history
        self._logs: list[deque[dict]] = []
        self.attempts = self._log()
        self.stats = dict.fromkeys(stats, 0)

    def _log(self) -> deque[dict]:
        """A bounded history that `clear()` empties."""
        log: deque[dict] = deque(maxlen=self._history)
        self._logs.append(log)
        return log

    # configuration ----------------------------------------------------------------------------
    def subscribe(self, target: Any, *, replace: bool = True, seed: int | None = None) -> Any:
        with self._cond:
            if replace:
                self._targets = []
            self._targets.append(target)
            if seed is not None:
                self._rng = random.Random(seed)
        return target

    def _subscribed(self) -> list[Any]:
        with self._cond:
            return list(self._targets)

    def clear(self, seed: int = 0) -> None:
        """Forget subscriptions, pending deliveries and history (a sandbox reset)."""
        with self._cond:
            self._targets = []
            self._queue = []
            self._rng = random.Random(seed)
            for log in self._logs:
                log.clear()
            self.stats = dict.fromkeys(self.stats, 0)
            self._cond.notify_all()

    # publishing (subclasses call these with self._cond held) ----------------------------------
    def _push(self, delivery: Delivery) -> None:
        heapq.heappush(self._queue, delivery)

    def _wake(self) -> None:
        if self._queue:
            self._ensure_thread()
            self._cond.notify_all()

    # delivery ---------------------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._running = True
            self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
            self._thread.start()

    def _is_due(self, delivery: Delivery) -> bool:
        if delivery.due <= self._clock() or self._hurry["everything"]:
            return True
        return bool(self._hurry["normal"]) and not delivery.late

    def _next_due(self) -> Delivery | None:
        with self._cond:
            while self._running:
                if self._queue and self._is_due(self._queue[0]):
                    self._in_flight += 1
                    return heapq.heappop(self._queue)
                if self._poll is not None:
                    self._cond.wait(self._poll)
                elif self._queue:
                    self._cond.wait(self._queue[0].due - self._clock())
                else:
                    self._cond.wait()
            return None

    def _run(self) -> None:
        while True:
            delivery = self._next_due()
            if delivery is None:
                return
            try:
                status, error = self._attempt(delivery)
            finally:
                with self._cond:
                    self._in_flight -= 1
            self._record(delivery, status, error)

    def _headers(self, delivery: Any) -> dict[str, str]:
        raise NotImplementedError

    def _attempt_json(self, delivery: Any, status: int | None, error: str | None) -> dict:
        """The entry `attempts` keeps for one attempt."""
        raise NotImplementedError

    def _retry_in(self, delivery: Any, status: int | None) -> float | None:
        """Seconds until a failed attempt is tried again, or None to give up. Called with the
        lock held, only while the delivery's subscription still stands."""
        raise NotImplementedError

    def _attempt(self, delivery: Delivery) -> tuple[int | None, str | None]:
        delivery.attempt += 1
        headers = self._headers(delivery)
        try:
            if self._post is not None:
                status = self._post(delivery.target.url, delivery.body, headers)
            else:
                if self._session is None:
                    self._session = requests.Session()
                response = self._session.post(
                    delivery.target.url,
                    data=delivery.body,
                    headers=headers,
                    timeout=delivery.target.timeout_s,
                )
                status = response.status_code
        except Exception as exc:  # any transport failure is a failed attempt, retried
            return None, f"{type(exc).__name__}: {exc}"
        return status, None

    def _record(self, delivery: Delivery, status: int | None, error: str | None) -> None:
        ok = status is not None and 200 <= status < 300
        with self._cond:
            self.attempts.append(self._attempt_json(delivery, status, error))
            if ok:
                self.stats["delivered"] += 1
            else:
                self.stats["failed_attempts"] += 1
                # A reset or a new subscription drops retries meant for the old endpoint.
                still_subscribed = any(t is delivery.target for t in self._targets)
                retry_in = self._retry_in(delivery, status) if still_subscribed else None
                if retry_in is not None:
                    delivery.due = self._clock() + retry_in
                    delivery.seq = next(self._seq)
                    heapq.heappush(self._queue, delivery)
                else:
                    self.stats["given_up"] += 1
            self._cond.notify_all()

    def _flush(self, timeout: float, *, everything: bool) -> int:
        """Hurry what is pending now (see `_hurry`) and wait until each of it was attempted, at
        most `timeout` seconds; due order is kept. Returns how many are still unfinished."""
        mode = "everything" if everything else "normal"
        deadline = time.monotonic() + timeout
        with self._cond:
            self._hurry[mode] += 1
            self._cond.notify_all()
            try:
                while True:
                    unfinished = sum(1 for d in self._queue if self._is_due(d)) + self._in_flight
                    remaining = deadline - time.monotonic()
                    if not unfinished or remaining <= 0:
                        return unfinished
                    if self._poll is not None:
                        remaining = min(remaining, self._poll)
                    self._cond.wait(remaining)
            finally:
                self._hurry[mode] -= 1

    def stop(self) -> None:
        with self._cond:
            self._running = False
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._session is not None:
            self._session.close()
