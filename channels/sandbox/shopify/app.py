"""The WSGI app: the Admin GraphQL endpoint plus the `/_sandbox/` control API (JSON in/out)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request, Response

from channels.sandbox.common import wsgi
from channels.sandbox.common.config import ManualClock
from channels.sandbox.common.wsgi import json_body, json_response

from .faults import FAULT_KINDS
from .graphql_api import handle_graphql
from .model import SandboxError, ShopifySandbox

Handler = Callable[[ShopifySandbox, Request, dict], Any]

ROUTES: list[tuple[str, str, str]] = [
    ("/admin/api/<version>/graphql.json", "graphql", "POST"),
    ("/_sandbox/", "index", "GET"),
    ("/_sandbox/reset", "reset", "POST"),
    ("/_sandbox/seed", "seed", "POST"),
    ("/_sandbox/webhooks", "webhooks", "GET,POST,DELETE"),
    ("/_sandbox/webhooks/flush", "webhooks_flush", "POST"),
    ("/_sandbox/webhooks/events", "webhooks_events", "GET"),
    ("/_sandbox/webhooks/deliveries", "webhooks_deliveries", "GET"),
    ("/_sandbox/sell", "sell", "POST"),
    ("/_sandbox/cancel", "cancel", "POST"),
    ("/_sandbox/refund", "refund", "POST"),
    ("/_sandbox/edit_order", "edit_order", "POST"),
    ("/_sandbox/fulfill", "fulfill", "POST"),
    ("/_sandbox/admin_edit", "admin_edit", "POST"),
    ("/_sandbox/faults", "faults", "GET,POST,DELETE"),
    ("/_sandbox/levels", "levels", "GET"),
    ("/_sandbox/orders", "orders", "GET"),
    ("/_sandbox/orders/<order_ref>", "order", "GET"),
    ("/_sandbox/requests", "requests", "GET,DELETE"),
    ("/_sandbox/throttle", "throttle", "GET,POST"),
    ("/_sandbox/clock", "clock", "GET,POST"),
    ("/_sandbox/shoppers", "shoppers", "GET,POST,DELETE"),
]

URL_MAP = wsgi.url_map(ROUTES)


class SandboxApp(wsgi.SandboxApp):
    """WSGI callable around one ShopifySandbox."""

    url_map = URL_MAP
    sandbox: ShopifySandbox

    # Admin GraphQL ---------------------------------------------------------------------------
    def _graphql(self, request: Request, version: str) -> Response:
        answer = handle_graphql(
            self.sandbox,
            version=version,
            token=request.headers.get("X-Shopify-Access-Token"),
            raw_body=request.get_data(),
            content_type=request.headers.get("Content-Type", "application/json"),
        )
        self.sandbox.request_log.record(answer.log)
        if answer.sleep_seconds:
            # Long enough and the client gives up while the server has already answered.
            time.sleep(answer.sleep_seconds)
        if answer.drop_connection:
            return wsgi.drop_connection(request.environ)
        body = answer.body if isinstance(answer.body, str) else json.dumps(answer.body)
        return Response(
            body, status=answer.status, headers=answer.headers, content_type=answer.content_type
        )

    # control API -----------------------------------------------------------------------------
    def _index(self, request: Request) -> Response:
        return json_response(
            {
                "shop_domain": self.sandbox.config.shop_domain,
                "api_version": self.sandbox.config.api_version,
                "graphql_path": f"/admin/api/{self.sandbox.config.api_version}/graphql.json",
                "routes": wsgi.routes_json(ROUTES),
                "fault_kinds": FAULT_KINDS,
            }
        )

    def _reset(self, request: Request) -> Response:
        self.sandbox.reset()
        return json_response({"reset": True, "locations": self._locations()})

    def _locations(self) -> list[dict]:
        with self.sandbox.lock:
            return [self.sandbox.location_json(loc) for loc in self.sandbox.locations.values()]

    def _seed(self, request: Request) -> Response:
        data = json_body(request)
        return json_response(self.sandbox.seed(data.get("products", []), data.get("locations", [])))

    def _webhooks(self, request: Request) -> Response:
        if request.method == "POST":
            data = json_body(request)
            subscription = self.sandbox.subscribe_webhooks(
                data["url"],
                data["secret"],
                api_version=data.get("api_version"),
                topics=data.get("topics"),
                name=data.get("name"),
                duplicate_rate=data.get("duplicate_rate", 0.0),
                reorder_rate=data.get("reorder_rate", 0.0),
                delay_ms=data.get("delay_ms", (2.0, 100.0)),
                max_retries=data.get("max_retries", 8),
                retry_base_ms=data.get("retry_base_ms", 50.0),
                retry_max_ms=data.get("retry_max_ms", 2000.0),
                timeout_s=data.get("timeout_s", 5.0),
                seed=data.get("seed"),
                replace=data.get("replace", True),
            )
            return json_response({"subscription": subscription.as_json()})
        if request.method == "DELETE":
            self.sandbox.webhooks.clear(seed=self.sandbox.config.seed)
        return json_response(
            {
                "subscriptions": [s.as_json() for s in self.sandbox.webhooks.subscriptions],
                "pending": self.sandbox.webhooks.pending(),
                "stats": dict(self.sandbox.webhooks.stats),
            }
        )

    def _webhooks_flush(self, request: Request) -> Response:
        data = json_body(request)
        result = self.sandbox.flush_webhooks(float(data.get("timeout", 10.0)))
        return json_response(result, 200 if result["flushed"] else 504)

    def _webhooks_events(self, request: Request) -> Response:
        topic = request.args.get("topic")
        events = [e for e in list(self.sandbox.webhooks.events) if not topic or e["topic"] == topic]
        return json_response({"events": events})

    def _webhooks_deliveries(self, request: Request) -> Response:
        return json_response({"deliveries": list(self.sandbox.webhooks.attempts)})

    def _sell(self, request: Request) -> Response:
        data = json_body(request)
        lines = data.get("lines")
        order = self.sandbox.sell(
            data.get("variant_id") or data.get("sku"),
            int(data.get("quantity", 1)),
            data.get("location"),
            lines=[
                (line.get("variant_id") or line["sku"], line.get("quantity", 1)) for line in lines
            ]
            if lines
            else None,
            variant_id_null=bool(data.get("variant_id_null", False)),
            source_name=data.get("source_name", "web"),
            customer=data.get("customer"),
        )
        return json_response({"order": order}, 201)

    def _cancel(self, request: Request) -> Response:
        data = json_body(request)
        order = self.sandbox.cancel(
            data["order_id"],
            restock=bool(data.get("restock", True)),
            reason=data.get("reason", "customer"),
            staff_note=data.get("staff_note"),
            refund=bool(data.get("refund", True)),
        )
        return json_response({"order": order})

    def _refund(self, request: Request) -> Response:
        data = json_body(request)
        refund = self.sandbox.refund(
            data["order_id"],
            data.get("lines", []),
            restock_type=data.get("restock_type", "return"),
            location=data.get("location"),
            note=data.get("note"),
        )
        return json_response({"refund": refund}, 201)

    def _edit_order(self, request: Request) -> Response:
        data = json_body(request)
        edit = self.sandbox.edit_order(
            data["order_id"],
            changes=data.get("changes", []),
            add=data.get("add", []),
            restock=bool(data.get("restock", True)),
        )
        return json_response(edit)

    def _fulfill(self, request: Request) -> Response:
        data = json_body(request)
        fulfillment = self.sandbox.fulfill(
            data["order_id"],
            data.get("lines"),
            tracking_company=data.get("tracking_company"),
            tracking_numbers=data.get("tracking_numbers", []),
            tracking_urls=data.get("tracking_urls", []),
        )
        return json_response({"fulfillment": {"id": fulfillment.id, "name": fulfillment.name}}, 201)

    def _admin_edit(self, request: Request) -> Response:
        data = json_body(request)
        item_ref = data.get("inventory_item_id") or data.get("variant_id") or data["sku"]
        level = self.sandbox.admin_edit(
            item_ref, data.get("location"), available=int(data["available"])
        )
        return json_response({"level": level})

    def _fault_options(self, data: dict) -> dict:
        # The Retry-After header an http_429 fault answers with.
        return {"retry_after": float(data.get("retry_after", 1.0))}

    def _levels(self, request: Request) -> Response:
        return json_response({"levels": self.sandbox.levels_json(request.args.get("sku"))})

    def _orders(self, request: Request) -> Response:
        return json_response({"orders": self.sandbox.orders_json()})

    def _order(self, request: Request, order_ref: str) -> Response:
        return json_response({"order": self.sandbox.order_json(order_ref)})

    def _requests(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.sandbox.request_log.clear()
        limit = request.args.get("limit", type=int)
        return json_response(
            {
                "counters": self.sandbox.request_log.counters(),
                "log": self.sandbox.request_log.entries(limit),
            }
        )

    def _throttle(self, request: Request) -> Response:
        if request.method == "POST":
            data = json_body(request)
            self.sandbox.bucket.configure(
                maximum_available=data.get("maximum_available"),
                restore_rate=data.get("restore_rate"),
                currently_available=data.get("currently_available"),
            )
            if "http_status" in data:
                self.sandbox.config.throttle_http_status = int(data["http_status"])
            if "max_query_cost" in data:
                self.sandbox.config.max_query_cost = int(data["max_query_cost"])
        return json_response(
            {
                "throttleStatus": self.sandbox.bucket.status().as_json(),
                "http_status": self.sandbox.config.throttle_http_status,
                "max_query_cost": self.sandbox.config.max_query_cost,
            }
        )

    def _clock(self, request: Request) -> Response:
        clock = self.sandbox.config.clock
        if request.method == "POST":
            if not isinstance(clock, ManualClock):
                raise SandboxError(
                    "the sandbox runs on the real clock; start it with a ManualClock"
                )
            clock.advance(float(json_body(request).get("advance", 0.0)))
        return json_response(
            {
                "manual": isinstance(clock, ManualClock),
                "now": clock(),
                **self.sandbox.bucket.status().as_json(),
            }
        )

    def _shoppers(self, request: Request) -> Response:
        if request.method == "POST":
            data = json_body(request)
            loop = self.sandbox.start_shoppers(
                float(data.get("rate_per_second", 2.0)),
                data.get("weights"),
                quantity=int(data.get("quantity", 1)),
                seed=data.get("seed"),
                max_orders=data.get("max_orders"),
            )
            return json_response({"shoppers": loop.as_json()}, 201)
        if request.method == "DELETE":
            return json_response({"shoppers": self.sandbox.stop_shoppers()})
        loop = self.sandbox.shoppers
        return json_response({"shoppers": loop.as_json() if loop else None})


def make_app(sandbox: ShopifySandbox) -> SandboxApp:
    return SandboxApp(sandbox)
