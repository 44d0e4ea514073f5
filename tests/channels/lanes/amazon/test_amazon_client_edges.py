"""The Amazon client against canned HTTP answers the sandbox does not give on purpose: error
statuses without an `errors` body, empty 2xx answers, LWA failures, timeouts, lower rate limits.
A real server on a socket, so python-amazon-sp-api's own request path runs."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from channels.lanes.amazon import client as amazon
from channels.lanes.throttle import LocalThrottle, NoThrottle
from channels.sandbox.amazon import spec
from tests.channels.lanes.conftest import FakeClock

SELLER = "A1SELLER"
MARKETPLACE = "ATVPDKIKX0DER"
CREDENTIALS = amazon.AmazonCredentials("Atzr|refresh", "amzn1.application-oa2-client.x", "secret")
TOKEN = {"access_token": "Atza|token-1", "token_type": "bearer", "expires_in": 3600}
LISTING = {
    "sku": "SKU-1",
    "fulfillmentAvailability": [{"fulfillmentChannelCode": "DEFAULT", "quantity": 4}],
}


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0

    @classmethod
    def json(cls, payload: Any, status: int = 200, **kwargs: Any) -> Reply:
        return cls(status, json.dumps(payload).encode(), **kwargs)


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class Canned:
    url: str = ""
    replies: deque[Reply] = field(default_factory=deque)
    token_replies: deque[Reply] = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)
    token_requests: list[Received] = field(default_factory=list)

    def queue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    @property
    def api(self) -> list[Received]:
        return self.received


def _handler(state: Canned) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            parts = urlsplit(self.path)
            seen = Received(
                self.command,
                parts.path,
                parse_qs(parts.query),
                {k.lower(): v for k, v in self.headers.items()},
                body,
            )
            if parts.path == "/auth/o2/token":
                state.token_requests.append(seen)
                reply = state.token_replies.popleft() if state.token_replies else Reply.json(TOKEN)
            else:
                state.received.append(seen)
                reply = state.replies.popleft() if state.replies else Reply(599, b"no canned reply")
            if reply.delay:
                time.sleep(reply.delay)
            try:
                self.send_response(reply.status)
                for name, value in reply.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    return Handler


@pytest.fixture
def server():
    state = Canned()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(server, clock):
    def make(**kwargs: Any) -> amazon.AmazonClient:
        options: dict[str, Any] = {
            "endpoint": server.url,
            "token_url": f"{server.url}/auth/o2/token",
            "credentials": CREDENTIALS,
            "seller_id": SELLER,
            "marketplace_id": MARKETPLACE,
            "throttle_factory": lambda key, capacity, rate: NoThrottle(),
            "sleep": clock.sleep,
            "rng": random.Random(3),
            "timeout": 2.0,
        }
        options.update(kwargs)
        return amazon.AmazonClient(**options)

    return make


def test_requests_carry_the_token_and_the_right_host_and_validate(server, make_client):
    # given a client pointed at an http:// endpoint
    server.queue(Reply.json(LISTING, headers=(("x-amzn-RateLimit-Limit", "5.0"),)))
    # when it reads a listing whose SKU needs escaping
    make_client().get_listing("SKU 1/x")
    # then the library sent it with our token, a Host the server can route, and the
    # marketplace we passed (no extra marketplace keys), valid against the model
    [request] = server.api
    assert request.headers["x-amz-access-token"] == "Atza|token-1"
    assert request.headers["host"] == urlsplit(server.url).netloc
    assert request.path == f"/listings/2021-08-01/items/{SELLER}/SKU%201%2Fx"
    assert request.query == {
        "marketplaceIds": [MARKETPLACE],
        "includedData": ["summaries,fulfillmentAvailability,issues"],
    }
    assert spec.validate_request("GET", request.path, request.query, None) == []
    # and the token request was a form-encoded refresh_token grant
    [token] = server.token_requests
    assert parse_qs(token.body.decode()) == {
        "grant_type": ["refresh_token"],
        "client_id": ["amzn1.application-oa2-client.x"],
        "refresh_token": ["Atzr|refresh"],
        "client_secret": ["secret"],
    }


def test_error_status_without_errors_body_is_a_failure_and_is_retried(server, make_client, clock):
    # given a 503 HTML page and a 429 with an empty body (the library returns an empty
    # ApiResponse for both), then a real answer
    server.queue(
        Reply(503, b"<html>Service Unavailable</html>", (("Content-Type", "text/html"),)),
        Reply(429, b""),
        Reply.json(LISTING),
    )
    # when the listing is read
    listing = make_client().get_listing("SKU-1")
    # then neither was taken for an answer: three requests, two waits
    assert listing == LISTING
    assert len(server.api) == 3
    assert len(clock.sleeps) == 2
    # and the 429 waited at least 1/rate (getListingsItem: 5/s)
    assert clock.sleeps[1] >= 0.2


def test_error_status_without_body_after_every_attempt_raises_retryable(server, make_client):
    server.queue(*[Reply(502, b"") for _ in range(3)])
    with pytest.raises(amazon.AmazonError) as caught:
        make_client(max_attempts=3).get_listing("SKU-1")
    error = caught.value
    assert (error.status, error.code, error.retryable) == (502, "HTTP_502", True)
    assert [a.outcome for a in error.call.attempts] == ["server_error"] * 3


def test_empty_2xx_on_a_read_is_retried(server, make_client):
    server.queue(Reply(200, b""), Reply.json({"reportId": "R1", "processingStatus": "DONE"}))
    report = make_client().report("R1")
    assert report["processingStatus"] == "DONE"
    assert len(server.api) == 2


def test_empty_2xx_on_a_write_is_not_sent_again(server, make_client):
    # given createReport answered 202 with no body: it may have been created
    server.queue(Reply(202, b""))
    # when requested
    with pytest.raises(amazon.AmazonError) as caught:
        make_client().request_report("GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA")
    # then it is reported as maybe applied, after exactly one request
    assert caught.value.maybe_applied is True
    assert caught.value.code == "BAD_ANSWER"
    assert len(server.api) == 1


def test_client_errors_are_not_retried(server, make_client, clock):
    body = {"errors": [{"code": "InvalidInput", "message": "Invalid Input", "details": ""}]}
    server.queue(Reply.json(body, 400))
    with pytest.raises(amazon.AmazonError) as caught:
        make_client().report("R1")
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (
        400,
        "InvalidInput",
        False,
    )
    assert len(server.api) == 1
    assert clock.sleeps == []


def test_forbidden_drops_the_cached_token(server, make_client):
    # given a token that Amazon no longer accepts
    unauthorized = {
        "errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied."}]
    }
    server.token_replies.extend(
        [Reply.json(TOKEN), Reply.json({**TOKEN, "access_token": "Atza|token-2"})]
    )
    server.queue(Reply.json(unauthorized, 403), Reply.json(LISTING))
    client = make_client()
    # when a call is refused with 403
    with pytest.raises(amazon.AmazonError) as caught:
        client.get_listing("SKU-1")
    assert (caught.value.status, caught.value.retryable) == (403, False)
    # then the next call fetches a new token instead of reusing the refused one
    assert client.get_listing("SKU-1") == LISTING
    assert [r.headers["x-amz-access-token"] for r in server.api] == [
        "Atza|token-1",
        "Atza|token-2",
    ]


def test_cached_token_refused_is_renewed_once_within_the_call(server, make_client):
    unauthorized = {
        "errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied."}]
    }
    server.token_replies.extend(
        [
            Reply.json(TOKEN),
            Reply.json({**TOKEN, "access_token": "Atza|token-2"}),
            Reply.json({**TOKEN, "access_token": "Atza|token-3"}),
        ]
    )
    client = make_client()
    server.queue(Reply.json(LISTING))
    client.get_listing("SKU-1")
    # given the cached token is refused, then the fresh one is accepted
    server.queue(Reply.json(unauthorized, 403), Reply.json(LISTING))
    # when a call is made, it succeeds under the fresh token
    assert client.get_listing("SKU-1") == LISTING
    # and when a cached token and its replacement are both refused
    server.queue(Reply.json(unauthorized, 403), Reply.json(unauthorized, 403))
    with pytest.raises(amazon.AmazonError) as caught:
        client.get_listing("SKU-1")
    # then the call stops after the one renewal, refused for good
    assert (caught.value.status, caught.value.retryable) == (403, False)
    assert len(caught.value.call.attempts) == 2
    assert [r.headers["x-amz-access-token"] for r in server.api] == [
        "Atza|token-1",
        "Atza|token-1",
        "Atza|token-2",
        "Atza|token-2",
        "Atza|token-3",
    ]


def test_lwa_server_errors_are_retried_and_lwa_refusals_are_not(server, make_client):
    server.token_replies.extend([Reply(500, b"<html>oops</html>"), Reply.json(TOKEN)])
    server.queue(Reply.json(LISTING))
    assert make_client().get_listing("SKU-1") == LISTING
    assert len(server.token_requests) == 2

    amazon.clear_token_cache()
    server.token_replies.append(
        Reply.json({"error": "invalid_grant", "error_description": "bad refresh token"}, 400)
    )
    with pytest.raises(amazon.AmazonError) as caught:
        make_client().get_listing("SKU-1")
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (
        400,
        "lwa_invalid_grant",
        False,
    )
    assert len(server.token_requests) == 3


def test_tokens_are_not_shared_between_token_urls(server, make_client):
    # given two clients with one refresh token but different LWA endpoints (sandbox, Amazon)
    server.queue(Reply.json(LISTING), Reply.json(LISTING))
    make_client().get_listing("SKU-1")
    other = make_client(token_url=f"{server.url}/auth/o2/token?other")
    other.get_listing("SKU-1")
    # then each got its own token
    assert len(server.token_requests) == 2


def test_token_is_reused_until_it_nearly_expires(server, make_client):
    server.token_replies.extend([Reply.json({**TOKEN, "expires_in": 60}), Reply.json(TOKEN)])
    server.queue(Reply.json(LISTING), Reply.json(LISTING))
    client = make_client()
    client.get_listing("SKU-1")
    client.get_listing("SKU-1")
    # a 60 s token is inside the refresh margin: fetched again
    assert len(server.token_requests) == 2


def test_timeout_then_refusal_on_confirm_shipment_reports_maybe_applied(server, make_client):
    # given a confirmation whose first answer never arrives and whose retry is refused
    # (Amazon already shipped it)
    refused = {"errors": [{"code": "InvalidInput", "message": "The order is SHIPPED"}]}
    server.queue(Reply(204, b"", delay=1.5), Reply.json(refused, 400))
    client = make_client(timeout=0.5)
    # when confirmed
    with pytest.raises(amazon.AmazonError) as caught:
        client.confirm_shipment(
            "111-1111111-1111111",
            items=[("1", 1)],
            carrier="UPS",
            tracking_number="1Z",
            ship_date=datetime(2026, 3, 2, tzinfo=UTC),
        )
    # then the caller learns it may have been applied and must re-read the order
    error = caught.value
    assert [a.outcome for a in error.call.attempts] == ["timeout", "client_error"]
    assert error.maybe_applied is True
    assert error.retryable is False


def test_a_lower_rate_limit_header_retunes_the_shared_bucket(server, make_client, clock):
    # given a shared bucket per operation on the fake clock
    buckets: dict[str, LocalThrottle] = {}

    def factory(key: str, capacity: float, rate: float) -> LocalThrottle:
        return buckets.setdefault(key, LocalThrottle(capacity, rate, clock=clock))

    # and Amazon reporting 1 request/s for getReport (the table says 2)
    limited = (("x-amzn-RateLimit-Limit", "1.0"),)
    server.queue(*[Reply.json({"reportId": "R", "processingStatus": "DONE"}, headers=limited)] * 17)
    client = make_client(throttle_factory=factory)
    # when the burst of 15 is spent and two more calls are made
    for _ in range(17):
        client.report("R")
    # then the rate was adopted and the calls after the burst waited 1/1.0 s each
    assert client.rate("getReport") == 1.0
    assert clock.sleeps == pytest.approx([1.0, 1.0])
    assert buckets[f"amazon:{SELLER}:getReport"]._rate == 1.0


def test_a_higher_rate_limit_header_does_not_raise_the_rate(server, make_client):
    server.queue(Reply.json(LISTING, headers=(("x-amzn-RateLimit-Limit", "50.0"),)))
    client = make_client()
    client.get_listing("SKU-1")
    assert client.rate("getListingsItem") == 5.0


def test_an_empty_bucket_for_a_slow_operation_raises_instead_of_holding_the_worker(
    server, make_client, clock
):
    # given the shared createFeed bucket is empty (0.0083/s: two minutes per token)
    bucket = LocalThrottle(15, 0.0083, clock=clock)
    bucket.acquire(15)
    client = make_client(throttle_factory=lambda *a: bucket)
    # when a feed is submitted
    with pytest.raises(amazon.AmazonThrottled) as caught:
        client.submit_quantity_feed([("SKU-1", 1)])
    # then nothing was sent or slept; the task is told when to come back
    assert server.api == []
    assert clock.sleeps == []
    assert caught.value.retry_after == pytest.approx(1 / 0.0083)


def test_connection_refused_is_retried_then_raises_retryable(make_client, clock):
    client = make_client(endpoint="http://127.0.0.1:9", max_attempts=3)
    with pytest.raises(amazon.AmazonError) as caught:
        client.report("R1")
    # nothing listens at the endpoint: each attempt fails before anything is sent
    assert caught.value.retryable is True
    assert len(caught.value.call.attempts) == 3
    assert len(clock.sleeps) == 2


def test_credentials_never_come_from_the_environment(monkeypatch, server, make_client):
    # given stray python-amazon-sp-api variables in the environment
    monkeypatch.setenv("SP_API_REFRESH_TOKEN", "Atzr|from-env")
    monkeypatch.setenv("LWA_APP_ID", "env-app")
    monkeypatch.setenv("LWA_CLIENT_SECRET", "env-secret")
    server.queue(Reply.json(LISTING))
    make_client().get_listing("SKU-1")
    # then the channel's credentials were used
    [token] = server.token_requests
    assert parse_qs(token.body.decode())["refresh_token"] == ["Atzr|refresh"]


def test_unreachable_token_endpoint_is_retried_and_never_recorded(make_client, clock):
    # given an LWA endpoint where nothing listens
    client = make_client(token_url="http://127.0.0.1:9/auth/o2/token", max_attempts=3)
    calls: list[amazon.AmazonCall] = []
    client.on_call = calls.append
    # when a call needs a token
    with pytest.raises(amazon.AmazonError) as caught:
        client.report("R1")
    # then it was retried as a transient failure, nothing reached SP-API, and the token
    # request (its form carries the client secret) is not in the record
    assert caught.value.retryable is True
    assert [a.outcome for a in caught.value.call.attempts] == ["connect_error"] * 3
    assert caught.value.maybe_applied is False
    [call] = calls
    assert (call.url, call.request_body) == (None, None)
    assert len(clock.sleeps) == 2
