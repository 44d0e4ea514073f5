"""Run the sandbox on a real socket: in a thread for tests, in the foreground for the demo."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from werkzeug.serving import BaseWSGIServer

from channels.sandbox.common import server as common_server

from .app import SandboxApp, make_app
from .model import AmazonSandbox, SandboxConfig
from .spec import spec


@dataclass
class SandboxHandle(common_server.SandboxHandle):
    sandbox: AmazonSandbox

    @property
    def token_url(self) -> str:
        """The LWA endpoint (`POST`, form-encoded), in place of https://api.amazon.com/auth/o2/token."""
        return f"{self.url}/auth/o2/token"

    @property
    def control_url(self) -> str:
        return f"{self.url}/_sandbox"

    @property
    def client_id(self) -> str:
        return self.sandbox.config.client_id

    @property
    def client_secret(self) -> str:
        return self.sandbox.config.client_secret

    @property
    def seller_id(self) -> str:
        return self.sandbox.config.default_seller_id

    @property
    def refresh_token(self) -> str:
        return self.sandbox.seller().refresh_token

    def credentials(self, seller_id: str | None = None) -> dict:
        """What python-amazon-sp-api takes as `credentials=`."""
        return {
            "refresh_token": self.sandbox.seller(seller_id).refresh_token,
            "lwa_app_id": self.client_id,
            "lwa_client_secret": self.client_secret,
        }


def build_server(
    host: str = "127.0.0.1",
    port: int = 0,
    sandbox: AmazonSandbox | None = None,
    public_url: str | None = None,
    **config: Any,
) -> tuple[BaseWSGIServer, AmazonSandbox]:
    sandbox = sandbox or AmazonSandbox(SandboxConfig(), **config)
    spec()  # load the models before the first request, not during it
    app = make_app(sandbox)
    server = common_server.threaded_server(host, port, app)
    # Document URLs must name a reachable address; the Host header of python-amazon-sp-api
    # requests is wrong for http:// endpoints, so the server says where it listens.
    app.base_url = public_url or f"http://{host}:{server.server_port}"
    return server, sandbox


def serve_in_thread(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    sandbox: AmazonSandbox | None = None,
    public_url: str | None = None,
    **config: Any,
) -> SandboxHandle:
    """Start a threaded sandbox server; port 0 picks a free port. `config` = SandboxConfig
    fields (clock=ManualClock(), rate_scale=10.0, patch_apply_delay=0.5, ...)."""
    server, sandbox = build_server(host, port, sandbox, public_url, **config)
    thread = common_server.start_thread(server, "amazon-sandbox")
    app: SandboxApp = server.app  # type: ignore[attr-defined]
    return SandboxHandle(url=app.base_url or "", sandbox=sandbox, server=server, thread=thread)
