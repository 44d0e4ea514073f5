"""Injected faults and the request log that tests and benchmarks count calls with."""

from __future__ import annotations

from collections import Counter
from typing import Any

from channels.sandbox.common import faults as common_faults
from channels.sandbox.common import requestlog as common_requestlog
from channels.sandbox.common.faults import Fault

# kind -> what the client sees. Faults match an operation (bare operationId such as
# "patchListingsItem", or "<model>.<operationId>") or, with no match, every SP-API call.
FAULT_KINDS = {
    "throttle": "HTTP 429 QuotaExceeded (no x-amzn-RateLimit-Limit), nothing executed",
    "http_500": "HTTP 500 InternalFailure errors body, nothing executed",
    "http_503": "HTTP 503 ServiceUnavailable errors body, nothing executed",
    "http_503_html": "HTTP 503 with an HTML body: python-amazon-sp-api does not raise on it",
    "http_504": "HTTP 504 gateway timeout errors body, after executing unless apply=false",
    "unauthorized": "HTTP 403 Unauthorized as for a revoked token, nothing executed",
    "slow": "sleep `seconds` (after executing when apply=true, the default; before otherwise)",
    "drop_connection": "close the socket without an answer (after executing unless apply=false)",
    "lost_patch": "patchListingsItem (and JSON_LISTINGS_FEED messages) answer ACCEPTED but the "
    "change is never applied",
    "rejected_patch": "patchListingsItem (and JSON_LISTINGS_FEED messages) answer ACCEPTED, "
    "are not applied, and leave an ERROR issue on fulfillment_availability",
    "feed_fatal": "the next createFeed is accepted (202) but processing ends FATAL",
    "drop_notification": "the next notification(s) (match = notification type) are never sent",
}
# Faults that let the request run on the server first: what makes a timeout dangerous.
DEFAULT_APPLY = {"slow": True, "drop_connection": True, "http_504": True}
# Faults consumed by the model rather than by the HTTP layer.
MODEL_FAULTS = ("lost_patch", "rejected_patch", "feed_fatal", "drop_notification")


class FaultBook(common_faults.FaultBook):
    def __init__(self) -> None:
        super().__init__(FAULT_KINDS, DEFAULT_APPLY, MODEL_FAULTS)

    def add(
        self,
        kind: str,
        count: int = 1,
        *,
        match: str | None = None,
        seconds: float = 0.0,
        apply: bool | None = None,
    ) -> Fault:
        self.check_kind(kind)
        if count < 1:
            raise ValueError("count must be at least 1")
        return super().add(kind, count, match=match, seconds=seconds, apply=apply)


class RequestLog(common_requestlog.RequestLog):
    """Every SP-API call the sandbox answered, with the validation problems found in it."""

    def __init__(self, history: int = 20_000) -> None:
        super().__init__(history)

    def _new_counters(self) -> dict[str, Any]:
        return {
            "calls": 0,
            "by_operation": Counter(),
            "by_status": Counter(),
            "by_fault": Counter(),
            "throttled": 0,
            "invalid": 0,
            "invalid_responses": 0,
        }

    def _count(self, c: dict[str, Any], entry: dict) -> None:
        c["calls"] += 1
        c["by_operation"][entry.get("operation_id") or "<unknown>"] += 1
        c["by_status"][str(entry.get("status"))] += 1
        for kind in entry.get("faults") or ():
            c["by_fault"][kind] += 1
        if entry.get("throttled"):
            c["throttled"] += 1
        if entry.get("problems"):
            c["invalid"] += 1
        if entry.get("response_problems"):
            c["invalid_responses"] += 1

    def entries(self, limit: int | None = None, operation: str | None = None) -> list[dict]:
        items = super().entries()
        if operation is not None:
            items = [e for e in items if operation in (e.get("operation_id"), e.get("operation"))]
        return items[-limit:] if limit else items

    def invalid(self) -> list[dict]:
        """Requests the sandbox refused as invalid against the official models."""
        return [e for e in self.entries() if e.get("problems")]

    def invalid_responses(self) -> list[dict]:
        """Answers of the sandbox that did not match the declared response (a sandbox bug)."""
        return [e for e in self.entries() if e.get("response_problems")]
