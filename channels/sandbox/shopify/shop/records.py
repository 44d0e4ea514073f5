"""The records of a shop: locations, products, variants, inventory items and levels, orders
with their lines, fulfilments and refunds; Shopify's quantity names and global ids.

Quantities follow Shopify's names: on_hand = available + committed + reserved + damaged +
safety_stock + quality_control; incoming is outside on_hand.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from channels.sandbox.common.errors import NotFound

STORED_NAMES = (
    "available",
    "committed",
    "reserved",
    "damaged",
    "safety_stock",
    "quality_control",
    "incoming",
)
UNAVAILABLE_NAMES = ("reserved", "damaged", "safety_stock", "quality_control")
QUANTITY_NAMES = ("available", "on_hand", *STORED_NAMES[1:])

GID_RE = re.compile(r"^gid://shopify/(?P<type>[A-Za-z]+)/(?P<id>\d+)(?:\?(?P<query>.*))?$")


def parse_gid(value: Any, expected: str | None = None) -> int | None:
    if not isinstance(value, str):
        return None
    match = GID_RE.match(value)
    if not match or (expected and match["type"] != expected):
        return None
    return int(match["id"])


def gid(kind: str, number: int) -> str:
    return f"gid://shopify/{kind}/{number}"


@dataclass
class Location:
    id: int
    name: str
    created_at: datetime
    is_active: bool = True
    fulfills_online_orders: bool = True
    is_primary: bool = False

    @property
    def gid(self) -> str:
        return gid("Location", self.id)


@dataclass
class Product:
    id: int
    title: str
    handle: str
    created_at: datetime
    updated_at: datetime
    variant_ids: list[int] = field(default_factory=list)

    @property
    def gid(self) -> str:
        return gid("Product", self.id)


@dataclass
class Variant:
    id: int
    product_id: int
    inventory_item_id: int
    sku: str | None
    barcode: str | None
    title: str
    price: Decimal
    created_at: datetime
    updated_at: datetime
    grams: int = 0

    @property
    def gid(self) -> str:
        return gid("ProductVariant", self.id)


@dataclass
class InventoryItem:
    id: int
    variant_id: int
    sku: str | None
    created_at: datetime
    updated_at: datetime
    tracked: bool = True

    @property
    def gid(self) -> str:
        return gid("InventoryItem", self.id)


@dataclass
class Level:
    item_id: int
    location_id: int
    created_at: datetime
    stored: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STORED_NAMES, 0))
    changed_at: dict[str, datetime | None] = field(
        default_factory=lambda: dict.fromkeys(QUANTITY_NAMES)
    )
    is_active: bool = True

    @property
    def gid(self) -> str:
        return f"gid://shopify/InventoryLevel/{self.location_id}?inventory_item_id={self.item_id}"

    @property
    def updated_at(self) -> datetime:
        stamps = [s for s in self.changed_at.values() if s is not None]
        return max(stamps, default=self.created_at)

    def quantity(self, name: str) -> int:
        if name == "on_hand":
            return (
                self.stored["available"]
                + self.stored["committed"]
                + sum(self.stored[n] for n in UNAVAILABLE_NAMES)
            )
        return self.stored[name]

    def move(self, deltas: dict[str, int], moment: datetime) -> None:
        """Apply deltas to stored buckets; on_hand is derived, so it changes with them."""
        on_hand_before = self.quantity("on_hand")
        for name, delta in deltas.items():
            if delta:
                self.stored[name] += delta
                self.changed_at[name] = moment
        if self.quantity("on_hand") != on_hand_before:
            self.changed_at["on_hand"] = moment

    def as_json(self) -> dict:
        return {name: self.quantity(name) for name in QUANTITY_NAMES}


@dataclass
class Shopper:
    """Who checked out and where the order goes: the customer, the shipping address (also the
    billing one) and the shipping rate picked at checkout (the sandbox ships for free)."""

    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    address1: str = "1 Market St"
    city: str = "San Francisco"
    zip: str = "94105"
    province: str = "California"
    province_code: str = "CA"
    country: str = "United States"
    country_code: str = "US"
    shipping_title: str = "Standard"
    shipping_code: str = "STANDARD"

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def customer_id(self) -> int:
        """The shop's one customer record per shopper (by email, else name), below 2**53."""
        return 7_200_000_000_000 + zlib.crc32((self.email or self.name).encode())


@dataclass
class LineItem:
    id: int
    variant_id: int
    product_id: int
    inventory_item_id: int
    sku: str | None
    title: str
    variant_title: str | None
    price: Decimal
    quantity: int
    current_quantity: int
    unfulfilled_quantity: int
    fulfilled_quantity: int = 0
    returned_quantity: int = 0
    hide_variant_id: bool = False
    grams: int = 0  # per item

    @property
    def gid(self) -> str:
        return gid("LineItem", self.id)

    @property
    def name(self) -> str:
        return f"{self.title} - {self.variant_title}" if self.variant_title else self.title

    @property
    def fulfillable_quantity(self) -> int:
        return self.unfulfilled_quantity

    @property
    def fulfillment_status(self) -> str | None:
        if self.fulfilled_quantity == 0:
            return None
        return "fulfilled" if self.unfulfilled_quantity == 0 else "partial"


@dataclass
class Fulfillment:
    id: int
    order_id: int
    location_id: int
    name: str
    created_at: datetime
    updated_at: datetime
    lines: list[tuple[int, int]]  # (line item id, quantity)
    line_ids: list[int]  # FulfillmentLineItem ids, parallel to `lines`
    status: str = "success"
    tracking_company: str | None = None
    tracking_numbers: list[str] = field(default_factory=list)
    tracking_urls: list[str] = field(default_factory=list)

    @property
    def gid(self) -> str:
        return gid("Fulfillment", self.id)


@dataclass
class RefundLine:
    id: int
    line_item_id: int
    quantity: int
    restock_type: str
    location_id: int | None


@dataclass
class Refund:
    id: int
    order_id: int
    created_at: datetime
    note: str | None
    restock: bool
    lines: list[RefundLine]
    amount: Decimal
    transaction_id: int

    @property
    def gid(self) -> str:
        return gid("Refund", self.id)


@dataclass
class Order:
    id: int
    number: int
    created_at: datetime
    updated_at: datetime
    location_id: int
    line_items: list[LineItem]
    fulfillment_order_id: int
    fulfillment_order_line_ids: dict[int, int]  # line item id -> fulfillment order line id
    confirmation_number: str
    source_name: str = "web"
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    closed_at: datetime | None = None
    financial_status: str = "paid"
    fulfillments: list[Fulfillment] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)
    staff_note: str | None = None
    shopper: Shopper | None = None  # None: a point-of-sale order without a customer

    @property
    def total_weight(self) -> int:
        return sum(line.grams * line.quantity for line in self.line_items)

    @property
    def gid(self) -> str:
        return gid("Order", self.id)

    @property
    def order_number(self) -> int:
        return 1000 + self.number

    @property
    def name(self) -> str:
        return f"#{self.order_number}"

    def line_item(self, line_item_id: int) -> LineItem:
        for line in self.line_items:
            if line.id == line_item_id:
                return line
        raise NotFound(f"order {self.name} has no line item {line_item_id}")

    @property
    def fulfillment_status(self) -> str | None:
        fulfilled = sum(line.fulfilled_quantity for line in self.line_items)
        if fulfilled == 0:
            return None
        if any(line.unfulfilled_quantity for line in self.line_items):
            return "partial"
        return "fulfilled"

    @property
    def display_fulfillment_status(self) -> str:
        status = self.fulfillment_status
        if status == "fulfilled":
            return "FULFILLED"
        if status == "partial":
            return "PARTIALLY_FULFILLED"
        return "UNFULFILLED"

    @property
    def fulfillment_order_status(self) -> str:
        if self.cancelled_at is not None:
            return "CANCELLED"
        remaining = sum(line.unfulfilled_quantity for line in self.line_items)
        fulfilled = sum(line.fulfilled_quantity for line in self.line_items)
        if remaining == 0:
            return "CLOSED"
        return "IN_PROGRESS" if fulfilled else "OPEN"


@dataclass
class IdempotentRecord:
    field_name: str
    fingerprint: str
    result: Any


def unique_levels(levels: Iterable[Level]) -> list[Level]:
    seen: dict[tuple[int, int], Level] = {}
    for level in levels:
        seen.setdefault((level.item_id, level.location_id), level)
    return list(seen.values())
