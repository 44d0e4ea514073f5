"""Run real threads against PostgreSQL, released together by a barrier."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections


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
