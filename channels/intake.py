"""A WSGI layer in front of Django for the hottest endpoints: POST /webhooks/<kind>/<id>/ of
the lanes that declare a fast receiver (Shopify's).

A flash sale brings hundreds of webhooks a second, and the channel wants each answered within
seconds. The request needs none of the middleware (no session, no CSRF, no user), so this
layer reads the body, calls the same service the lane's Django view calls and answers;
everything else goes to Django untouched.
"""

from __future__ import annotations

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
    413: "Payload Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class WebhookIntake:
    def __init__(self, application: Callable) -> None:
        self.application = application
        self.receivers = {
            lane.kind: lane.fast_receiver for lane in lanes() if lane.fast_receiver is not None
        }

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        match = _PATH.match(environ.get("PATH_INFO", ""))
        receive = self.receivers.get(match.group(1)) if match is not None else None
        if receive is None or environ.get("REQUEST_METHOD") != "POST":
            return self.application(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return _answer(start_response, 413, {"detail": "Body too large or unreadable."})
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        close_old_connections()
        try:
            status, answer = receive(int(match.group(2)), headers, body)
        except Exception:
            logger.exception("webhook intake failed; the channel will deliver again")
            status, answer = 500, {"detail": "Not stored; deliver again."}
        finally:
            close_old_connections()
        return _answer(start_response, status, answer)


def _answer(start_response: Callable, status: int, answer: dict) -> list[bytes]:
    payload = json.dumps(answer).encode()
    start_response(
        f"{status} {_REASONS.get(status, '')}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
    )
    return [payload]
