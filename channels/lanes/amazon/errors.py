"""The Amazon client's errors: `retryable` says whether trying later can help, `maybe_applied`
whether a write may have reached Amazon although the call failed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from channels.lanes.base import ChannelError
from channels.lanes.calls import CallRecord


class AmazonError(ChannelError):
    """A call that did not succeed. `retryable` tells a task whether trying later can help.

    `status` is the HTTP status (None for timeouts and connection errors), `code` Amazon's
    `errors[0].code` (or `HTTP_<status>`, `TIMEOUT`, `lwa_<error>`...), `errors` the whole
    ErrorList. `maybe_applied` is True when a write may have reached Amazon although the call
    failed: re-read before sending it again.
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str,
        status: int | None = None,
        code: str = "",
        retryable: bool = False,
        errors: Sequence[Mapping[str, Any]] = (),
        maybe_applied: bool = False,
        call: CallRecord | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.status = status
        self.code = code
        self.retryable = retryable
        self.errors = tuple(errors)
        self.maybe_applied = maybe_applied
        self.call = call

    def __str__(self) -> str:
        status = f" HTTP {self.status}" if self.status is not None else ""
        return f"{self.operation}:{status} {self.code}: {self.message}".replace("  ", " ")


class AmazonThrottled(AmazonError):
    """Still throttled after every attempt, or asked to wait longer than `max_wait`:
    try again after `retry_after` seconds."""

    def __init__(self, message: str, *, operation: str, retry_after: float, **kwargs: Any):
        kwargs.setdefault("code", "QuotaExceeded")
        kwargs.setdefault("status", 429)
        super().__init__(message, operation=operation, retryable=True, **kwargs)
        self.retry_after = retry_after


class BadAnswer(ValueError):
    """A 2xx whose body is not what the operation returns."""
