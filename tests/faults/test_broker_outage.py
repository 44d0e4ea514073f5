"""The broker blinks under a stream of webhooks, with every part a real process.

A throw-away Redis (broker and cache, as in deploy/) on its own port; the project under
gunicorn; the ingest, push and default Celery workers (thread pools, as deploy/ runs them) and
beat; a sandbox shop the pusher sets levels on; a fresh PostgreSQL database. Signed Shopify
order webhooks go in at about 100 a second; Redis is stopped in the middle of the stream and
started again (empty, as a broker without persistence comes back) while they keep coming.

What must hold: every webhook answered 2xx (stored, so the shop does not retry for hours);
every stored event applied within a minute of the restart; every listing pushed; the ledger
verifies; and no worker, beat or web process exited.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import subprocess
import threading
import time
import uuid
from collections import Counter
from urllib.parse import urlsplit

import psycopg
import pytest

from channels.lanes.shopify.webhooks import sign

from . import processes as p

pytestmark = pytest.mark.slow

RATE = 100  # webhooks a second
SENDERS = 4
SECRET = "outage-webhook-secret"
TOKEN = "shpat_outage"
SKUS = 5
RECOVERY_SECONDS = 60


class WebhookStream:
    """Signed orders/create webhooks at RATE a second from SENDERS keep-alive connections;
    each answer is counted under the phase it was sent in."""

    def __init__(self, url: str, channel_id: int, skus: list[str]) -> None:
        parts = urlsplit(url)
        self.address = (parts.hostname, parts.port)
        self.path = f"/webhooks/shopify/{channel_id}/"
        self.skus = skus
        self.phase = "before"
        self.answers: Counter[tuple[str, int]] = Counter()
        self.slowest = 0.0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._send, args=(n,)) for n in range(SENDERS)]

    def start(self) -> None:
        self.started = time.monotonic()
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join()

    def answered(self, phase: str) -> int:
        with self.lock:
            return sum(n for (seen, _), n in self.answers.items() if seen == phase)

    def by_status(self) -> dict[str, dict[int, int]]:
        with self.lock:
            found: dict[str, dict[int, int]] = {}
            for (phase, status), n in self.answers.items():
                found.setdefault(phase, {})[status] = n
            return found

    def _webhook(self, number: int) -> tuple[bytes, dict[str, str]]:
        order_id = uuid.uuid4().int % 10**12
        body = json.dumps(
            {
                "id": order_id,
                "name": f"#{order_id}",
                "created_at": "2026-12-01T10:00:00Z",
                "updated_at": "2026-12-01T10:00:00Z",
                "cancelled_at": None,
                "line_items": [
                    {
                        "id": order_id,
                        "variant_id": None,
                        "sku": self.skus[number % len(self.skus)],
                        "quantity": 1,
                        "current_quantity": 1,
                    }
                ],
            }
        ).encode()
        return body, {
            "Content-Type": "application/json",
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Hmac-Sha256": sign(SECRET, body),
            "X-Shopify-Event-Id": str(uuid.uuid4()),
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Shop-Domain": "outage.myshopify.com",
            "X-Shopify-API-Version": "2026-04",
            "X-Shopify-Triggered-At": "2026-12-01T10:00:00Z",
        }

    def _send(self, first: int) -> None:
        connection = http.client.HTTPConnection(*self.address, timeout=30)
        number = first
        while not self.stopping.is_set():
            pause = self.started + number / RATE - time.monotonic()
            if pause > 0:
                time.sleep(pause)  # pacing the stream, not waiting for anything
            body, headers = self._webhook(number)
            phase, sent = self.phase, time.monotonic()
            try:
                connection.request("POST", self.path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                status = response.status
            except OSError:
                status = 0  # no answer at all
                connection.close()
            with self.lock:
                self.answers[(phase, status)] += 1
                self.slowest = max(self.slowest, time.monotonic() - sent)
            number += SENDERS
        connection.close()


def query(url: str, sql: str) -> tuple:
    with psycopg.connect(url.replace("postgres://", "postgresql://", 1)) as connection:
        return connection.execute(sql).fetchone()


def inbound_counts(url: str) -> tuple[int, int]:
    """(webhook events stored, of which not applied)."""
    return query(
        url,
        "SELECT count(*), count(*) FILTER (WHERE status <> 'applied')"
        " FROM channels_inboundevent WHERE source = 'webhook'",
    )


def applied(url: str) -> int:
    stored, unapplied = inbound_counts(url)
    return stored - unapplied


def listings_due(url: str) -> int:
    return query(
        url,
        "SELECT count(*) FROM channels_listing"
        " WHERE is_active AND desired_version > pushed_version",
    )[0]


@pytest.fixture
def stack(tmp_path, request):
    """Redis, a fresh database, a sandbox shop, web, workers and beat."""
    base = urlsplit(os.environ.get("DATABASE_URL", "postgres:///inventory_sync")).path.strip("/")
    name = f"{base}_broker_outage"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    procs = p.Processes(tmp_path, env)
    request.node.fault_processes = procs  # a failure keeps their logs (conftest.py)
    redis = p.ThrowAwayRedis(procs)
    env.update(
        DATABASE_URL=p.fresh_database(name),
        CELERY_BROKER_URL=f"{redis.url}/0",
        CACHE_URL=f"{redis.url}/1",
        SECRET_KEY="outage-test-secret",
        DJANGO_SETTINGS_MODULE="inventory_sync.settings",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        INVENTORY_SYNC_VAR_DIR=str(tmp_path / "var"),
        PYTHONUNBUFFERED="1",
    )
    try:
        redis.start()
        migrated = p.manage(env, "migrate", "--verbosity", "0")
        assert migrated.returncode == 0, migrated.stderr
        shop = p.start_sandbox_shop(procs, access_token=TOKEN)
        world = subprocess.run(
            [p.PYTHON, "-m", "tests.faults.shop_world", shop, TOKEN, SECRET, str(SKUS)],
            cwd=p.ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert world.returncode == 0, world.stderr
        web = p.start_web(procs)
        p.start_workers(procs)
        p.start_beat(procs, tmp_path)
        yield {"env": env, "procs": procs, "redis": redis, "web": web, **json.loads(world.stdout)}
    finally:
        procs.stop_all()
        p.drop_database(name)


def logs_of(procs: p.Processes) -> str:
    """The tail of each process's log; a longer one for a process that exited (its reason)."""
    exited = procs.exited()
    tails = []
    for name in ("web", "worker-ingest", "worker-push", "worker-default", "beat"):
        with contextlib.suppress(FileNotFoundError):
            size = 20_000 if name in exited else 3000
            status = f" (exited with {exited[name]})" if name in exited else ""
            tails.append(f"--- {name}{status}\n" + procs.log(name)[-size:])
    return "\n".join(tails)


def test_a_broker_outage_under_a_webhook_stream_loses_and_refuses_nothing(stack):
    procs, redis, db = stack["procs"], stack["redis"], stack["env"]["DATABASE_URL"]
    stream = WebhookStream(stack["web"], stack["channel"], stack["skus"])
    stream.start()
    try:
        # Workers up and applying (the first events applied) before the broker goes.
        p.wait_for(
            lambda: stream.answered("before") >= 3 * RATE and applied(db) > 0,
            timeout=60,
            what="the stream flowing and the ingest worker applying it",
        )
        redis.stop()
        stream.phase = "outage"
        p.wait_for(lambda: stream.answered("outage") >= 4 * RATE, timeout=60, what="outage")
        redis.start()
        restarted = time.monotonic()
        stream.phase = "after"
        p.wait_for(lambda: stream.answered("after") >= 3 * RATE, timeout=60, what="after")
    finally:
        stream.stop()

    answers = stream.by_status()
    refused = {
        phase: {s: n for s, n in statuses.items() if not 200 <= s < 300}
        for phase, statuses in answers.items()
    }
    assert refused == {"before": {}, "outage": {}, "after": {}}, answers
    sent = sum(sum(statuses.values()) for statuses in answers.values())

    def all_applied_and_pushed():
        stored, unapplied = inbound_counts(db)
        return stored == sent and unapplied == 0 and listings_due(db) == 0

    try:
        p.wait_for(
            all_applied_and_pushed,
            timeout=RECOVERY_SECONDS - (time.monotonic() - restarted),
            what="every stored event applied and every listing pushed after the restart",
            every=0.5,
        )
    except AssertionError as error:
        stored, unapplied = inbound_counts(db)
        raise AssertionError(
            f"{error}: {stored} stored of {sent} answered, {unapplied} not applied, "
            f"{listings_due(db)} listings due\n{logs_of(procs)}"
        ) from None
    measured = (
        f"{sent} webhooks {answers}, slowest answer {stream.slowest:.2f} s; every stored event "
        f"applied and pushed {time.monotonic() - restarted:.1f} s after the broker restart"
    )
    print(measured)
    verified = p.manage(stack["env"], "verify_ledger")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert procs.exited() == {}, f"{measured}\n{logs_of(procs)}"
