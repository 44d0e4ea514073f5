"""Helpers for the Shopify sandbox tests: an HTTP client for the sandbox, a webhook receiver,
and the schema check every GraphQL answer goes through."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
from graphql import GraphQLError, execute_sync, parse

from channels.sandbox.shopify import ManualClock, SandboxHandle
from channels.sandbox.shopify.schema import admin_schema

WEBHOOK_SECRET = "test-webhook-secret"


@dataclass
class Shop:
    handle: SandboxHandle
    session: requests.Session = field(default_factory=requests.Session)

    @property
    def sandbox(self):
        return self.handle.sandbox

    @property
    def clock(self) -> ManualClock:
        return self.handle.sandbox.config.clock

    def post_graphql(self, query: str, variables: dict | None = None, **kwargs: Any):
        headers = {"X-Shopify-Access-Token": self.handle.access_token}
        headers.update(kwargs.pop("headers", {}))
        return self.session.post(
            self.handle.graphql_url,
            json={"query": query, "variables": variables or {}},
            headers=headers,
            **kwargs,
        )

    def gql(self, query: str, variables: dict | None = None) -> dict:
        """Run a document and prove the answer is valid for it against the official schema."""
        response = self.post_graphql(query, variables)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "cost" in body["extensions"]
        if body.get("data") is not None:
            assert_matches_schema(query, variables or {}, body["data"])
        return body

    def control(
        self, method: str, path: str, payload: dict | None = None, expect: int | None = None
    ) -> Any:
        response = self.session.request(method, f"{self.handle.url}/_sandbox/{path}", json=payload)
        if expect is not None:
            assert response.status_code == expect, response.text
        return response.json()

    def seed(self, *products: dict, locations: list | None = None) -> dict:
        return self.control(
            "POST", "seed", {"products": list(products), "locations": locations or []}, expect=200
        )

    def level(self, sku: str, location: str = "Main warehouse") -> dict:
        levels = self.control("GET", f"levels?sku={sku}")["levels"]
        return next(level for level in levels if level["location_name"] == location)

    def flush(self) -> dict:
        result = self.control("POST", "webhooks/flush", {"timeout": 10})
        assert result["flushed"], result
        return result


def _type_of_value(value: Any, info: Any, abstract_type: Any) -> str | None:
    # The documents under test do not always ask for __typename; the gid names the type.
    if isinstance(value, dict):
        if "__typename" in value:
            return value["__typename"]
        ident = value.get("id")
        if isinstance(ident, str) and ident.startswith("gid://shopify/"):
            return ident.split("/")[3].split("?")[0]
    return None


def _by_response_key(source: Any, info: Any, **_: Any) -> Any:
    return source.get(info.path.key) if isinstance(source, dict) else None


def assert_matches_schema(query: str, variables: dict, data: dict) -> None:
    """Execute the same document over the returned data: any shape, nullability or enum
    mismatch with the official SDL shows up as an error or a changed value."""
    result = execute_sync(
        admin_schema(),
        parse(query),
        root_value=data,
        variable_values=variables,
        field_resolver=_by_response_key,
        type_resolver=_type_of_value,
    )
    assert not result.errors, [
        e.formatted if isinstance(e, GraphQLError) else e for e in result.errors
    ]
    assert result.data == data


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes

    @property
    def topic(self) -> str:
        return self.headers["X-Shopify-Topic"]

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


class WebhookReceiver:
    """A tiny HTTP endpoint that records every POST; `statuses` scripts its next answers."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.statuses: list[int] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.deliveries.append(Delivery(dict(self.headers.items()), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhooks/shopify"

    def topics(self) -> list[str]:
        return [d.topic for d in self.deliveries]

    def of(self, topic: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.topic == topic]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
