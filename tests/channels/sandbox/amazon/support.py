"""Helpers for the SP-API sandbox tests: a plain HTTP client, python-amazon-sp-api clients
pointed at the sandbox, and a receiver standing in for our EventBridge API destination."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from sp_api.auth import AccessTokenClient

from channels.sandbox.amazon import SandboxHandle, validate_response

US = "ATVPDKIKX0DER"
JSON_FEED = "application/json; charset=UTF-8"


@dataclass
class SpApi:
    """SP-API over `requests`, the way any HTTP client would talk to it."""

    handle: SandboxHandle
    session: requests.Session = field(default_factory=requests.Session)
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def sandbox(self):
        return self.handle.sandbox

    @property
    def seller_id(self) -> str:
        return self.handle.seller_id

    def token(self, seller_id: str | None = None) -> str:
        seller = self.sandbox.seller(seller_id)
        if seller.seller_id not in self.tokens:
            response = self.session.post(
                self.handle.token_url,
                data={
                    "grant_type": "refresh_token",
                    "client_id": self.handle.client_id,
                    "client_secret": self.handle.client_secret,
                    "refresh_token": seller.refresh_token,
                },
            )
            assert response.status_code == 200, response.text
            self.tokens[seller.seller_id] = response.json()["access_token"]
        return self.tokens[seller.seller_id]

    def call(
        self,
        method: str,
        path: str,
        params: dict | None = None,
        body: Any = None,
        *,
        seller_id: str | None = None,
        token: str | None = None,
        headers: dict | None = None,
    ) -> requests.Response:
        all_headers = {"x-amz-access-token": token or self.token(seller_id)}
        all_headers.update(headers or {})
        return self.session.request(
            method,
            self.handle.url + path,
            params=params,
            data=json.dumps(body) if body is not None else None,
            headers={"content-type": "application/json", **all_headers},
        )

    def ok(
        self,
        method: str,
        path: str,
        params: dict | None = None,
        body: Any = None,
        *,
        operation: str,
        status: int = 200,
        **kwargs: Any,
    ) -> Any:
        """Call, expect `status`, and prove the answer matches the official model."""
        response = self.call(method, path, params, body, **kwargs)
        assert response.status_code == status, response.text
        payload = response.json() if response.content else None
        assert validate_response(operation, status, payload) == []
        return payload

    # shortcuts for the calls most tests make
    def listing_path(self, sku: str, seller_id: str | None = None) -> str:
        return f"/listings/2021-08-01/items/{seller_id or self.seller_id}/{quote(sku, safe='')}"

    def get_listing(self, sku: str, included: str = "summaries,fulfillmentAvailability,issues"):
        return self.ok(
            "GET",
            self.listing_path(sku),
            {"marketplaceIds": US, "includedData": included},
            operation="getListingsItem",
        )

    def patch_quantity(
        self, sku: str, quantity: int, *, op: str = "merge", channel: str = "DEFAULT"
    ) -> dict:
        return self.ok(
            "PATCH",
            self.listing_path(sku),
            {"marketplaceIds": US},
            {
                "productType": "PRODUCT",
                "patches": [
                    {
                        "op": op,
                        "path": "/attributes/fulfillment_availability",
                        "value": [{"fulfillment_channel_code": channel, "quantity": quantity}],
                    }
                ],
            },
            operation="patchListingsItem",
        )

    def search_orders(self, **params: Any) -> dict:
        return self.ok("GET", "/orders/2026-01-01/orders", params, operation="searchOrders")

    def download(self, url: str) -> requests.Response:
        # Presigned URLs take no SP-API token, like S3's.
        return requests.get(url, timeout=5)


def sp_client(handle: SandboxHandle, api_class: type, seller_id: str | None = None, **kwargs):
    """A python-amazon-sp-api client aimed at the sandbox (CONTRACT.md §1.9): the endpoint set
    after construction, a Host header that names it (the library cuts 8 characters off the
    endpoint, assuming https://) and an LWA client pointing at the sandbox's token URL."""
    netloc = urlsplit(handle.url).netloc

    class SandboxToken(AccessTokenClient):
        scheme = "http://"
        host = netloc
        path = "/auth/o2/token"

    class Client(api_class):
        def __init__(self) -> None:
            super().__init__(
                credentials=handle.credentials(seller_id),
                auth_token_client_class=SandboxToken,
                **kwargs,
            )
            self.endpoint = handle.url

        @property
        def headers(self) -> dict:
            headers = super().headers
            headers["host"] = netloc
            return headers

    return Client()


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict:
        return json.loads(self.body)

    @property
    def notification(self) -> dict:
        event = self.event
        return event["detail"] if "detail-type" in event else event

    @property
    def notification_type(self) -> str:
        n = self.notification
        return n.get("NotificationType") or n.get("notificationType")

    @property
    def notification_id(self) -> str:
        n = self.notification
        meta = n.get("NotificationMetadata") or n.get("notificationMetadata")
        return meta.get("NotificationId") or meta.get("notificationId")


class NotificationReceiver:
    """Our webhook endpoint's stand-in: records every POST, answers `status` (200 by default)."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.status = 200
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.deliveries.append(Delivery(dict(self.headers), body))
                    status = receiver.status
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhooks/amazon/1/"

    def of(self, notification_type: str) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if d.notification_type == notification_type]

    def ids(self) -> list[str]:
        with self._lock:
            return [d.notification_id for d in self.deliveries]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
