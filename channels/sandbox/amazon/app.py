"""The WSGI app: LWA's token endpoint, the SP-API operations, presigned document URLs and the
`/_sandbox/` control API (JSON in and out).

An SP-API call goes: match the path to an official operation -> authenticate the
`x-amz-access-token` (Host is ignored: python-amazon-sp-api sends a broken one for http://
endpoints) -> injected faults -> the usage-plan token bucket -> validation against the model ->
the handler. Every call is recorded in the request log with the problems found in it.
"""

from __future__ import annotations

import gzip
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request, Response

from channels.sandbox.common import wsgi
from channels.sandbox.common.wsgi import json_body, json_response

from . import api, payloads
from .clock import ManualClock, iso, parse_iso, wall_time
from .faults import FAULT_KINDS, Fault
from .model import AmazonSandbox, SandboxError
from .notifications import NOTIFICATION_TYPES
from .spec import Match

ROUTES: list[tuple[str, str, str]] = [
    ("/_sandbox/", "index", "GET"),
    ("/_sandbox/reset", "reset", "POST"),
    ("/_sandbox/sellers", "sellers", "GET,POST"),
    ("/_sandbox/tokens/revoke", "revoke_tokens", "POST"),
    ("/_sandbox/listings", "listings", "GET,POST"),
    ("/_sandbox/listings/quantity", "listing_quantity", "POST"),
    ("/_sandbox/submissions", "submissions", "GET"),
    ("/_sandbox/fba", "fba", "GET,POST"),
    ("/_sandbox/fba/inbound", "fba_inbound", "POST"),
    ("/_sandbox/orders", "orders", "GET,POST"),
    ("/_sandbox/orders/<order_id>", "order", "GET"),
    ("/_sandbox/orders/<order_id>/cancel", "order_cancel", "POST"),
    ("/_sandbox/orders/<order_id>/ship", "order_ship", "POST"),
    ("/_sandbox/orders/<order_id>/release", "order_release", "POST"),
    ("/_sandbox/orders/<order_id>/returns", "order_returns", "GET,POST"),
    ("/_sandbox/returns", "returns", "GET,POST"),
    ("/_sandbox/feeds", "feeds", "GET"),
    ("/_sandbox/reports", "reports", "GET"),
    ("/_sandbox/notifications", "notifications", "GET,POST,DELETE"),
    ("/_sandbox/notifications/flush", "notifications_flush", "POST"),
    ("/_sandbox/notifications/published", "notifications_published", "GET"),
    ("/_sandbox/notifications/deliveries", "notifications_deliveries", "GET"),
    ("/_sandbox/faults", "faults", "GET,POST,DELETE"),
    ("/_sandbox/requests", "requests", "GET,DELETE"),
    ("/_sandbox/ratelimits", "ratelimits", "GET,POST"),
    ("/_sandbox/clock", "clock", "GET,POST"),
    ("/_sandbox/tick", "tick", "POST"),
    ("/_sandbox/buyers", "buyers", "GET,POST,DELETE"),
    ("/_sandbox/documents/<token>", "document", "GET,PUT"),
]
URL_MAP = wsgi.url_map(ROUTES, strict_slashes=False)
# The usage-plan header goes on the answers whose model declares it (2xx, 400, 404).
RATE_HEADER_STATUSES = (400, 404)
ERROR_BODIES = {
    500: ("InternalFailure", "We encountered an internal error. Please try again."),
    503: ("ServiceUnavailable", "Service temporarily unavailable. Please try again."),
    504: ("GatewayTimeout", "The request timed out."),
}


class SandboxApp(wsgi.SandboxApp):
    """WSGI callable around one AmazonSandbox. `base_url` is where the sandbox is reachable; it
    goes into document URLs (the Host header cannot be trusted, see the module docstring)."""

    url_map = URL_MAP
    sandbox: AmazonSandbox

    def __init__(self, sandbox: AmazonSandbox, base_url: str | None = None) -> None:
        super().__init__(sandbox)
        self.base_url = base_url

    def _dispatch(self, request: Request) -> Response:
        if request.path == "/auth/o2/token":
            return self._lwa(request)
        if request.path.startswith("/_sandbox"):
            return self._control(request)
        return self._sp_api(request, request.environ)

    def _base(self, request: Request) -> str:
        return self.base_url or request.host_url.rstrip("/")

    # Login with Amazon ------------------------------------------------------------------------
    def _lwa(self, request: Request) -> Response:
        headers = {"x-amzn-RequestId": str(uuid.uuid4())}
        if request.method != "POST":
            return json_response(
                {"error": "invalid_request", "error_description": "POST only"}, 405
            )
        form = request.form
        grant_type = form.get("grant_type")
        if grant_type != "refresh_token":
            return json_response(
                {
                    "error": "unsupported_grant_type",
                    "error_description": "The sandbox supports grant_type=refresh_token only",
                },
                400,
                headers,
            )
        missing = [k for k in ("client_id", "client_secret", "refresh_token") if not form.get(k)]
        if missing:
            return json_response(
                {
                    "error": "invalid_request",
                    "error_description": f"The request is missing a required parameter : {missing[0]}",
                },
                400,
                headers,
            )
        status, body = self.sandbox.issue_access_token(
            client_id=form["client_id"],
            client_secret=form["client_secret"],
            refresh_token=form["refresh_token"],
        )
        return json_response(body, status, headers)

    # SP-API -----------------------------------------------------------------------------------
    def _sp_api(self, request: Request, environ: dict) -> Response:
        call = self._exchange(request, environ)
        if call.match is None:
            return call.finish(
                404,
                payloads.errors("NotFound", f"No operation at {request.method} {call.raw_path}."),
            )
        op = call.match.operation
        call.entry["operation"] = op.key
        call.entry["operation_id"] = op.operation_id
        body, body_error = _read_json(request.get_data())
        call.entry["body"] = body

        seller_id = self.sandbox.seller_for_token(request.headers.get("x-amz-access-token"))
        if seller_id is None:
            return call.finish(403, _unauthorized())
        call.entry["seller_id"] = seller_id

        faults = self.sandbox.faults.take((op.operation_id, op.key))
        call.entry["faults"] = [f.kind for f in faults]
        refused = _refuse_before_handling(call, faults)
        if refused is not None:
            return refused
        return self._handle(call, call.match, request, seller_id, body, body_error, faults)

    def _exchange(self, request: Request, environ: dict) -> _Exchange:
        sandbox = self.sandbox
        started = time.monotonic()
        request_id = str(uuid.uuid4())
        # The raw path keeps %2F inside a SKU as one segment; PATH_INFO has it decoded already.
        raw_path = (environ.get("RAW_URI") or environ.get("REQUEST_URI") or request.path).split(
            "?", 1
        )[0]
        query = {key: request.args.getlist(key) for key in request.args}
        entry: dict[str, Any] = {
            "at": iso(wall_time(sandbox.config.clock)),
            "method": request.method,
            "path": raw_path,
            "query": query,
            "request_id": request_id,
            "operation": None,
            "operation_id": None,
            "seller_id": None,
            "faults": [],
            "problems": [],
            "response_problems": [],
            "throttled": False,
        }
        return _Exchange(
            sandbox=sandbox,
            environ=environ,
            raw_path=raw_path,
            query=query,
            entry=entry,
            headers={"x-amzn-RequestId": request_id},
            started=started,
            match=sandbox.spec.match(request.method, raw_path),
        )

    def _handle(
        self,
        call: _Exchange,
        match: Match,
        request: Request,
        seller_id: str,
        body: Any,
        body_error: str | None,
        faults: list[Fault],
    ) -> Response:
        """The usage plan, the model's checks, the handler, then the faults that act after it."""
        sandbox = self.sandbox
        op = match.operation
        if not sandbox.rate_limiter.try_acquire(seller_id, op.key):
            call.entry["throttled"] = True
            return call.finish(429, _quota_exceeded())

        problems = [body_error] if body_error else []
        if not problems and sandbox.config.validate_requests:
            problems = sandbox.spec.validate_request(
                request.method, call.raw_path, call.query, body, dict(request.headers)
            )
        if problems:
            call.entry["problems"] = problems
            return call.finish(400, payloads.errors("InvalidInput", "; ".join(problems)))

        handler = api.HANDLERS.get(op.key)
        if handler is None:
            return call.finish(
                501,
                payloads.errors("NotImplemented", f"The sandbox does not serve {op.operation_id}."),
                injected=True,  # the sandbox's limit, not an answer the model describes
            )
        with sandbox.lock:
            sandbox.tick()
            status, answer = handler(
                api.Call(sandbox, seller_id, match, call.query, body, self._base(request))
            )
        if status == 429:  # a quota of the handler's own (a feed type's submissions)
            call.entry["throttled"] = True

        by_kind = {f.kind: f for f in faults}
        if "http_504" in by_kind and by_kind["http_504"].apply:
            return call.finish(504, payloads.errors(*ERROR_BODIES[504]), injected=True)
        if "slow" in by_kind and by_kind["slow"].apply:
            time.sleep(by_kind["slow"].seconds)
        if "drop_connection" in by_kind and by_kind["drop_connection"].apply:
            return call.drop()
        return call.finish(status, answer)

    # presigned document URLs ------------------------------------------------------------------
    def _document(self, request: Request, token: str) -> Response:
        sandbox = self.sandbox
        with sandbox.lock:
            document = sandbox.documents_by_token.get(token)
            if document is None:
                return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
            if request.method == "PUT":
                if document.kind != "feed_input":
                    return _s3_error(403, "AccessDenied", "This URL is for download only.")
                sent = (request.headers.get("Content-Type") or "").replace(" ", "").lower()
                if sent != document.content_type.replace(" ", "").lower():
                    # The upload URL is signed for the content type given to createFeedDocument.
                    return _s3_error(
                        403,
                        "SignatureDoesNotMatch",
                        "The request signature we calculated does not match the signature you "
                        "provided (Content-Type differs from createFeedDocument's contentType).",
                    )
                document.content = request.get_data()
                return Response(b"", status=200, headers={"ETag": f'"{uuid.uuid4().hex}"'})
            if document.content is None:
                return _s3_error(404, "NoSuchKey", "The document has no content yet.")
            content = document.content
            if document.gzip:
                content = gzip.compress(content)
            return Response(content, status=200, content_type=document.content_type)

    # control API ------------------------------------------------------------------------------
    def _index(self, request: Request) -> Response:
        sandbox = self.sandbox
        return json_response(
            {
                "sellers": [s.as_json() for s in sandbox.sellers.values()],
                "client_id": sandbox.config.client_id,
                "token_url": f"{self._base(request)}/auth/o2/token",
                "operations": sorted(api.HANDLERS),
                "routes": [{"path": p, "methods": m.split(",")} for p, _, m in ROUTES],
                "fault_kinds": FAULT_KINDS,
                "notification_types": NOTIFICATION_TYPES,
            }
        )

    def _reset(self, request: Request) -> Response:
        self.sandbox.reset()
        return json_response(
            {"reset": True, "sellers": [s.as_json() for s in self.sandbox.sellers.values()]}
        )

    def _sellers(self, request: Request) -> Response:
        if request.method == "POST":
            data = json_body(request)
            seller = self.sandbox.add_seller(
                data.get("seller_id"),
                marketplace_ids=data.get("marketplace_ids"),
                refresh_token=data.get("refresh_token"),
                name=data.get("name"),
            )
            return json_response({"seller": seller}, 201)
        return json_response({"sellers": [s.as_json() for s in self.sandbox.sellers.values()]})

    def _revoke_tokens(self, request: Request) -> Response:
        return json_response(
            {"revoked": self.sandbox.revoke_tokens(json_body(request).get("seller_id"))}
        )

    def _listings(self, request: Request) -> Response:
        if request.method == "POST":
            data = json_body(request)
            items = data.get("listings") or [data]
            created = [self.sandbox.add_listing(**_listing_kwargs(item)) for item in items]
            return json_response({"listings": created}, 201)
        return json_response(
            {"listings": self.sandbox.listings_json(request.args.get("seller_id"))}
        )

    def _listing_quantity(self, request: Request) -> Response:
        data = json_body(request)
        listing = self.sandbox.set_mfn_quantity(
            data["sku"],
            int(data["quantity"]),
            seller_id=data.get("seller_id"),
            marketplace_id=data.get("marketplace_id"),
        )
        return json_response({"listing": listing})

    def _submissions(self, request: Request) -> Response:
        with self.sandbox.lock:
            return json_response({"submissions": list(self.sandbox.submissions)})

    def _fba(self, request: Request) -> Response:
        if request.method == "POST":
            data = json_body(request)
            sku = data.pop("sku")
            buckets = self.sandbox.set_fba(
                sku,
                seller_id=data.pop("seller_id", None),
                marketplace_id=data.pop("marketplace_id", None),
                **{k: int(v) for k, v in data.items()},
            )
            return json_response({"sku": sku, "buckets": buckets})
        return json_response({"fba": self.sandbox.fba_json(request.args.get("seller_id"))})

    def _fba_inbound(self, request: Request) -> Response:
        data = json_body(request)
        buckets = self.sandbox.move_inbound(
            data["sku"],
            int(data["quantity"]),
            to=data.get("to", "fulfillable"),
            source=data.get("source"),
            seller_id=data.get("seller_id"),
            marketplace_id=data.get("marketplace_id"),
        )
        return json_response({"sku": data["sku"], "buckets": buckets})

    def _orders(self, request: Request) -> Response:
        if request.method == "POST":
            data = json_body(request)
            lines = data.get("lines")
            order = self.sandbox.place_order(
                data.get("sku"),
                int(data.get("quantity", 1)),
                lines=[(line["sku"], int(line.get("quantity", 1))) for line in lines]
                if lines
                else None,
                seller_id=data.get("seller_id"),
                marketplace_id=data.get("marketplace_id"),
                pending_seconds=data.get("pending_seconds"),
                buyer=data.get("buyer"),
            )
            return json_response({"order": order}, 201)
        return json_response({"orders": self.sandbox.orders_json(request.args.get("seller_id"))})

    def _order(self, request: Request, order_id: str) -> Response:
        with self.sandbox.lock:
            return json_response({"order": self.sandbox.order_json(order_id)})

    def _order_cancel(self, request: Request, order_id: str) -> Response:
        data = json_body(request)
        order = self.sandbox.cancel_order(
            order_id,
            reason=data.get("reason", "Buyer canceled"),
            request_only=bool(data.get("request_only", False)),
            restock=bool(data.get("restock", True)),
        )
        return json_response({"order": order})

    def _order_ship(self, request: Request, order_id: str) -> Response:
        return json_response({"order": self.sandbox.ship_order(order_id)})

    def _order_release(self, request: Request, order_id: str) -> Response:
        return json_response({"order": self.sandbox.release_order(order_id)})

    def _order_returns(self, request: Request, order_id: str) -> Response:
        """A buyer's return request on a shipped merchant-fulfilled order (one RMA, a row per
        item in the flat-file returns report): {"items": [{"order_item_id" or "seller_sku",
        "quantity", "reason"?}], "returned_at"?}."""
        if request.method == "GET":
            self.sandbox.order_json(order_id)  # 404 for an unknown order
            return json_response({"returns": self.sandbox.merchant_returns_json(order_id)})
        data = json_body(request)
        unknown = set(data) - {"items", "returned_at"}
        if unknown:
            raise SandboxError(f"unknown fields: {sorted(unknown)}")
        returned_at = data.get("returned_at")
        created = self.sandbox.return_merchant_order(
            order_id,
            data.get("items"),
            returned_at=_moment(returned_at, "returned_at") if returned_at else None,
        )
        return json_response({"return": created}, 201)

    def _returns(self, request: Request) -> Response:
        if request.method == "POST":
            data = json_body(request)
            sku = data.pop("sku")
            quantity = int(data.pop("quantity", 1))
            row = self.sandbox.add_return(sku, quantity, **data)
            return json_response({"return": row}, 201)
        return json_response({"returns": self.sandbox.returns_json()})

    def _feeds(self, request: Request) -> Response:
        with self.sandbox.lock:
            return json_response(
                {"feeds": [payloads.feed_json(f) for f in self.sandbox.feeds.values()]}
            )

    def _reports(self, request: Request) -> Response:
        with self.sandbox.lock:
            return json_response(
                {"reports": [payloads.report_json(r) for r in self.sandbox.reports.values()]}
            )

    def _notifications(self, request: Request) -> Response:
        dispatcher = self.sandbox.notifications
        if request.method == "POST":
            data = json_body(request)
            url = data.pop("url")
            destination = self.sandbox.subscribe_notifications(url, **data)
            return json_response({"destination": destination}, 201)
        if request.method == "DELETE":
            dispatcher.clear(seed=self.sandbox.config.seed)
        return json_response(
            {
                "destinations": [d.as_json() for d in dispatcher.destinations],
                "pending": dispatcher.pending(),
                "stats": dict(dispatcher.stats),
            }
        )

    def _notifications_flush(self, request: Request) -> Response:
        data = json_body(request)
        result = self.sandbox.flush(
            float(data.get("timeout", 10.0)), everything=bool(data.get("everything", False))
        )
        return json_response(result, 200 if result["flushed"] else 504)

    def _notifications_published(self, request: Request) -> Response:
        kind = request.args.get("type")
        return json_response(
            {"notifications": self.sandbox.notifications.published_notifications(kind)}
        )

    def _notifications_deliveries(self, request: Request) -> Response:
        dispatcher = self.sandbox.notifications
        return json_response(
            {"deliveries": list(dispatcher.attempts), "dropped": list(dispatcher.dropped)}
        )

    def _requests(self, request: Request) -> Response:
        log = self.sandbox.request_log
        if request.method == "DELETE":
            log.clear()
        entries = (
            log.invalid()
            if request.args.get("invalid")
            else log.entries(request.args.get("limit", type=int), request.args.get("operation"))
        )
        return json_response({"counters": log.counters(), "log": entries})

    def _ratelimits(self, request: Request) -> Response:
        if request.method == "POST":
            data = json_body(request)
            self.sandbox.set_rate_limits(
                enabled=data.get("enabled"),
                scale=data.get("scale"),
                operation=data.get("operation"),
                rate=data.get("rate"),
                burst=data.get("burst"),
            )
        limiter = self.sandbox.rate_limiter
        return json_response(
            {"enabled": limiter.enabled, "scale": limiter.scale, "buckets": limiter.status()}
        )

    def _clock(self, request: Request) -> Response:
        clock = self.sandbox.config.clock
        ran = 0
        if request.method == "POST":
            ran = self.sandbox.advance(float(json_body(request).get("advance", 0.0)))
        return json_response(
            {
                "manual": isinstance(clock, ManualClock),
                "monotonic": clock(),
                "now": iso(wall_time(clock)),
                "ran": ran,
                "scheduled": self.sandbox.scheduler.pending(),
            }
        )

    def _tick(self, request: Request) -> Response:
        return json_response({"ran": self.sandbox.tick()})

    def _buyers(self, request: Request) -> Response:
        if request.method == "POST":
            data = json_body(request)
            rate = float(data.pop("rate_per_second", 1.0))
            return json_response({"buyers": self.sandbox.start_buyers(rate, **data)}, 201)
        if request.method == "DELETE":
            return json_response({"buyers": self.sandbox.stop_buyers()})
        loop = self.sandbox.buyers
        return json_response({"buyers": loop.as_json() if loop else None})


@dataclass
class _Exchange:
    """One SP-API call on its way through the checks, and the request-log entry it leaves."""

    sandbox: AmazonSandbox
    environ: dict
    raw_path: str
    query: dict[str, list[str]]
    entry: dict[str, Any]
    headers: dict[str, str]
    started: float
    match: Match | None

    def finish(self, status: int, body: Any, *, injected: bool = False) -> Response:
        sandbox = self.sandbox
        op = self.match.operation if self.match else None
        # Injected faults are deliberate (a 504 is the gateway's, not the model's answer).
        checked = op is not None and status >= 100 and not injected
        if checked and sandbox.config.validate_responses:
            self.entry["response_problems"] = sandbox.spec.validate_response(op, status, body)
        all_headers = dict(self.headers)
        if op is not None and (200 <= status < 300 or status in RATE_HEADER_STATUSES):
            rate = sandbox.rate_limiter.rate_header(op.key)
            if rate is not None:
                all_headers["x-amzn-RateLimit-Limit"] = rate
        self.record(status if status >= 100 else "dropped")
        if body is None:
            return Response(b"", status=status, headers=all_headers)
        return json_response(body, status, all_headers)

    def record(self, status: int | str) -> None:
        self.entry["status"] = status
        self.entry["duration_ms"] = round((time.monotonic() - self.started) * 1000, 2)
        self.sandbox.request_log.record(self.entry)

    def drop(self) -> Response:
        self.finish(0, None, injected=True)
        return wsgi.drop_connection(self.environ)


def _refuse_before_handling(call: _Exchange, faults: list[Fault]) -> Response | None:
    """The injected faults that answer instead of the handler (or delay the call first)."""
    by_kind = {f.kind: f for f in faults}
    for fault in faults:
        if fault.kind == "slow" and not fault.apply:
            time.sleep(fault.seconds)
        if fault.kind == "drop_connection" and not fault.apply:
            return call.drop()
    if "throttle" in by_kind:
        call.entry["throttled"] = True
        return call.finish(429, _quota_exceeded(), injected=True)
    if "unauthorized" in by_kind:
        return call.finish(403, _unauthorized(), injected=True)
    for kind, status in (("http_500", 500), ("http_503", 503)):
        if kind in by_kind:
            return call.finish(status, payloads.errors(*ERROR_BODIES[status]), injected=True)
    if "http_503_html" in by_kind:
        call.record(503)
        return Response(
            "<html><body><h1>503 Service Unavailable</h1></body></html>",
            status=503,
            headers=call.headers,
            content_type="text/html",
        )
    return None


def _read_json(raw: bytes) -> tuple[Any, str | None]:
    """The request body and, when it is not JSON, the problem to answer 400 with."""
    if not raw:
        return None, None
    try:
        return json.loads(raw), None
    except ValueError as exc:
        return None, f"the body is not valid JSON: {exc}"


def _unauthorized() -> dict:
    return payloads.errors(
        "Unauthorized",
        "Access to requested resource is denied.",
        "The access token you provided is revoked, malformed or invalid.",
    )


def _listing_kwargs(item: dict) -> dict:
    allowed = (
        "sku",
        "seller_id",
        "marketplace_id",
        "channel",
        "quantity",
        "asin",
        "product_type",
        "title",
        "price",
        "fba",
        "lead_time_to_ship_max_days",
    )
    unknown = set(item) - set(allowed)
    if unknown:
        raise SandboxError(f"unknown listing fields: {sorted(unknown)}")
    return dict(item)


def _moment(value: Any, name: str):
    try:
        return parse_iso(str(value))
    except ValueError:
        raise SandboxError(f"{name} must be an ISO 8601 date-time, not {value!r}") from None


def _quota_exceeded() -> dict:
    return payloads.errors("QuotaExceeded", "You exceeded your quota for the requested resource.")


def _s3_error(status: int, code: str, message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId></Error>"
    )
    return Response(body, status=status, content_type="application/xml")


def make_app(sandbox: AmazonSandbox, base_url: str | None = None) -> SandboxApp:
    return SandboxApp(sandbox, base_url)
