"""Run real threads against PostgreSQL, released together by a barrier."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import connection, connections, transaction


@dataclass
class Outcome:
    value: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def run_concurrently(
    call: Callable[..., Any], argument_sets: Sequence[tuple[Any, ...]], *, timeout: float = 120
) -> list[Outcome]:
    """Call `call(*args)` once per argument set, each in its own thread and DB connection.

    All threads wait on one barrier and start together. Every thread closes its connection so
    the test database can be dropped afterwards. Fails the test if a thread hangs.
    """
    barrier = threading.Barrier(len(argument_sets))
    outcomes = [Outcome() for _ in argument_sets]

    def worker(index: int, args: tuple[Any, ...]) -> None:
        try:
            barrier.wait()
            outcomes[index].value = call(*args)
        except BaseException as error:  # noqa: BLE001 - reported to the test
            outcomes[index].error = error
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=worker, args=(index, args), daemon=True)
        for index, args in enumerate(argument_sets)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
        assert not thread.is_alive(), "a thread hung: deadlock or lost wake-up"
    return outcomes


def until_an_advisory_lock_is_awaited(space: int, deadline_s: float = 10.0) -> bool:
    """True once some connection to this database waits for an advisory lock of `space`
    (polled in pg_locks from this connection; False after the deadline)."""
    return _until_awaited("locktype = 'advisory' AND classid = %s", [space], deadline_s)


def until_a_row_lock_is_awaited(deadline_s: float = 10.0) -> bool:
    """True once some connection to this database waits for a row another transaction holds
    (a row lock is awaited as the holder's transaction id; False after the deadline)."""
    return _until_awaited("locktype = 'transactionid'", [], deadline_s)


def _until_awaited(condition: str, params: list[object], deadline_s: float) -> bool:
    end = time.monotonic() + deadline_s
    with connection.cursor() as cursor:
        while time.monotonic() < end:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND pid IN ("
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()) "
                f"AND {condition}",
                params,
            )
            if cursor.fetchone()[0]:
                return True
    return False


@contextmanager
def held_elsewhere(take: Callable[[], object]) -> Iterator[None]:
    """For the block, another connection holds what `take()` locks (in a transaction of a
    thread of its own, committed when the block ends)."""
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                take()
                locked.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(timeout=30), "the other connection never took its lock"
        yield
    finally:
        release.set()
        holder.join()
