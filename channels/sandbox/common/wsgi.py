"""The plumbing of a sandbox's WSGI app: JSON in and out, the `/_sandbox/` control routes,
refusals answered as JSON errors, a dropped connection, and the fault book's control endpoint."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from .errors import SandboxError

# (path, endpoint, "GET,POST"): the app answers an endpoint with its method `_<endpoint>`.
Routes = list[tuple[str, str, str]]


def url_map(routes: Routes, **options: Any) -> Map:
    return Map(
        [
            Rule(path, endpoint=endpoint, methods=methods.split(","))
            for path, endpoint, methods in routes
        ],
        **options,
    )


def routes_json(routes: Routes) -> list[dict]:
    return [{"path": p, "methods": m.split(",")} for p, _, m in routes]


def json_response(data: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(
        json.dumps(data, default=str),
        status=status,
        headers=headers or {},
        content_type="application/json; charset=utf-8",
    )


def json_body(request: Request) -> dict:
    raw = request.get_data()
    if not raw:
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise SandboxError("the request body must be a JSON object")
    return data


def drop_connection(environ: dict) -> Response:
    """Close the client's socket without an answer (the empty response goes nowhere)."""
    connection = environ.get("werkzeug.socket")
    if connection is not None:
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)
    return Response(b"", status=200)


class SandboxApp:
    """WSGI callable around one sandbox. `_dispatch` answers a request; a refused action
    (SandboxError), an unknown route or method and a malformed control request become JSON
    errors. `_control` routes by `url_map` to the method `_<endpoint>`."""

    url_map: Map

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self._dispatch(request)
        except SandboxError as exc:
            response = json_response(exc.as_json(), exc.status)
        except (MethodNotAllowed, NotFound) as exc:
            response = json_response(
                {"error": exc.name, "message": exc.description}, exc.code or 404
            )
        except HTTPException as exc:
            response = exc.get_response(environ)
        except (ValueError, KeyError, TypeError) as exc:
            response = json_response(
                {"error": "invalid", "message": f"{type(exc).__name__}: {exc}"}, 400
            )
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        return self._control(request)

    def _control(self, request: Request) -> Response:
        endpoint, values = self.url_map.bind_to_environ(request.environ).match()
        return getattr(self, f"_{endpoint}")(request, **values)

    # control API ------------------------------------------------------------------------------
    def _fault_options(self, data: dict) -> dict:
        """Fields of `POST faults` beyond kind, count, match, seconds and apply."""
        return {}

    def _faults(self, request: Request) -> Response:
        book = self.sandbox.faults
        if request.method == "POST":
            data = json_body(request)
            fault = book.add(
                data["kind"],
                int(data.get("count", 1)),
                match=data.get("match"),
                seconds=float(data.get("seconds", 0.0)),
                **self._fault_options(data),
                apply=data.get("apply"),
            )
            return json_response({"fault": fault.as_json()}, 201)
        if request.method == "DELETE":
            book.clear()
        return json_response({"faults": book.pending(), "kinds": book.kinds})
