"""Fixtures for the channel adapter clients: Shopify's schema, its sample answers, and a tiny
HTTP server that replays canned answers so the real `requests` code path runs."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from channels.lanes.shopify.client import ShopifyClient
from channels.lanes.throttle import NoThrottle
from tests.contracts import SHOPIFY

REPO = Path(__file__).resolve().parents[3]
CONTRACTS = SHOPIFY
DATA = CONTRACTS / "responses"
WEBHOOKS = CONTRACTS / "webhooks"
# Database 15: the throttle tests' keys never meet the application's.
REDIS_URL = "redis://127.0.0.1:6379/15"
SCHEMA_SHA256 = "edd0698e75b6d6f30d9ae1a290f5003807f5899583fe3d62e736592576c14640"
SCHEMA_CANDIDATES = [
    os.environ.get("SHOPIFY_SCHEMA_PATH", ""),
    str(CONTRACTS / "admin-2026-04.schema.graphql"),
    str(REPO / "channels/sandbox/shopify/data/admin-2026-04.schema.graphql"),
]


def sample(name: str) -> dict[str, Any]:
    """One of Shopify's sample answers, without the research note."""
    body = json.loads((DATA / name).read_text())
    body.pop("_note", None)
    return body


@pytest.fixture(scope="session")
def shopify_schema():
    from graphql import build_schema

    for candidate in SCHEMA_CANDIDATES:
        path = Path(candidate) if candidate else None
        if path and path.is_file():
            sdl = path.read_bytes()
            assert hashlib.sha256(sdl).hexdigest() == SCHEMA_SHA256, f"{path} is not the pinned SDL"
            # The introspection dump breaks a deprecation rule graphql-core 3.3 checks on
            # interface implementations; it says nothing about the documents we validate.
            return build_schema(sdl.decode(), assume_valid=True)
    pytest.fail(f"Shopify 2026-04 SDL not found in {SCHEMA_CANDIDATES}")


@dataclass(frozen=True, slots=True)
class Reply:
    status: int = 200
    body: bytes = b"{}"
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0

    @classmethod
    def json(cls, payload: Any, status: int = 200, **kwargs: Any) -> Reply:
        return cls(status=status, body=json.dumps(payload).encode(), **kwargs)

    @classmethod
    def sample(cls, name: str, status: int = 200, **kwargs: Any) -> Reply:
        return cls.json(sample(name), status=status, **kwargs)


@dataclass(frozen=True, slots=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def variables(self) -> dict[str, Any]:
        return self.json["variables"]


@dataclass
class CannedShopify:
    """Answers each POST with the next queued reply; records what it received."""

    replies: deque[Reply] = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)
    url: str = ""

    def queue(self, *replies: Reply) -> None:
        self.replies.extend(replies)


def _handler(state: CannedShopify) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.received.append(Received(self.path, dict(self.headers.items()), body))
            reply = state.replies.popleft() if state.replies else Reply(599, b"no canned reply")
            if reply.delay:
                time.sleep(reply.delay)
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply.body)))
                for name, value in reply.headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test); nothing to answer

    return Handler


@pytest.fixture
def shopify_server():
    state = CannedShopify()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


class FakeClock:
    """Time that moves only when the client sleeps; records every requested sleep."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(shopify_server, clock):
    def _make(**kwargs: Any) -> ShopifyClient:
        options: dict[str, Any] = {
            "throttle": NoThrottle(),
            "sleep": clock.sleep,
            "timeout": 2.0,
        }
        options.update(kwargs)
        return ShopifyClient(shopify_server.url, "shpat_test_token", **options)

    return _make


@pytest.fixture(scope="module")
def redis_client():
    """The shared buckets' Redis (test database 15); skipped when Redis does not answer."""
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis does not answer at {REDIS_URL}: {exc}")
    yield client
    client.close()
