"""What one SP-API answer (or presigned document transfer) means for the call that got it: the
classifiers the shared retry loop (`channels.lanes.calls`) asks after every attempt, and the
exchanges it drives.

SP-API, in the order they are checked:

- HTTP 429: the shared bucket is emptied (Amazon says it is) and the call retries after at
  least 1/rate seconds, jittered (×1–1.5, growing with the attempt).
- 5xx: retried after the backoff; the request may have reached Amazon.
- 401/403 to a token taken from the cache: the token is dropped and the request sent once more
  under a fresh one (renew). A fresh token refused is permanent, like every other 4xx (a 404
  the caller expects is an answer). A write refused after an earlier attempt may have reached
  Amazon is maybe applied (a confirmShipment answered 400 after a timed-out first attempt).
- LWA failures: 5xx/429 and no answer are retried; a refusal (`invalid_grant`) is permanent.
- Transport errors: retried after the backoff; one before the request left (no connection, the
  token fetch) gives its budget back.
- A 2xx whose body is not what the operation returns: retried on a read; on a write it is maybe
  applied and never sent again.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from sp_api.auth.exceptions import AuthorizationError

from channels.lanes.calls import Action, CallBuilder, RetryPolicy, Verdict

from .errors import AmazonError, AmazonThrottled, BadAnswer
from .library import HttpFailure, Reply
from .parsers import errors_of, no_body
from .usage_plans import USAGE_PLANS, RateBuckets

NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class SpApiExchange:
    """One SP-API operation for one seller, with its bucket, its token and its classifier.

    `api()` gives the library's API object, `send(api)` makes the library call, `parse` turns
    the JSON body into the result; with `not_found_ok` a 404 is the answer None.
    `forget_token()` drops the cached token and says whether the refused one came from it.
    """

    transport_errors = (HttpFailure, AuthorizationError, httpx.HTTPError)

    def __init__(
        self,
        operation: str,
        *,
        api: Callable[[], Any],
        send: Callable[[Any], Reply],
        parse: Callable[[Any], Any],
        not_found_ok: bool,
        buckets: RateBuckets,
        forget_token: Callable[[], bool],
        endpoint: str,
        policy: RetryPolicy,
    ) -> None:
        self.operation = operation
        self.plan = USAGE_PLANS[operation]
        self.record = CallBuilder(operation, datetime.now(UTC))
        self._api = api
        self._send = send
        self._parse = parse
        self._not_found_ok = not_found_ok
        self._buckets = buckets
        self._forget_token = forget_token
        self._endpoint = endpoint
        self._policy = policy
        self._renewed = False

    # ---- what the retry loop asks ----------------------------------------------------------

    def acquire(self) -> float:
        # The library's API object is built before the budget is taken: its first construction
        # takes tens of ms, which would otherwise put our bucket's clock ahead of Amazon's (a
        # 429 in a burst).
        self._api()
        return self._buckets.bucket(self.operation).acquire(1.0)

    def budget_refused(self, wait: float) -> AmazonError:
        return AmazonThrottled(
            f"the shared budget needs {wait:.1f}s",
            operation=self.operation,
            retry_after=wait,
            status=None,
        )

    def send(self) -> Reply:
        return self._send(self._api())

    def classify(self, answer: Any, number: int) -> Verdict:
        if isinstance(answer, HttpFailure):
            return self._refused(answer.response, number)
        if isinstance(answer, AuthorizationError):
            return self._token_failure(answer)
        if isinstance(answer, httpx.HTTPError):
            return self._transport_failure(answer)
        return self._answered(answer)

    def exhausted(self, last: Verdict) -> AmazonError:
        failure = last.failure
        if isinstance(failure, AmazonThrottled):
            attempts = self._policy.max_attempts
            failure.message = f"still throttled after {attempts} attempts: {failure.message}"
            failure.args = (failure.message,)
        elif self.plan.write and self.record.reached:
            failure.maybe_applied = True
        return failure

    # ---- the classifier --------------------------------------------------------------------

    def _refused(self, response: httpx.Response, number: int) -> Verdict:
        """A non-2xx answer from SP-API."""
        note_request(self.record, response.request)
        status = response.status_code
        errors, code, message = _error_summary(response.content, status)
        self._buckets.observe_rate_limit(
            self.operation, response.headers.get("x-amzn-RateLimit-Limit")
        )
        seen = functools.partial(
            Verdict,
            http_status=status,
            body=response.content,
            error=message,
            request_id=response.headers.get("x-amzn-RequestId"),
        )
        failure = functools.partial(
            AmazonError, message, operation=self.operation, status=status, code=code
        )
        if status == 429:
            self._buckets.drain(self.operation)
            wait = self._throttled_wait(number)
            throttled = AmazonThrottled(
                message, operation=self.operation, retry_after=wait, code=code, errors=errors
            )
            return seen(Action.RETRY, "throttled", wait=wait, failure=throttled)
        if status >= 500:
            error = failure(retryable=True, errors=errors)
            return seen(Action.RETRY, "server_error", failure=error, reached=True)
        outcome = "auth_error" if status in (401, 403) else "client_error"
        if status in (401, 403) and self._forget_token() and not self._renewed:
            # A cached token Amazon no longer takes: a refused request changed nothing, so it
            # is sent once more under a fresh token. A fresh token refused is a real
            # authorisation problem (a missing role, a revoked app) and is raised.
            self._renewed = True
            return seen(Action.RENEW, outcome, failure=failure())
        if status == 404 and self._not_found_ok:
            return seen(Action.OK, outcome, value=None)
        maybe_applied = self.plan.write and self.record.reached
        error = failure(errors=errors, maybe_applied=maybe_applied)
        return seen(Action.FAIL, outcome, failure=error)

    def _token_failure(self, exc: AuthorizationError) -> Verdict:
        """LWA did not give a token: no SP-API request left."""
        self._buckets.bucket(self.operation).refund(1.0, 0.0)
        status = exc.status_code
        message = f"LWA token: {exc.message or exc.error_code}"
        failure = functools.partial(
            AmazonError,
            message,
            operation=self.operation,
            status=status,
            code=f"lwa_{exc.error_code or 'error'}",
        )
        if status is None or status >= 500 or status == 429:
            error = failure(retryable=True)
            return Verdict(Action.RETRY, "server_error", status, error=message, failure=error)
        error = failure(maybe_applied=self.plan.write and self.record.reached)
        return Verdict(Action.FAIL, "auth_error", status, error=message, failure=error, cause=exc)

    def _transport_failure(self, exc: httpx.HTTPError) -> Verdict:
        """Timeouts, connection errors, and an undecodable answer."""
        request = None
        with contextlib.suppress(RuntimeError):  # an error raised before sending
            request = exc.request
        # A failure while fetching the LWA token: the SP-API request never left, and the token
        # request (its form carries the client secret) is never recorded.
        token_phase = request is not None and not str(request.url).startswith(self._endpoint)
        if request is not None and not token_phase:
            note_request(self.record, request)
        never_sent = token_phase or isinstance(exc, NEVER_SENT)
        if never_sent:
            outcome = "connect_error"
            self._buckets.bucket(self.operation).refund(1.0, 0.0)
        elif isinstance(exc, httpx.TimeoutException):
            outcome = "timeout"
        else:
            outcome = "connection_error"
        failure = AmazonError(
            f"{outcome}: {exc}", operation=self.operation, code=outcome.upper(), retryable=True
        )
        return Verdict(
            Action.RETRY, outcome, error=repr(exc), failure=failure, reached=not never_sent
        )

    def _answered(self, reply: Reply) -> Verdict:
        """A 2xx answer: the result, or a body that is not what the operation returns."""
        note_request(self.record, reply.response.request)
        self._buckets.observe_rate_limit(
            self.operation, reply.headers.get("x-amzn-RateLimit-Limit")
        )
        seen = functools.partial(
            Verdict,
            http_status=reply.status,
            body=reply.body,
            request_id=reply.headers.get("x-amzn-RequestId"),
        )
        try:
            result = None if self._parse is no_body else self._parse(reply.json())
        except (BadAnswer, ValueError, KeyError, TypeError) as exc:
            failure = AmazonError(
                f"unexpected answer: {exc}",
                operation=self.operation,
                status=reply.status,
                code="BAD_ANSWER",
                retryable=True,
                maybe_applied=self.plan.write,
            )
            # A write was applied, or not: sending it again could apply it twice.
            action = Action.MAYBE_APPLIED if self.plan.write else Action.RETRY
            return seen(
                action, "bad_answer", error=str(exc), failure=failure, cause=exc, reached=True
            )
        return seen(Action.OK, "ok", value=result)

    def _throttled_wait(self, number: int) -> float:
        policy = self._policy
        floor = 1.0 / self._buckets.rate(self.operation)
        step = max(floor, min(policy.backoff_cap, policy.backoff_base * 2 ** (number - 1)))
        return step * (1.0 + policy.rng.uniform(0.0, 0.5))


class DocumentTransfer:
    """A PUT or GET of a presigned document URL: not SP-API, so no bucket and no token.

    `request()` sends it. 5xx and 429 are retried after the backoff; another refusal means the
    URL expired or was refused, and the caller starts over with a new document.
    """

    transport_errors = (httpx.HTTPError,)

    def __init__(self, operation: str, method: str, request: Callable[[], httpx.Response]):
        self.record = CallBuilder(operation, datetime.now(UTC))
        self._method = method
        self._request = request

    def acquire(self) -> float:
        return 0.0  # presigned URLs are not rate-limited by a usage plan

    def budget_refused(self, wait: float) -> AmazonError:
        return AmazonThrottled(
            f"the transfer needs {wait:.1f}s",
            operation=self.record.operation,
            retry_after=wait,
            status=None,
        )

    def send(self) -> httpx.Response:
        return self._request()

    def classify(self, answer: httpx.Response | httpx.HTTPError, number: int) -> Verdict:
        operation = self.record.operation
        if isinstance(answer, httpx.HTTPError):
            outcome = (
                "timeout" if isinstance(answer, httpx.TimeoutException) else "connection_error"
            )
            failure = AmazonError(
                f"{outcome}: {answer}", operation=operation, code=outcome.upper(), retryable=True
            )
            return Verdict(Action.RETRY, outcome, error=repr(answer), failure=failure)
        note_request(self.record, answer.request)
        status = answer.status_code
        body = answer.content if self._method == "GET" else answer.content[:2000]
        if 200 <= status < 300:
            kept = None if self._method == "GET" else body
            return Verdict(Action.OK, "ok", status, kept, value=answer.content)
        message = answer.text[:200] or f"HTTP {status}"
        seen = functools.partial(Verdict, http_status=status, body=body, error=message)
        failure = functools.partial(
            AmazonError, message, operation=operation, status=status, code=f"HTTP_{status}"
        )
        if status >= 500 or status == 429:
            return seen(Action.RETRY, "server_error", failure=failure(retryable=True))
        return seen(Action.FAIL, "client_error", failure=failure())

    def exhausted(self, last: Verdict) -> AmazonError:
        return last.failure


def note_request(record: CallBuilder, request: httpx.Request | None) -> None:
    """Keep what was sent (method, URL, body) in the call's record."""
    if request is None:
        return
    record.method = request.method
    record.url = str(request.url)
    try:
        record.request_body = request.content or None
    except httpx.RequestNotRead:
        record.request_body = None


def _error_summary(raw: bytes, status: int) -> tuple[list[dict[str, Any]], str, str]:
    """Amazon's ErrorList, its first code and its first message with details (or the status
    and the start of the body, for an error page without one)."""
    errors = errors_of(raw)
    code = str(errors[0].get("code") or "") if errors else ""
    message = str(errors[0].get("message") or "") if errors else ""
    details = str(errors[0].get("details") or "") if errors else ""
    if details and details != message:
        message = f"{message} ({details})" if message else details
    code = code or f"HTTP_{status}"
    message = message or (raw[:200].decode("utf-8", "replace") or f"HTTP {status}")
    return errors, code, message
