"""Shopify's errors, each saying whether trying again later can help (`retryable`) and whether a
mutation may have run without an answer (`maybe_applied`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from channels.lanes.base import ChannelError
from channels.lanes.calls import CallRecord

from .values import UserError


class ShopifyError(ChannelError):
    """Base error. `retryable` tells a task whether trying again later can help."""

    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        call: CallRecord | None = None,
        code: str | None = None,
        errors: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.call = call
        self.code = code
        self.errors = tuple(errors)


class ShopifyAuthError(ShopifyError):
    """401/403 or ACCESS_DENIED: the token is wrong, revoked or lacks a scope."""


class ShopifyQueryError(ShopifyError):
    """The request itself is wrong (GraphQL validation, MAX_COST_EXCEEDED, other 4xx)."""


class ShopifyUserError(ShopifyError):
    """The mutation ran and refused the input (`userErrors`)."""

    def __init__(
        self, message: str, *, user_errors: Sequence[UserError], call: CallRecord | None = None
    ) -> None:
        code = user_errors[0].code if user_errors else None
        super().__init__(message, call=call, code=code)
        self.user_errors = tuple(user_errors)


class ShopifyThrottled(ShopifyError):
    """Still throttled after every attempt, or asked to wait longer than `max_wait`."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float, call: CallRecord | None = None):
        super().__init__(message, call=call, code="THROTTLED")
        self.retry_after = retry_after


class ShopifyUnavailable(ShopifyError):
    """5xx, timeouts, connection errors after every attempt, or a shop that is locked.

    `maybe_applied` is True when a mutation may have run although no answer came back: the
    caller must re-read the channel before deciding to send it again.
    """

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        maybe_applied: bool = False,
        call: CallRecord | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, call=call, code=code)
        self.maybe_applied = maybe_applied
