"""Fixtures for the Shopify sandbox tests: one server per session, a fresh shop per test.

Nothing here touches the database; every test talks to the sandbox over real HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from channels.sandbox.shopify import ManualClock, SandboxHandle, serve_in_thread
from tests.channels.sandbox.shopify.support import WEBHOOK_SECRET, Shop, WebhookReceiver


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxHandle]:
    # A manual clock: the throttle bucket only refills when a test advances it.
    handle = serve_in_thread(clock=ManualClock())
    yield handle
    handle.stop()


@pytest.fixture
def shop(sandbox_server: SandboxHandle) -> Iterator[Shop]:
    sandbox_server.sandbox.reset()
    sandbox_server.sandbox.config.throttle_http_status = 200
    client = Shop(sandbox_server)
    yield client
    client.session.close()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    yield server
    server.close()


@pytest.fixture
def subscribed(shop: Shop, receiver: WebhookReceiver) -> WebhookReceiver:
    """The shop delivers every topic to the receiver with small delays and no duplicates."""
    shop.control(
        "POST",
        "webhooks",
        {"url": receiver.url, "secret": WEBHOOK_SECRET, "delay_ms": [0, 5], "seed": 7},
        expect=200,
    )
    return receiver
