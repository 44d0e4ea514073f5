"""A WSGI layer in front of Django for the hottest endpoints: POST /webhooks/<kind>/<id>/ of
the lanes that declare a fast receiver (Shopify's).

A flash sale brings hundreds of webhooks a second, and the channel wants each answered within
seconds. The request needs none of the middleware (no session, no CSRF, no user), so this
layer reads the body, calls the same service the lane's Django view calls and answers;
everything else goes to Django untouched, except a chunked body (Transfer-Encoding: chunked,
no Content-Length) to any lane's webhook: Django reads only Content-Length bytes, so this
layer reads it (bounded) and hands Django the bytes it read.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterable

from django.conf import settings
from django.db import close_old_connections

from .lanes.registry import lanes

logger = logging.getLogger(__name__)

_PATH = re.compile(r"^/webhooks/(\w+)/(\d+)/$")
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    409: "Conflict",
    411: "Length Required",
    413: "Payload Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class BodyRefused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def read_body(environ: dict, limit: int) -> bytes:
    """The request body, at most `limit` bytes, or BodyRefused (400, 411, 413).

    With Content-Length, exactly that many bytes. Chunked, only when the server says its input
    ends with the body (`wsgi.input_terminated`: gunicorn de-chunks and ends the stream there);
    otherwise reading to the end would wait for a keep-alive client to hang up, so 411.
    """
    stream = environ["wsgi.input"]
    declared = environ.get("CONTENT_LENGTH") or ""
    if declared:
        if not (declared.isascii() and declared.isdigit()):
            raise BodyRefused(400, "Content-Length is not a number.")
        if int(declared) > limit:
            raise BodyRefused(413, f"Body larger than {limit} bytes.")
        return stream.read(int(declared)) if int(declared) else b""
    if "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return b""
    if not environ.get("wsgi.input_terminated"):
        raise BodyRefused(411, "Send a Content-Length: this server cannot end a chunked body.")
    parts, size = [], 0
    while size <= limit:
        part = stream.read(min(64 * 1024, limit + 1 - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    if size > limit:
        raise BodyRefused(413, f"Body larger than {limit} bytes.")
    return b"".join(parts)


class WebhookIntake:
    def __init__(self, application: Callable) -> None:
        self.application = application
        self.kinds = {lane.kind for lane in lanes()}
        self.receivers = {
            lane.kind: lane.fast_receiver for lane in lanes() if lane.fast_receiver is not None
        }

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        match = _PATH.match(environ.get("PATH_INFO", ""))
        if match is None or environ.get("REQUEST_METHOD") != "POST":
            return self.application(environ, start_response)
        receive = self.receivers.get(match.group(1))
        if receive is None and not self._chunked_for_django(match.group(1), environ):
            return self.application(environ, start_response)
        try:
            body = read_body(environ, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        except BodyRefused as refused:
            return _answer(start_response, refused.status, {"detail": refused.detail})
        if receive is None:
            return self.application(_with_body(environ, body), start_response)
        return self._receive(receive, int(match.group(2)), environ, body, start_response)

    def _chunked_for_django(self, kind: str, environ: dict) -> bool:
        return (
            kind in self.kinds
            and not environ.get("CONTENT_LENGTH")
            and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        )

    @staticmethod
    def _receive(
        receive: Callable, channel_id: int, environ: dict, body: bytes, start_response: Callable
    ) -> list[bytes]:
        headers = {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        close_old_connections()
        try:
            status, answer = receive(channel_id, headers, body)
        except Exception:
            logger.exception("webhook intake failed; the channel will deliver again")
            status, answer = 500, {"detail": "Not stored; deliver again."}
        finally:
            close_old_connections()
        return _answer(start_response, status, answer)


def _with_body(environ: dict, body: bytes) -> dict:
    """The request as Django reads it: the de-chunked body with its length."""
    environ = dict(environ, CONTENT_LENGTH=str(len(body)))
    environ["wsgi.input"] = io.BytesIO(body)
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    return environ


def _answer(start_response: Callable, status: int, answer: dict) -> list[bytes]:
    payload = json.dumps(answer).encode()
    start_response(
        f"{status} {_REASONS.get(status, '')}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
    )
    return [payload]
