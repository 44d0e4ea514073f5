"""The retry loop both clients share, driven by a scripted exchange: what it sleeps, what it
records, what it raises, and that every finished call is reported."""

from __future__ import annotations

import random
from collections import deque
from datetime import UTC, datetime
from typing import Any

import pytest

from channels.lanes.base import ChannelError
from channels.lanes.calls import (
    Action,
    CallBuilder,
    CallRecord,
    RetryPolicy,
    Verdict,
    call_with_retries,
)
from tests.channels.lanes.conftest import FakeClock


class Failed(ChannelError):
    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.call: CallRecord | None = None


class Transport(Exception):
    pass


class Scripted:
    """An exchange that answers each attempt with the next scripted verdict."""

    transport_errors = (Transport,)

    def __init__(self, *verdicts: Verdict, budget: tuple[float, ...] = ()) -> None:
        self.record = CallBuilder("op", datetime(2026, 1, 1, tzinfo=UTC))
        self.verdicts = deque(verdicts)
        self.budget = deque(budget)
        self.sent = 0
        self.answers: list[Any] = []
        self.raise_on_send: Exception | None = None

    def acquire(self) -> float:
        return self.budget.popleft() if self.budget else 0.0

    def budget_refused(self, wait: float) -> ChannelError:
        return Failed("budget", retry_after=wait)

    def send(self) -> Any:
        self.sent += 1
        if self.raise_on_send is not None:
            raise self.raise_on_send
        return f"answer {self.sent}"

    def classify(self, answer: Any, number: int) -> Verdict:
        self.answers.append(answer)
        return self.verdicts.popleft()

    def exhausted(self, last: Verdict) -> ChannelError:
        return Failed(f"out of attempts after {last.outcome}")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def reported() -> list[CallRecord]:
    return []


@pytest.fixture
def policy(clock, reported):
    def make(**kwargs: Any) -> RetryPolicy:
        options: dict[str, Any] = {
            "max_attempts": 3,
            "max_wait": 60.0,
            "backoff_base": 0.5,
            "backoff_cap": 30.0,
            "sleep": clock.sleep,
            "rng": random.Random(1),
            "report": reported.append,
        }
        options.update(kwargs)
        return RetryPolicy(**options)

    return make


def _retry(outcome: str = "server_error", **kwargs: Any) -> Verdict:
    return Verdict(Action.RETRY, outcome, 500, b"oops", **kwargs)


def _ok(value: Any = "result") -> Verdict:
    return Verdict(Action.OK, "ok", 200, b"{}", value=value)


def test_an_answer_on_the_first_attempt_is_returned_with_its_record(policy, clock, reported):
    exchange = Scripted(_ok())

    value, call = call_with_retries(exchange, policy())

    assert value == "result"
    assert [(a.number, a.outcome, a.http_status, a.waited_s) for a in call.attempts] == [
        (1, "ok", 200, 0.0)
    ]
    assert reported == [call]
    assert clock.sleeps == []


def test_a_retry_without_a_wait_sleeps_the_jittered_backoff(policy, clock):
    exchange = Scripted(_retry(), _retry(), _ok())

    _, call = call_with_retries(exchange, policy(backoff_base=1.0))

    assert len(clock.sleeps) == 2
    assert 0.5 <= clock.sleeps[0] <= 1.0
    assert 1.0 <= clock.sleeps[1] <= 2.0
    assert [a.waited_s for a in call.attempts] == [0.0, *clock.sleeps]


def test_a_retry_after_the_channels_wait_sleeps_exactly_that(policy, clock):
    exchange = Scripted(_retry("throttled", wait=2.5), _ok())

    call_with_retries(exchange, policy())

    assert clock.sleeps == [2.5]


def test_a_wait_longer_than_max_wait_raises_its_failure_without_sleeping(policy, clock, reported):
    failure = Failed("throttled for 120s", retry_after=120)
    exchange = Scripted(_retry("throttled", wait=120, failure=failure))

    with pytest.raises(Failed) as caught:
        call_with_retries(exchange, policy(max_wait=60))

    assert caught.value is failure
    assert clock.sleeps == []
    assert exchange.sent == 1
    assert [a.outcome for a in caught.value.call.attempts] == ["throttled"]
    assert reported == [caught.value.call]


def test_renew_sends_again_at_once(policy, clock):
    renewed = Verdict(Action.RENEW, "auth_error", 403, b"", failure=Failed("refused"))
    exchange = Scripted(renewed, _ok())

    value, call = call_with_retries(exchange, policy())

    assert value == "result"
    assert clock.sleeps == []
    assert [a.outcome for a in call.attempts] == ["auth_error", "ok"]


def test_a_permanent_failure_is_raised_at_once_and_chained(policy, clock):
    cause = ValueError("the parse")
    exchange = Scripted(
        Verdict(Action.FAIL, "client_error", 400, b"bad", failure=Failed("bad"), cause=cause),
        _ok(),
    )

    with pytest.raises(Failed) as caught:
        call_with_retries(exchange, policy())

    assert caught.value.__cause__ is cause
    assert caught.value.maybe_applied is False
    assert exchange.sent == 1
    assert clock.sleeps == []


def test_maybe_applied_is_raised_marked_and_never_sent_again(policy, clock):
    exchange = Scripted(
        Verdict(Action.MAYBE_APPLIED, "timeout", failure=Failed("timed out")), _ok()
    )

    with pytest.raises(Failed) as caught:
        call_with_retries(exchange, policy())

    assert caught.value.maybe_applied is True
    assert exchange.sent == 1


def test_out_of_attempts_raises_what_the_exchange_makes_of_the_last(policy, clock, reported):
    exchange = Scripted(_retry(reached=True), _retry(), _retry("timeout"))

    with pytest.raises(Failed, match="out of attempts after timeout") as caught:
        call_with_retries(exchange, policy(max_attempts=3))

    assert exchange.sent == 3
    # The backoff after the last attempt is drawn too: the jitter of later calls stays as it was.
    assert len(clock.sleeps) == 2
    assert exchange.record.reached is True
    assert len(caught.value.call.attempts) == 3
    assert reported == [caught.value.call]


def test_a_transport_error_is_classified_like_an_answer(policy):
    exchange = Scripted(_retry("connect_error"), _ok())
    error = Transport("refused")
    exchange.raise_on_send = error

    with pytest.raises(Failed):
        call_with_retries(exchange, policy(max_attempts=1))

    assert exchange.answers == [error]


def test_an_unexpected_exception_from_send_is_not_swallowed(policy, reported):
    exchange = Scripted(_ok())
    exchange.raise_on_send = KeyError("a bug")

    with pytest.raises(KeyError):
        call_with_retries(exchange, policy())

    assert exchange.answers == []


def test_the_shared_budget_is_waited_for_and_counted_as_waiting(policy, clock):
    exchange = Scripted(_ok(), budget=(0.4, 0.1, 0.0))

    _, call = call_with_retries(exchange, policy())

    assert clock.sleeps == [0.4, 0.1]
    assert call.attempts[0].waited_s == pytest.approx(0.5)


def test_a_budget_that_needs_more_than_max_wait_raises_before_sending(policy, clock, reported):
    exchange = Scripted(_ok(), budget=(90.0,))

    with pytest.raises(Failed, match="budget") as caught:
        call_with_retries(exchange, policy(max_wait=60))

    assert caught.value.retry_after == 90.0
    assert exchange.sent == 0
    assert clock.sleeps == []
    assert reported == [caught.value.call]
    assert caught.value.call.attempts == ()


def test_a_budget_that_never_grants_gives_up_after_a_bounded_number_of_waits(policy, clock):
    exchange = Scripted(_ok(), budget=(1.0,) * 50)

    with pytest.raises(Failed, match="budget"):
        call_with_retries(exchange, policy())

    assert len(clock.sleeps) == 20
    assert exchange.sent == 0


def test_max_attempts_below_one_is_refused(policy):
    with pytest.raises(ValueError, match="max_attempts"):
        policy(max_attempts=0)
