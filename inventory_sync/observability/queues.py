"""The Celery queues' depths, read from the broker (RabbitMQ, Redis or the demo's folder)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from kombu.exceptions import OperationalError

from inventory_sync.celery import app


@dataclass(frozen=True, slots=True)
class QueueDepths:
    reachable: bool
    depths: dict[str, int]  # queue -> messages waiting (none while the broker is unreachable)
    error: str = ""


def queue_depths() -> QueueDepths:
    """Messages waiting in each worker queue (settings.WORKER_QUEUES).

    A queue the broker does not know yet (nothing was ever sent to it; Redis also forgets an
    emptied one) has 0 waiting. Bounded by BROKER_TIMEOUT_SECONDS, so a dead broker makes a
    scrape slow by that much, never hang.
    """
    depths: dict[str, int] = {}
    try:
        with app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, timeout=settings.BROKER_TIMEOUT_SECONDS)
            for queue in settings.WORKER_QUEUES:
                depths[queue] = _depth(connection, queue)
    except (OperationalError, OSError) as error:
        return QueueDepths(reachable=False, depths={}, error=str(error) or type(error).__name__)
    return QueueDepths(reachable=True, depths=depths)


def _depth(connection, queue: str) -> int:
    # A channel of its own per queue: AMQP closes the channel a passive declare fails on.
    channel = connection.channel()
    try:
        return channel.queue_declare(queue=queue, passive=True).message_count
    except connection.channel_errors:  # the transport's own "no such queue"
        return 0
    finally:
        try:
            channel.close()
        except (*connection.channel_errors, *connection.connection_errors):
            pass
