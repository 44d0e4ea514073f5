"""Python conveniences over the fault book, the usage plans and the request log."""

from __future__ import annotations

from typing import Any

from channels.sandbox.common.errors import SandboxError

from .base import WorldBase


class ControlsMixin(WorldBase):
    def add_fault(self, kind: str, count: int = 1, **options: Any) -> dict:
        return self.faults.add(kind, count, **options).as_json()

    def throttle(self, operation: str | None = None, count: int = 1) -> dict:
        """The next `count` calls of `operation` answer 429 QuotaExceeded (a 429 storm)."""
        return self.add_fault("throttle", count, match=operation)

    def fail(self, operation: str | None = None, status: int = 500, count: int = 1) -> dict:
        kind = {500: "http_500", 503: "http_503", 504: "http_504"}.get(status)
        if kind is None:
            raise SandboxError("status must be 500, 503 or 504")
        return self.add_fault(kind, count, match=operation)

    def slow(
        self, operation: str | None = None, seconds: float = 5.0, count: int = 1, apply: bool = True
    ) -> dict:
        return self.add_fault("slow", count, match=operation, seconds=seconds, apply=apply)

    def reject_patches(self, count: int = 1, sku: str | None = None) -> dict:
        """The next accepted quantity submission(s) answer ACCEPTED, are not applied, and leave
        an ERROR issue on the listing (what getListingsItem/searchListingsItems `issues` and
        LISTINGS_ITEM_ISSUES_CHANGE then show)."""
        return self.add_fault("rejected_patch", count, match=sku)

    def lose_patches(self, count: int = 1, sku: str | None = None) -> dict:
        """The next accepted quantity submission(s) answer ACCEPTED but never apply."""
        return self.add_fault("lost_patch", count, match=sku)

    def fail_feeds(self, count: int = 1) -> dict:
        """The next createFeed(s) are accepted and then end FATAL."""
        return self.add_fault("feed_fatal", count)

    def drop_notifications(self, count: int = 1, notification_type: str | None = None) -> dict:
        return self.add_fault("drop_notification", count, match=notification_type)

    def clear_faults(self) -> None:
        self.faults.clear()

    def set_rate_limits(
        self,
        *,
        enabled: bool | None = None,
        scale: float | None = None,
        operation: str | None = None,
        rate: float | None = None,
        burst: int | None = None,
    ) -> None:
        key = self.spec.find(operation).key if operation else None
        if enabled is not None:
            self.config.rate_limits = bool(enabled)
        if scale is not None:
            self.config.rate_scale = float(scale)
        self.rate_limiter.configure(
            scale=scale, enabled=enabled, operation=key, rate=rate, burst=burst
        )

    def requests(self, operation: str | None = None) -> list[dict]:
        return self.request_log.entries(operation=operation)

    def invalid_requests(self) -> list[dict]:
        return self.request_log.invalid()
