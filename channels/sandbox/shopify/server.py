"""Run the sandbox on a real socket: in a thread for tests, in the foreground for the demo."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from werkzeug.serving import BaseWSGIServer

from channels.sandbox.common import server as common_server

from .app import make_app
from .model import SandboxConfig, ShopifySandbox
from .schema import admin_schema


@dataclass
class SandboxHandle(common_server.SandboxHandle):
    sandbox: ShopifySandbox

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/admin/api/{self.sandbox.config.api_version}/graphql.json"

    @property
    def shop_domain(self) -> str:
        return self.sandbox.config.shop_domain

    @property
    def access_token(self) -> str:
        return self.sandbox.config.access_token


def build_server(
    host: str = "127.0.0.1", port: int = 0, sandbox: ShopifySandbox | None = None, **config: Any
) -> tuple[BaseWSGIServer, ShopifySandbox]:
    sandbox = sandbox or ShopifySandbox(SandboxConfig(), **config)
    admin_schema()  # pay the 1.6 s schema build before the first request, not during it
    return common_server.threaded_server(host, port, make_app(sandbox)), sandbox


def serve_in_thread(
    host: str = "127.0.0.1", port: int = 0, *, sandbox: ShopifySandbox | None = None, **config: Any
) -> SandboxHandle:
    """Start a threaded sandbox server; port 0 picks a free port. `config` = SandboxConfig fields."""
    server, sandbox = build_server(host, port, sandbox, **config)
    thread = common_server.start_thread(server, "shopify-sandbox")
    return SandboxHandle(
        url=f"http://{host}:{server.server_port}", sandbox=sandbox, server=server, thread=thread
    )
