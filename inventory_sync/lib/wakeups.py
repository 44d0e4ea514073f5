"""Wake-ups that cross the dependency direction without an import.

A lower app announces that something changed ("ledger.changed"); an upper app registered, at
start-up, what to run then (wake the planner). The durable signal is always a dirty row in
the database: a lost wake-up only delays work until the periodic sweep.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from functools import partial

from django.db import transaction

logger = logging.getLogger(__name__)

_listeners: dict[str, list[Callable[[], None]]] = defaultdict(list)


def listen(topic: str, callback: Callable[[], None]) -> None:
    if callback not in _listeners[topic]:
        _listeners[topic].append(callback)


def notify(topic: str) -> None:
    for callback in _listeners.get(topic, ()):
        try:
            callback()
        except Exception:  # a wake-up must never fail the write that caused it
            logger.exception("wake-up %s failed; the periodic sweep will catch up", topic)


def notify_on_commit(topic: str) -> None:
    """Notify once the current transaction commits (at once when there is none)."""
    transaction.on_commit(partial(notify, topic))
