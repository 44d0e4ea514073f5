"""One logical call to a channel's API, tried until it is answered: the retry loop every lane's
client shares, and the record of what happened on the wire.

A client describes one call as an `Exchange`: how to reserve budget, how to send, and a
classifier that turns each answer (a response, or the transport error raised instead) into a
`Verdict`, one of:

- OK: the answer is the result (a 404 the caller expects counts too);
- RETRY: try again after `wait` seconds, the channel's own rate limit (a wait longer than
  `max_wait` is not slept: `failure` is raised so a task can reschedule itself), or after the
  jittered exponential backoff when `wait` is None;
- RENEW: the channel refused credentials that the classifier has just dropped: again at once;
- FAIL: a permanent error, raised as it is;
- MAYBE_APPLIED: a write that may have landed although no usable answer came back: raised
  with `maybe_applied`, never sent again (the caller re-reads the channel first).

The loop sleeps, waits for the shared budget, records every attempt and reports every finished
call, answered or raised, to the client's `report` hook (PushAttempt rows, counters). Out of
attempts, it raises what the exchange makes of the last verdict.
"""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from channels.lanes.base import ChannelError

# How many times one call asks the shared budget before giving up: a throttle whose clock does
# not move (or a broken one) must not spin forever.
BUDGET_TRIES = 20


# --- records of what happened on the wire ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attempt:
    number: int
    # ok | throttled | rate_limited | server_error | bad_answer | timeout | connection_error
    # | connect_error | auth_error | client_error | graphql_error | user_error_retry
    outcome: str
    http_status: int | None
    latency_s: float
    waited_s: float  # slept before this attempt (backoff, the channel's wait, shared budget)
    response_body: bytes | None
    error: str | None = None
    request_id: str | None = None  # Amazon's x-amzn-RequestId, what its support asks for


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One logical call: what a PushAttempt row stores (request and answers, raw).

    `method`, `cost`, `api_version` and `deprecation` are what one kind of channel tells and
    another does not: None where it does not.
    """

    operation: str
    url: str | None
    request_body: bytes | None
    started_at: datetime
    attempts: tuple[Attempt, ...]
    method: str | None = None
    cost: Any = None  # Shopify: the query's Cost (requested, actual, the bucket after it)
    api_version: str | None = None  # Shopify: X-Shopify-API-Version, the version served
    deprecation: str | None = None  # Shopify: X-Shopify-API-Deprecated-Reason

    @property
    def http_status(self) -> int | None:
        return self.attempts[-1].http_status if self.attempts else None

    @property
    def response_body(self) -> bytes | None:
        return self.attempts[-1].response_body if self.attempts else None

    @property
    def request_id(self) -> str | None:
        return self.attempts[-1].request_id if self.attempts else None

    @property
    def latency_s(self) -> float:
        return sum(a.latency_s for a in self.attempts)

    @property
    def waited_s(self) -> float:
        return sum(a.waited_s for a in self.attempts)


@dataclass(slots=True)
class CallBuilder:
    """The record of a call still running; the classifier fills in what an answer tells."""

    operation: str
    started_at: datetime
    url: str | None = None
    request_body: bytes | None = None
    method: str | None = None
    cost: Any = None
    api_version: str | None = None
    deprecation: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    # Some attempt may have reached the channel (and a write may have been applied by it).
    reached: bool = False

    def build(self) -> CallRecord:
        return CallRecord(
            operation=self.operation,
            url=self.url,
            request_body=self.request_body,
            started_at=self.started_at,
            attempts=tuple(self.attempts),
            method=self.method,
            cost=self.cost,
            api_version=self.api_version,
            deprecation=self.deprecation,
        )


# --- what an answer means ------------------------------------------------------------------------


class Action(enum.Enum):
    OK = "ok"
    RETRY = "retry"
    RENEW = "renew"
    FAIL = "fail"
    MAYBE_APPLIED = "maybe_applied"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one answer means for its call, and what its attempt records."""

    action: Action
    outcome: str  # the attempt's outcome in the record
    http_status: int | None = None
    body: bytes | None = None  # the answer as recorded
    error: str | None = None
    request_id: str | None = None
    value: Any = None  # OK: the result
    wait: float | None = None  # RETRY: the channel's wait in seconds; None: the backoff
    # Raised for FAIL and MAYBE_APPLIED, for a wait over max_wait, and (as the exchange sees
    # fit) when this was the last attempt.
    failure: ChannelError | None = None
    cause: BaseException | None = None  # chained to the raised failure
    reached: bool = False  # the request may have reached the channel


class Exchange(Protocol):
    """One logical call of one client, as the retry loop drives it."""

    record: CallBuilder
    transport_errors: tuple[type[BaseException], ...]  # raised by send(), classified as answers

    def acquire(self) -> float:
        """Reserve the call's budget and return 0, or return the seconds to wait."""

    def budget_refused(self, wait: float) -> ChannelError:
        """The error for a shared budget that needs more than max_wait."""

    def send(self) -> Any:
        """Send the request once; its answer, or raise one of `transport_errors`."""

    def classify(self, answer: Any, number: int) -> Verdict:
        """What the answer (or the transport error) of attempt `number` means."""

    def exhausted(self, last: Verdict) -> ChannelError:
        """The error to raise when no attempt is left after `last`."""


Report = Callable[[CallRecord], None]
ErrorT = TypeVar("ErrorT", bound=ChannelError)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How one client retries: attempts per call (every try counts), the longest wait it
    sleeps rather than raises, its backoff, its clock, and whom it tells about each call."""

    max_attempts: int
    max_wait: float
    backoff_base: float
    backoff_cap: float
    sleep: Callable[[float], None]
    rng: random.Random
    report: Report

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def backoff(self, attempt: int) -> float:
        # Equal jitter: at least half the exponential step, so retries never stampede at 0.
        step = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
        return step / 2 + self.rng.uniform(0, step / 2)

    def fail(self, error: ErrorT, record: CallBuilder) -> ErrorT:
        """`error`, carrying the call's record (every lane's error has a `call`), reported."""
        call = record.build()
        error.call = call
        self.report(call)
        return error


# --- the loop ----------------------------------------------------------------------------------


def call_with_retries(exchange: Exchange, policy: RetryPolicy) -> tuple[Any, CallRecord]:
    """Send until answered, refused or out of attempts: (the result, the call's record)."""
    record = exchange.record
    pause = 0.0
    verdict: Verdict | None = None
    for number in range(1, policy.max_attempts + 1):
        waited = pause
        if pause > 0:
            policy.sleep(pause)
        waited += wait_for_budget(exchange, policy)
        started = time.perf_counter()
        try:
            answer = exchange.send()
        except exchange.transport_errors as exc:
            answer = exc
        latency = time.perf_counter() - started
        verdict = exchange.classify(answer, number)
        _note_attempt(record, verdict, number, latency, waited)
        if verdict.action is Action.OK:
            call = record.build()
            policy.report(call)
            return verdict.value, call
        if verdict.action is Action.RENEW:
            pause = 0.0
            continue
        if verdict.action is Action.RETRY and verdict.wait is None:
            pause = policy.backoff(number)
            continue
        if verdict.action is Action.RETRY and verdict.wait <= policy.max_wait:
            pause = verdict.wait
            continue
        if verdict.action is Action.MAYBE_APPLIED:
            verdict.failure.maybe_applied = True
        raise policy.fail(verdict.failure, record) from verdict.cause
    assert verdict is not None
    raise policy.fail(exchange.exhausted(verdict), record)


def wait_for_budget(exchange: Exchange, policy: RetryPolicy) -> float:
    """Sleep until the shared budget grants the call: the seconds slept."""
    waited = wait = 0.0
    for _ in range(BUDGET_TRIES):
        wait = exchange.acquire()
        if wait <= 0:
            return waited
        if wait > policy.max_wait:
            break
        policy.sleep(wait)
        waited += wait
    raise policy.fail(exchange.budget_refused(wait), exchange.record)


def _note_attempt(
    record: CallBuilder, verdict: Verdict, number: int, latency: float, waited: float
) -> None:
    record.attempts.append(
        Attempt(
            number=number,
            outcome=verdict.outcome,
            http_status=verdict.http_status,
            latency_s=latency,
            waited_s=waited,
            response_body=verdict.body,
            error=verdict.error,
            request_id=verdict.request_id,
        )
    )
    record.reached = record.reached or verdict.reached
