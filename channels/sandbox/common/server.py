"""Run a sandbox on a real socket: in a thread for tests, in the foreground for the demo."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class QuietHandler(WSGIRequestHandler):
    # Per-request access lines drown test output; errors still go to stderr.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@dataclass
class SandboxHandle:
    """A sandbox served from a thread; `stop()` (or leaving the `with` block) shuts it down."""

    url: str
    sandbox: Any  # has close()
    server: BaseWSGIServer
    thread: threading.Thread

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        self.sandbox.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def threaded_server(host: str, port: int, app: Callable) -> BaseWSGIServer:
    """A threaded werkzeug server for `app`; port 0 picks a free port."""
    server = make_server(host, port, app, threaded=True, request_handler=QuietHandler)
    # Threads of a stopped server must not keep the process (or pytest) alive.
    server.daemon_threads = True
    return server


def start_thread(server: BaseWSGIServer, name: str) -> threading.Thread:
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=name,
        daemon=True,
    )
    thread.start()
    return thread


def serve_forever(server: BaseWSGIServer, sandbox: Any, banner: dict) -> int:
    """The demo: print where the sandbox is (`banner`, as JSON), serve until interrupted, then
    close the server and the sandbox. Returns the exit status."""
    print(json.dumps(banner, indent=2), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sandbox.close()
    return 0
