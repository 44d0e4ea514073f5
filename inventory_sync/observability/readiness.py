"""Is this deployment ready to take traffic: the database answers, the broker answers, and
every worker queue has a worker taking its tasks."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import DatabaseError, connection

from channels.health import worker_heartbeats

from .queues import queue_depths


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Readiness:
    checks: list[Check] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks)


def readiness() -> Readiness:
    """Database first: without it the workers' heartbeats cannot be read either."""
    database = _database()
    checks = [database, _broker()]
    if database.ok:
        checks.append(_workers())
    else:
        checks.append(Check("workers", False, "unknown: the database is unreachable"))
    return Readiness(checks)


def _database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        return Check("database", False, type(error).__name__)
    return Check("database", True)


def _broker() -> Check:
    depths = queue_depths()
    return Check("broker", depths.reachable, "" if depths.reachable else "unreachable")


def _workers() -> Check:
    """A worker queue is served when its scheduled heartbeat task ran lately (a loop beats
    only while it has work, so a quiet loop is not a failure)."""
    stale = [beat.kind for beat in worker_heartbeats() if beat.stale]
    if stale:
        return Check("workers", False, "no recent heartbeat: " + ", ".join(stale))
    return Check("workers", True)
