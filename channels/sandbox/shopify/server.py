"""Run the sandbox on a real socket: in a thread for tests, in the foreground for the demo."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .app import make_app
from .model import SandboxConfig, ShopifySandbox
from .schema import admin_schema


class _QuietHandler(WSGIRequestHandler):
    # Per-request access lines drown test output; errors still go to stderr.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@dataclass
class SandboxHandle:
    url: str
    sandbox: ShopifySandbox
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/admin/api/{self.sandbox.config.api_version}/graphql.json"

    @property
    def shop_domain(self) -> str:
        return self.sandbox.config.shop_domain

    @property
    def access_token(self) -> str:
        return self.sandbox.config.access_token

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        self.sandbox.close()

    def __enter__(self) -> SandboxHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def build_server(
    host: str = "127.0.0.1", port: int = 0, sandbox: ShopifySandbox | None = None, **config: Any
) -> tuple[BaseWSGIServer, ShopifySandbox]:
    sandbox = sandbox or ShopifySandbox(SandboxConfig(), **config)
    admin_schema()  # pay the 1.6 s schema build before the first request, not during it
    server = make_server(
        host, port, make_app(sandbox), threaded=True, request_handler=_QuietHandler
    )
    # Threads of a stopped server must not keep the process (or pytest) alive.
    server.daemon_threads = True
    return server, sandbox


def serve_in_thread(
    host: str = "127.0.0.1", port: int = 0, *, sandbox: ShopifySandbox | None = None, **config: Any
) -> SandboxHandle:
    """Start a threaded sandbox server; port 0 picks a free port. `config` = SandboxConfig fields."""
    server, sandbox = build_server(host, port, sandbox, **config)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="shopify-sandbox",
        daemon=True,
    )
    thread.start()
    return SandboxHandle(
        url=f"http://{host}:{server.server_port}", sandbox=sandbox, server=server, thread=thread
    )
