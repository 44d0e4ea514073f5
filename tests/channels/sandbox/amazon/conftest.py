"""Fixtures for the SP-API sandbox tests: one server per session on a ManualClock, a fresh
account per test. Nothing here touches the database; tests talk to the sandbox over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sp_api.auth.access_token_client as access_token_client

from channels.sandbox.amazon import ManualClock, SandboxHandle, serve_in_thread
from tests.channels.sandbox.amazon.support import NotificationReceiver, SpApi


@pytest.fixture(scope="session")
def amazon_server() -> Iterator[SandboxHandle]:
    # A manual clock: buckets refill, patches apply and feeds finish only when a test says so.
    handle = serve_in_thread(clock=ManualClock())
    yield handle
    handle.stop()


@pytest.fixture
def handle(amazon_server: SandboxHandle) -> Iterator[SandboxHandle]:
    sandbox = amazon_server.sandbox
    saved = dict(vars(sandbox.config))
    sandbox.reset()
    # python-amazon-sp-api caches access tokens per refresh token in a module global; the
    # sandbox forgets its tokens on reset, so the cache must go too.
    access_token_client.cache.clear()
    yield amazon_server
    sandbox.stop_buyers()
    # Every answer the sandbox gave during the test matches the official model.
    assert sandbox.request_log.invalid_responses() == []
    vars(sandbox.config).update(saved)
    sandbox.set_rate_limits(enabled=saved["rate_limits"], scale=saved["rate_scale"])


@pytest.fixture
def sandbox(handle: SandboxHandle):
    return handle.sandbox


@pytest.fixture
def clock(sandbox) -> ManualClock:
    return sandbox.config.clock


@pytest.fixture
def api(handle: SandboxHandle) -> Iterator[SpApi]:
    client = SpApi(handle)
    yield client
    client.session.close()


@pytest.fixture
def receiver() -> Iterator[NotificationReceiver]:
    server = NotificationReceiver()
    yield server
    server.close()
