"""What one Shopify answer means for the call that got it: the classifier the shared retry loop
(`channels.lanes.calls`) asks after every attempt, and the exchange it drives.

In the order they are checked:

- HTTP 429 or THROTTLED: retry after (requestedQueryCost - currentlyAvailable) / restoreRate,
  or 429's `Retry-After`, else the backoff. Never executed, so safe for every operation.
- 401/403/ACCESS_DENIED: `ShopifyAuthError`. 402/423 (a frozen or locked shop):
  `ShopifyUnavailable`, not retried inside this call.
- 5xx, INTERNAL_SERVER_ERROR, a 2xx without `data`: retried after the backoff, or, for a
  mutation that must not run twice, raised as maybe applied.
- Other 4xx and GraphQL errors (validation, MAX_COST_EXCEEDED): `ShopifyQueryError`.
- userErrors that only say our own first request still runs under the idempotency key
  (IDEMPOTENCY_CONCURRENT_REQUEST): retried after the backoff with the same key.
- Transport errors: a connection never made is retried (and its budget refunded); a timeout or
  a reset after connecting is retried, or raised as maybe applied for such a mutation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from graphql import OperationType

from channels.lanes.calls import Action, CallBuilder, RetryPolicy, Verdict
from channels.lanes.throttle import Throttle

from .documents import Document, estimate_cost
from .errors import (
    ShopifyAuthError,
    ShopifyError,
    ShopifyQueryError,
    ShopifyThrottled,
    ShopifyUnavailable,
)
from .parsers import dig
from .values import Cost

RETRY_ON_GRAPHQL_CODES = frozenset({"INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE"})
AUTH_GRAPHQL_CODES = frozenset({"ACCESS_DENIED", "UNAUTHORIZED", "FORBIDDEN"})
THROTTLED_OUTCOMES = ("throttled", "rate_limited")
_NO_CONNECTION = ("NewConnectionError", "NameResolutionError", "ConnectTimeoutError")


@dataclass(frozen=True, slots=True)
class _Seen:
    """One HTTP answer, read once."""

    status: int
    raw: bytes
    headers: Mapping[str, str]
    payload: Any
    cost: Cost | None
    errors: Any  # a list of GraphQL errors; a bare string in REST-style 4xx/429 answers
    codes: set[str]

    @property
    def error_list(self) -> list:
        return self.errors if isinstance(self.errors, list) else []

    def verdict(self, action: Action, outcome: str, error: str | None = None, **rest) -> Verdict:
        return Verdict(action, outcome, self.status, self.raw, error, **rest)


class ShopifyExchange:
    """One GraphQL document sent to one shop, with its budget and its classifier.

    `retry_ambiguous=False` is for mutations that must not run twice (fulfillmentCreate,
    orderCancel): a failure after the request may have reached Shopify is raised as maybe
    applied. `user_errors_at` is where the mutation's userErrors are, and `retry_user_codes` the
    codes among them that mean "ask again with the same key".
    """

    transport_errors = (requests.RequestException,)

    def __init__(
        self,
        document: Document,
        variables: Mapping[str, Any],
        *,
        url: str,
        post: Callable[[bytes], requests.Response],
        throttle: Throttle,
        policy: RetryPolicy,
        retry_ambiguous: bool,
        user_errors_at: tuple[str, ...] | None,
        retry_user_codes: frozenset[str],
    ) -> None:
        self.document = document
        # Encoded once: every retry sends these exact bytes (Shopify compares an idempotent
        # retry's parameters with the first request's).
        body = json.dumps(
            {
                "query": document.text,
                "variables": dict(variables),
                "operationName": document.operation_name,
            },
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode("utf-8")
        self.record = CallBuilder(
            document.operation_name, datetime.now(UTC), url=url, request_body=body
        )
        self._post = post
        self._throttle = throttle
        self._policy = policy
        self._retry_ambiguous = retry_ambiguous
        self._user_errors_at = user_errors_at
        self._retry_user_codes = retry_user_codes
        self._cost_guess = float(estimate_cost(document, variables))

    @property
    def _name(self) -> str:
        return self.document.operation_name

    # ---- what the retry loop asks ----------------------------------------------------------

    def acquire(self) -> float:
        return self._throttle.acquire(self._cost_guess)

    def budget_refused(self, wait: float) -> ShopifyError:
        return ShopifyThrottled(
            f"{self._name}: the shared budget needs {wait:.1f}s", retry_after=wait
        )

    def send(self) -> requests.Response:
        return self._post(self.record.request_body)

    def classify(self, answer: requests.Response | Exception, number: int) -> Verdict:
        if isinstance(answer, Exception):
            return self._transport_failure(answer)
        seen = self._read(answer)
        return (
            self._throttled(seen, number)
            or self._refused(seen)
            or self._server_side(seen)
            or self._invalid(seen)
            or self._concurrent(seen)
            or seen.verdict(Action.OK, "ok", value=seen.payload["data"])
        )

    def exhausted(self, last: Verdict) -> ShopifyError:
        attempts = self._policy.max_attempts
        if last.outcome in THROTTLED_OUTCOMES:
            return ShopifyThrottled(
                f"{self._name}: still throttled after {attempts} attempts",
                retry_after=last.wait,
            )
        mutation = self.document.operation.operation == OperationType.MUTATION
        return ShopifyUnavailable(
            f"{self._name}: {last.outcome} after {attempts} attempts",
            maybe_applied=self.record.reached and mutation,
            code=last.outcome.upper(),
        )

    # ---- the classifier --------------------------------------------------------------------

    def _transport_failure(self, exc: Exception) -> Verdict:
        if not isinstance(exc, requests.Timeout | requests.ConnectionError):
            failure = ShopifyError(f"{self._name}: {exc}", code="REQUEST")
            return Verdict(Action.FAIL, "client_error", error=repr(exc), failure=failure, cause=exc)
        never_sent = _never_sent(exc)
        if isinstance(exc, requests.Timeout) and not never_sent:
            outcome = "timeout"
        else:
            outcome = "connect_error" if never_sent else "connection_error"
        if never_sent:
            self._throttle.refund(self._cost_guess, 0)
        if not never_sent and not self._retry_ambiguous:
            failure = ShopifyUnavailable(
                f"{self._name}: {outcome}, the mutation may have been applied",
                code=outcome.upper(),
            )
            return Verdict(
                Action.MAYBE_APPLIED,
                outcome,
                error=repr(exc),
                failure=failure,
                cause=exc,
                reached=True,
            )
        return Verdict(Action.RETRY, outcome, error=repr(exc), reached=not never_sent)

    def _read(self, response: requests.Response) -> _Seen:
        """Read an answer once, noting the API version served and adopting the bucket it
        reports (or refunding what the query did not spend)."""
        self.record.api_version = response.headers.get("X-Shopify-API-Version")
        self.record.deprecation = response.headers.get("X-Shopify-API-Deprecated-Reason")
        payload = _json_or_none(response.content)
        cost = Cost.from_payload(payload)
        if cost is not None:
            self.record.cost = cost
            if cost.throttle_status is not None:
                self._throttle.observe(cost.throttle_status)
            elif cost.actual is not None:
                self._throttle.refund(self._cost_guess, cost.actual)
            if cost.requested:
                self._cost_guess = cost.requested
        errors = payload.get("errors") if isinstance(payload, dict) else None
        return _Seen(
            response.status_code,
            response.content,
            response.headers,
            payload,
            cost,
            errors,
            _error_codes(errors),
        )

    def _throttled(self, seen: _Seen, number: int) -> Verdict | None:
        if seen.status != 429 and "THROTTLED" not in seen.codes:
            return None
        wait = _throttled_wait(seen.cost)
        if seen.status == 429:
            wait = _retry_after(seen.headers.get("Retry-After"), wait)
        if wait is None or wait <= 0:
            wait = self._policy.backoff(number)
        failure = ShopifyThrottled(f"{self._name}: throttled for {wait:.1f}s", retry_after=wait)
        outcome = "rate_limited" if seen.status == 429 else "throttled"
        return seen.verdict(Action.RETRY, outcome, "THROTTLED", wait=wait, failure=failure)

    def _refused(self, seen: _Seen) -> Verdict | None:
        status = seen.status
        if status in (401, 403) or seen.codes & AUTH_GRAPHQL_CODES:
            message = _first_message(seen.errors) or f"HTTP {status}"
            failure = ShopifyAuthError(
                f"{self._name}: {message}",
                code=next(iter(seen.codes & AUTH_GRAPHQL_CODES), f"HTTP_{status}"),
                errors=seen.error_list,
            )
            return seen.verdict(Action.FAIL, "auth_error", message, failure=failure)
        if status in (402, 423):
            # Shop frozen for billing (402) or locked (423): no retry inside this call helps.
            failure = ShopifyUnavailable(
                f"{self._name}: shop unavailable (HTTP {status})", code=f"HTTP_{status}"
            )
            return seen.verdict(Action.FAIL, "client_error", f"HTTP {status}", failure=failure)
        return None

    def _server_side(self, seen: _Seen) -> Verdict | None:
        status, codes = seen.status, seen.codes
        no_data = not seen.errors and not isinstance(dig(seen.payload, ("data",)), dict)
        if not (
            status >= 500
            or (200 <= status < 300 and (no_data or bool(codes & RETRY_ON_GRAPHQL_CODES)))
        ):
            return None
        outcome = "server_error" if status >= 500 or codes else "bad_answer"
        message = _first_message(seen.errors) or f"HTTP {status}"
        if self._retry_ambiguous:
            return seen.verdict(Action.RETRY, outcome, message, reached=True)
        failure = ShopifyUnavailable(
            f"{self._name}: HTTP {status}, the mutation may have been applied",
            code=f"HTTP_{status}",
        )
        return seen.verdict(Action.MAYBE_APPLIED, outcome, message, failure=failure, reached=True)

    def _invalid(self, seen: _Seen) -> Verdict | None:
        if not 200 <= seen.status < 300:
            failure = ShopifyQueryError(
                f"{self._name}: HTTP {seen.status}: {seen.raw[:300]!r}",
                code=f"HTTP_{seen.status}",
            )
            return seen.verdict(Action.FAIL, "client_error", f"HTTP {seen.status}", failure=failure)
        if seen.errors:
            message = _first_message(seen.errors) or "GraphQL error"
            failure = ShopifyQueryError(
                f"{self._name}: {message}",
                code=next(iter(sorted(seen.codes)), "GRAPHQL_ERROR"),
                errors=seen.error_list,
            )
            return seen.verdict(Action.FAIL, "graphql_error", message, failure=failure)
        return None

    def _concurrent(self, seen: _Seen) -> Verdict | None:
        if not (self._user_errors_at and self._retry_user_codes):
            return None
        found = {e.get("code") for e in (dig(seen.payload["data"], self._user_errors_at) or [])}
        if not found or not found <= self._retry_user_codes:
            return None
        # IDEMPOTENCY_CONCURRENT_REQUEST: our own first request still runs under this key;
        # asking again with the same key returns its result.
        codes = ",".join(sorted(str(c) for c in found))
        return seen.verdict(Action.RETRY, "user_error_retry", codes)


def _json_or_none(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _error_codes(errors: Any) -> set[str]:
    if not isinstance(errors, list):
        return set()
    codes = set()
    for error in errors:
        if isinstance(error, dict):
            code = (error.get("extensions") or {}).get("code")
            if code:
                codes.add(str(code))
    return codes


def _first_message(errors: Any) -> str | None:
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("message") or "") or None
    if isinstance(errors, str):  # REST-style {"errors": "..."} on some 4xx/429 answers
        return errors
    return None


def _throttled_wait(cost: Cost | None) -> float | None:
    if cost is None or cost.requested is None or cost.throttle_status is None:
        return None
    status = cost.throttle_status
    if status.restore_rate <= 0:
        return None
    wait = (cost.requested - status.currently_available) / status.restore_rate
    return wait if wait > 0 else None


def _retry_after(header: str | None, fallback: float | None) -> float | None:
    if not header:
        return fallback
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return fallback
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _never_sent(exc: BaseException) -> bool:
    """True when the request cannot have reached Shopify: no connection was ever made.

    requests wraps urllib3's error as ConnectionError(MaxRetryError(reason=...)); a reset or a
    read timeout after connecting is ambiguous and does not count.
    """
    if isinstance(exc, requests.ConnectTimeout):
        return True
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if type(current).__name__ in _NO_CONNECTION:
            return True
        linked = [*current.args, getattr(current, "reason", None), current.__cause__]
        pending.extend(e for e in linked if isinstance(e, BaseException))
    return False
