"""Injected faults and the request log that benchmarks and tests count calls with."""

from __future__ import annotations

from collections import Counter
from typing import Any

from channels.sandbox.common import faults as common_faults
from channels.sandbox.common import requestlog as common_requestlog
from channels.sandbox.common.faults import Fault

# kind -> what the client sees. `apply` says whether the request still runs on the server
# before the fault shows, which is what makes a timeout or a dropped connection dangerous.
FAULT_KINDS = {
    "throttled": "HTTP 200 with a THROTTLED error, nothing executed, bucket untouched",
    "http_429": "HTTP 429 with Retry-After and a THROTTLED body",
    "http_500": "HTTP 500 with an INTERNAL_SERVER_ERROR body",
    "http_502": "HTTP 502 with an HTML gateway page",
    "http_503": "HTTP 503 with an HTML maintenance page",
    "internal_error": "HTTP 200 with a top-level INTERNAL_SERVER_ERROR error and no data",
    "slow": "sleep `seconds`: after executing (apply=true, default) or before it (apply=false)",
    "lost_write": "inventory writes answer success but are not persisted (no webhook)",
    "drop_connection": "close the socket without an answer (after executing unless apply=false)",
}
DEFAULT_APPLY = {"slow": True, "drop_connection": True, "lost_write": True}


class FaultBook(common_faults.FaultBook):
    def __init__(self) -> None:
        super().__init__(FAULT_KINDS, DEFAULT_APPLY)

    def add(
        self,
        kind: str,
        count: int = 1,
        *,
        match: str | None = None,  # operation name or root field name; None = any GraphQL call
        seconds: float = 0.0,
        retry_after: float = 1.0,
        apply: bool | None = None,
    ) -> Fault:
        self.check_kind(kind)
        if kind == "lost_write" and match is None:
            match = "inventorySetQuantities"
        return super().add(
            kind, count, match=match, seconds=seconds, retry_after=retry_after, apply=apply
        )


class RequestLog(common_requestlog.RequestLog):
    def __init__(self, history: int = 10_000) -> None:
        super().__init__(history)

    def _new_counters(self) -> dict[str, Any]:
        return {
            "calls": 0,
            "by_operation": Counter(),
            "by_field": Counter(),
            "by_mutation_field": Counter(),
            "by_status": Counter(),
            "by_outcome": Counter(),
            "by_fault": Counter(),
            "requested_cost_total": 0,
            "actual_cost_total": 0,
        }

    def _count(self, c: dict[str, Any], entry: dict) -> None:
        c["calls"] += 1
        c["by_operation"][entry.get("operation_name") or "<anonymous>"] += 1
        for name in entry.get("root_fields") or ():
            c["by_field"][name] += 1
            if entry.get("operation_type") == "mutation":
                c["by_mutation_field"][name] += 1
        c["by_status"][str(entry.get("status"))] += 1
        c["by_outcome"][entry.get("outcome", "ok")] += 1
        for kind in entry.get("faults") or ():
            c["by_fault"][kind] += 1
        c["requested_cost_total"] += entry.get("requested_cost") or 0
        c["actual_cost_total"] += entry.get("actual_cost") or 0
