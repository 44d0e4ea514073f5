"""What the Shopify client takes and returns: plain frozen values, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from channels.lanes.calls import CallRecord
from channels.lanes.throttle import ThrottleStatus


@dataclass(frozen=True, slots=True)
class Cost:
    requested: float | None
    actual: float | None
    throttle_status: ThrottleStatus | None

    @classmethod
    def from_payload(cls, payload: Any) -> Cost | None:
        if not isinstance(payload, dict):
            return None
        raw = (payload.get("extensions") or {}).get("cost")
        if not isinstance(raw, dict):
            return None
        return cls(
            requested=_number(raw.get("requestedQueryCost")),
            actual=_number(raw.get("actualQueryCost")),
            throttle_status=ThrottleStatus.from_json(raw.get("throttleStatus")),
        )


@dataclass(frozen=True, slots=True)
class Answer:
    data: dict[str, Any]
    call: CallRecord

    @property
    def cost(self) -> Cost | None:
        return self.call.cost


@dataclass(frozen=True, slots=True)
class SetQuantity:
    inventory_item_id: str  # gid://shopify/InventoryItem/…
    location_id: str  # gid://shopify/Location/…
    quantity: int
    # The quantity we believe Shopify holds now; None sends an explicit null (no compare).
    change_from: int | None


@dataclass(frozen=True, slots=True)
class UserError:
    code: str | None
    field: tuple[str, ...] | None
    message: str

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> UserError:
        field_path = raw.get("field")
        return cls(
            code=raw.get("code"),
            field=tuple(str(p) for p in field_path) if field_path is not None else None,
            message=str(raw.get("message") or ""),
        )


@dataclass(frozen=True, slots=True)
class InventoryChange:
    name: str
    delta: int
    quantity_after_change: int | None
    inventory_item_id: str | None
    location_id: str | None


@dataclass(frozen=True, slots=True)
class SetResult:
    applied: bool
    stale: bool  # some quantity failed its compare-and-set: re-read, do not overwrite
    user_errors: tuple[UserError, ...]
    changes: tuple[InventoryChange, ...]
    adjustment_group_id: str | None
    cost: Cost | None
    attempts: int
    call: CallRecord


@dataclass(frozen=True, slots=True)
class Level:
    available: int
    on_hand: int
    committed: int
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class Variant:
    variant_gid: str
    variant_id: str  # numeric legacy id as a string (UnsignedInt64 arrives as a JSON string)
    inventory_item_gid: str | None
    sku: str | None
    barcode: str | None
    title: str


@dataclass(frozen=True, slots=True)
class ShopLocation:
    gid: str
    legacy_id: str
    name: str
    is_active: bool
    fulfills_online_orders: bool
    has_active_inventory: bool
    is_fulfillment_service: bool


@dataclass(frozen=True, slots=True)
class Tracking:
    company: str | None
    number: str | None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class CreatedFulfillment:
    id: str
    status: str
    location_id: str | None
    fulfillment_order_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FulfillmentResult:
    # One fulfillment per assigned location (Shopify requires one location per call); empty when
    # nothing was left to fulfil, which makes a repeated confirmation harmless.
    fulfillments: tuple[CreatedFulfillment, ...]
    calls: tuple[CallRecord, ...]

    @property
    def fulfillment_id(self) -> str | None:
        return self.fulfillments[0].id if self.fulfillments else None

    @property
    def status(self) -> str | None:
        return self.fulfillments[0].status if self.fulfillments else None


@dataclass(frozen=True, slots=True)
class CancelResult:
    job_id: str | None
    job_done: bool
    call: CallRecord


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
