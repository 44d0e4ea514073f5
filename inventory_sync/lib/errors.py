"""The error type every service raises for a rule the caller broke.

Edges translate these: the API answers 400/409 with `code` and `detail`, commands print them,
tasks decide retry or give up from `retryable`.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "invalid"
    http_status = 400
    retryable = False

    def __init__(self, detail: str, *, field_errors: dict[str, Any] | None = None, **extra: Any):
        super().__init__(detail)
        self.detail = detail
        self.field_errors = field_errors or {}
        self.extra = extra

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "detail": self.detail}
        if self.field_errors:
            body["errors"] = self.field_errors
        body.update(self.extra)
        return body


class NotFound(DomainError):
    code = "not_found"
    http_status = 404


class Conflict(DomainError):
    code = "conflict"
    http_status = 409
