"""The Redis broker transport: a channel closed again after its connection was collected (what
Celery 5.7 does when Redis goes away under a worker) reports a lost connection, which the
closing code ignores, instead of an AttributeError that makes the worker exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from kombu import Connection
from kombu.common import ignore_errors
from kombu.transport import redis as kombu_redis

from inventory_sync.lib import redis_broker

ROOT = Path(__file__).resolve().parents[2]
# The machine's Redis (scripts/services.sh); nothing is written to it.
REDIS_URL = "redis://127.0.0.1:6379/15"


def detached_channel_with_unacked_message(transport):
    """A channel holding an unacknowledged message whose transport was detached from its
    connection, as Connection.collect() leaves it when the channel's first close failed."""
    connection = Connection(REDIS_URL, transport=transport)
    channel = connection.channel()
    channel.qos._delivered["tag-1"] = object()  # delivered, not yet acknowledged
    channel._disconnect_pools()
    connection._transport.client = None
    return connection, channel


def test_a_detached_channel_reports_a_lost_connection():
    connection, channel = detached_channel_with_unacked_message(redis_broker.Transport)
    with pytest.raises(connection.connection_errors):
        channel._connparams()
    ignore_errors(connection, channel.close)  # the worker's cleanup goes on


def test_kombus_own_transport_fails_there_with_an_error_the_worker_cannot_survive():
    """The canary: without the fix the same close escapes the cleanup."""
    connection, channel = detached_channel_with_unacked_message(kombu_redis.Transport)
    with pytest.raises(AttributeError, match="hostname"):
        ignore_errors(connection, channel.close)


def settings_for(broker_url: str) -> dict:
    names = [
        "CELERY_BROKER_TRANSPORT",
        "CELERY_BROKER_CONNECTION_MAX_RETRIES",
        "CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP",
        "CELERY_BROKER_CONNECTION_RETRY",
        "CELERY_BROKER_TRANSPORT_OPTIONS",
        "CELERY_TASK_PUBLISH_RETRY_POLICY",
        "CELERY_BROKER_USE_SSL",
    ]
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n, None) for n in {names!r}}}))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "inventory_sync.settings",
        "SECRET_KEY": "test",
        "CELERY_BROKER_URL": broker_url,
    }
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_redis_broker_gets_the_transport_and_reconnects_for_ever():
    found = settings_for("redis://127.0.0.1:6379/0")
    assert found["CELERY_BROKER_TRANSPORT"] == "inventory_sync.lib.redis_broker:Transport"
    assert found["CELERY_BROKER_CONNECTION_MAX_RETRIES"] is None  # unbounded
    assert found["CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP"] is True
    assert found["CELERY_BROKER_CONNECTION_RETRY"] is True
    # A webhook's wake-up waits a bounded time for a broker that does not answer.
    assert found["CELERY_BROKER_TRANSPORT_OPTIONS"]["socket_connect_timeout"] == 2.0
    assert found["CELERY_TASK_PUBLISH_RETRY_POLICY"]["max_retries"] == 2
    assert found["CELERY_BROKER_USE_SSL"] is None


def test_a_tls_redis_broker_keeps_tls_with_certificates_checked():
    found = settings_for("rediss://redis.internal:6380/0")
    assert found["CELERY_BROKER_TRANSPORT"] == "inventory_sync.lib.redis_broker:Transport"
    assert found["CELERY_BROKER_USE_SSL"] == {"ssl_cert_reqs": "required"}
