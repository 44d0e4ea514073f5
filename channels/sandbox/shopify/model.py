"""The in-memory shop: catalogue, inventory levels, orders, fulfilment, refunds.

Plain Python, no Django. One re-entrant lock guards all state; the GraphQL layer holds it for a
whole document so a request sees and changes the shop atomically, like one Shopify transaction.
Quantities follow Shopify's names: on_hand = available + committed + reserved + damaged +
safety_stock + quality_control; incoming is outside on_hand.
"""

from __future__ import annotations

import itertools
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from channels.sandbox.common.config import override
from channels.sandbox.common.errors import NotFound, OutOfStock, SandboxError

from . import payloads
from .faults import FaultBook, RequestLog
from .schema import API_VERSION
from .throttle import CostBucket
from .webhooks import Subscription, WebhookDispatcher

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
SET_NAMES = ("available", "on_hand")
ADJUST_NAMES = ("available", "damaged", "incoming", "quality_control", "reserved", "safety_stock")

# Shopify answers with a display label, not the input code ("correction" -> "Inventory
# correction" is documented; the other labels are our best guess).
REASON_LABELS = {
    "correction": "Inventory correction",
    "cycle_count_available": "Cycle count",
    "damaged": "Damaged",
    "movement_created": "Movement created",
    "movement_updated": "Movement updated",
    "movement_received": "Movement received",
    "movement_canceled": "Movement canceled",
    "other": "Other",
    "promotion": "Promotion or donation",
    "quality_control": "Quality control",
    "received": "Inventory received",
    "reservation_created": "Reservation created",
    "reservation_deleted": "Reservation deleted",
    "reservation_updated": "Reservation updated",
    "restock": "Restock",
    "safety_stock": "Safety stock",
    "shrinkage": "Shrinkage",
}
CANCEL_REASONS = ("customer", "declined", "fraud", "inventory", "staff", "other")
RESTOCK_TYPES = ("no_restock", "cancel", "return", "legacy_restock")
QUANTITY_LIMIT = 1_000_000_000

# Realistic-looking numeric ids, all below 2**53 so JavaScript clients do not round them.
TRANSACTIONAL_KINDS = frozenset(
    {
        "order",
        "line_item",
        "fulfillment_order",
        "fulfillment_order_line",
        "fulfillment",
        "fulfillment_line",
        "refund",
        "refund_line",
    }
)
ID_BASES = {
    "product": 8_100_000_000_000,
    "variant": 45_100_000_000_000,
    "inventory_item": 47_100_000_000_000,
    "location": 71_000_000_000,
    "order": 6_100_000_000_000,
    "line_item": 15_100_000_000_000,
    "fulfillment_order": 7_100_000_000_000,
    "fulfillment_order_line": 16_100_000_000_000,
    "fulfillment": 5_600_000_000_000,
    "fulfillment_line": 12_100_000_000_000,
    "refund": 9_100_000_000_000,
    "refund_line": 9_600_000_000_000,
    "transaction": 8_600_000_000_000,
    "adjustment_group": 97_854_000_000,
    "order_edit": 78_900_000_000,
    "job": 3_300_000_000,
}

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


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class SandboxConfig:
    shop_domain: str = "sandbox-shop.myshopify.com"
    shop_name: str = "Sandbox shop"
    access_token: str = "shpat_sandbox_token"
    api_version: str = API_VERSION
    bucket_size: float = 2000.0
    restore_rate: float = 100.0
    max_query_cost: int = 1000
    # Shopify answers THROTTLED with HTTP 200 mostly, 429 sometimes; clients must take both.
    throttle_http_status: int = 200
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = utc_now
    seed: int = 0
    # Added to the ids of everything shoppers and admins create (orders, their lines,
    # fulfilments, refunds): a sandbox started again against the same database (the demo,
    # run twice) must never hand out an order id that database has already seen.
    order_id_offset: int = 0
    default_location: str = "Main warehouse"
    default_price: str = "25.00"
    currency: str = "USD"


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


class ShopifySandbox:
    """One fake shop. Every public method is thread-safe."""

    def __init__(self, config: SandboxConfig | None = None, **overrides: Any) -> None:
        config = override(config or SandboxConfig(), overrides)
        self.config = config
        self.lock = threading.RLock()
        self.bucket = CostBucket(config.bucket_size, config.restore_rate, config.clock)
        self.webhooks = WebhookDispatcher(config.shop_domain, seed=config.seed)
        self.faults = FaultBook()
        self.request_log = RequestLog()
        # Ids keep counting across resets: the app's database outlives a sandbox reset and must
        # never see an order id or number come back.
        self._ids = {
            kind: itertools.count(
                base + 1 + (config.order_id_offset if kind in TRANSACTIONAL_KINDS else 0)
            )
            for kind, base in ID_BASES.items()
        }
        self._order_numbers = itertools.count(1)
        self.shoppers = None
        self._clear_state()

    # lifecycle -------------------------------------------------------------------------------
    def _clear_state(self) -> None:
        self.locations: dict[int, Location] = {}
        self.products: dict[int, Product] = {}
        self.variants: dict[int, Variant] = {}
        self.items: dict[int, InventoryItem] = {}
        self.levels: dict[tuple[int, int], Level] = {}
        self.orders: dict[int, Order] = {}
        self.adjustment_groups: dict[int, dict] = {}
        self.idempotency: dict[str, IdempotentRecord] = {}
        self.jobs: dict[int, dict] = {}
        self.add_location(self.config.default_location, primary=True)

    def reset(self) -> None:
        """Empty shop with one primary location; faults, logs, webhooks and bucket reset too."""
        self.stop_shoppers()
        with self.lock:
            self._clear_state()
            self.faults.clear()
            self.request_log.clear()
            self.webhooks.clear(seed=self.config.seed)
            self.bucket.fill()

    def close(self) -> None:
        self.stop_shoppers()
        self.webhooks.stop()

    def next_id(self, kind: str) -> int:
        return next(self._ids[kind])

    def now(self) -> datetime:
        # Shopify stores whole seconds: two changes in one second share a timestamp, so a
        # client polling with `updated_at:>` must overlap its window.
        return self.config.now().astimezone(UTC).replace(microsecond=0)

    def _emit(self, topic: str, payload: dict, moment: datetime) -> str:
        return self.webhooks.publish(topic, payload, moment)

    def _emit_level(self, level: Level, moment: datetime) -> None:
        self._emit(
            "inventory_levels/update",
            payloads.inventory_level_payload(
                level.item_id, level.location_id, level.quantity("available"), moment
            ),
            moment,
        )

    # webhooks --------------------------------------------------------------------------------
    def subscribe_webhooks(
        self,
        url: str,
        secret: str,
        *,
        api_version: str | None = None,
        topics: Iterable[str] | None = None,
        name: str | None = None,
        duplicate_rate: float = 0.0,
        reorder_rate: float = 0.0,
        delay_ms: tuple[float, float] | list[float] = (2.0, 100.0),
        max_retries: int = 8,
        retry_base_ms: float = 50.0,
        retry_max_ms: float = 2000.0,
        timeout_s: float = 5.0,
        seed: int | None = None,
        replace: bool = True,
    ) -> Subscription:
        low, high = (float(x) for x in delay_ms)
        subscription = Subscription(
            url=url,
            secret=secret,
            api_version=api_version or self.config.api_version,
            topics=frozenset(topics) if topics is not None else None,
            name=name,
            duplicate_rate=float(duplicate_rate),
            reorder_rate=float(reorder_rate),
            delay_ms=(low, max(low, high)),
            max_retries=int(max_retries),
            retry_base_ms=float(retry_base_ms),
            retry_max_ms=float(retry_max_ms),
            timeout_s=float(timeout_s),
        )
        return self.webhooks.subscribe(subscription, replace=replace, seed=seed)

    def flush_webhooks(self, timeout: float = 10.0) -> dict:
        return self.webhooks.flush(timeout)

    # catalogue -------------------------------------------------------------------------------
    def add_location(
        self,
        name: str,
        *,
        primary: bool = False,
        is_active: bool = True,
        fulfills_online_orders: bool = True,
    ) -> Location:
        with self.lock:
            location = Location(
                id=self.next_id("location"),
                name=name,
                created_at=self.now(),
                is_active=is_active,
                fulfills_online_orders=fulfills_online_orders,
                is_primary=primary,
            )
            self.locations[location.id] = location
            return location

    def seed(
        self, products: Iterable[dict], locations: Iterable[dict | str] = ()
    ) -> dict[str, list[dict]]:
        """Create locations and one-variant products with stock.

        products: [{"sku", "barcode"?, "title"?, "variant_title"?, "price"?,
                    "quantities"?: {location name | id | gid: int | {"available": n, ...}}}]
        Without "quantities" the item is stocked at the primary location with 0 available.
        """
        with self.lock:
            for spec in locations:
                spec = {"name": spec} if isinstance(spec, str) else dict(spec)
                if self._location_by_name(spec["name"]) is None:
                    self.add_location(
                        spec["name"],
                        is_active=spec.get("is_active", True),
                        fulfills_online_orders=spec.get("fulfills_online_orders", True),
                    )
            created = [self._seed_product(dict(spec)) for spec in products]
            return {
                "locations": [self.location_json(loc) for loc in self.locations.values()],
                "products": created,
            }

    def _seed_product(self, spec: dict) -> dict:
        moment = self.now()
        sku = spec.get("sku")
        title = spec.get("title") or (f"Product {sku}" if sku else "Untitled product")
        product = Product(
            id=self.next_id("product"),
            title=title,
            handle=re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "product",
            created_at=moment,
            updated_at=moment,
        )
        variant = Variant(
            id=self.next_id("variant"),
            product_id=product.id,
            inventory_item_id=self.next_id("inventory_item"),
            sku=sku,
            barcode=spec.get("barcode"),
            title=spec.get("variant_title") or "Default Title",
            price=Decimal(str(spec.get("price", self.config.default_price))),
            created_at=moment,
            updated_at=moment,
        )
        item = InventoryItem(
            id=variant.inventory_item_id,
            variant_id=variant.id,
            sku=sku,
            created_at=moment,
            updated_at=moment,
            tracked=spec.get("tracked", True),
        )
        product.variant_ids.append(variant.id)
        self.products[product.id] = product
        self.variants[variant.id] = variant
        self.items[item.id] = item
        quantities = spec.get("quantities")
        if quantities is None:
            quantities = {self.primary_location().id: 0}
        for location_ref, value in quantities.items():
            location = self._location_by_ref(location_ref, create=True)
            level = self._stock(item, location, moment)
            buckets = value if isinstance(value, dict) else {"available": value}
            deltas = {}
            for name, amount in buckets.items():
                if name == "on_hand":
                    deltas["available"] = deltas.get("available", 0) + int(amount)
                elif name in STORED_NAMES:
                    deltas[name] = deltas.get(name, 0) + int(amount)
                else:
                    raise SandboxError(f"unknown quantity name {name!r}")
            level.move(deltas, moment)
        return self.variant_json(variant)

    def _stock(self, item: InventoryItem, location: Location, moment: datetime) -> Level:
        key = (item.id, location.id)
        level = self.levels.get(key)
        if level is None:
            level = Level(item_id=item.id, location_id=location.id, created_at=moment)
            self.levels[key] = level
        return level

    def activate(self, item_ref: Any, location_ref: Any) -> Level:
        """Stock an item at a location (Shopify's inventoryActivate)."""
        with self.lock:
            item = self.find_item(item_ref)
            location = self._location_by_ref(location_ref)
            return self._stock(item, location, self.now())

    # lookups ---------------------------------------------------------------------------------
    def primary_location(self) -> Location:
        for location in self.locations.values():
            if location.is_primary:
                return location
        return next(iter(self.locations.values()))

    def _location_by_name(self, name: str) -> Location | None:
        for location in self.locations.values():
            if location.name == name:
                return location
        return None

    def _location_by_ref(self, ref: Any, *, create: bool = False) -> Location:
        number = ref if isinstance(ref, int) else parse_gid(ref, "Location")
        if number is None and isinstance(ref, str) and ref.isdigit():
            number = int(ref)
        if number is not None:
            if number in self.locations:
                return self.locations[number]
            raise NotFound(f"no location {ref}")
        location = self._location_by_name(str(ref))
        if location is None:
            if not create:
                raise NotFound(f"no location named {ref!r}")
            location = self.add_location(str(ref))
        return location

    def find_location(self, ref: Any = None) -> Location:
        with self.lock:
            return self.primary_location() if ref is None else self._location_by_ref(ref)

    def find_variant(self, ref: Any) -> Variant:
        """A variant by numeric id, ProductVariant gid or SKU (strings that are not gids)."""
        with self.lock:
            if isinstance(ref, Variant):
                return ref
            number = ref if isinstance(ref, int) else parse_gid(ref, "ProductVariant")
            if number is not None:
                if number in self.variants:
                    return self.variants[number]
                raise NotFound(f"no variant {ref}")
            for variant in self.variants.values():
                if variant.sku == ref:
                    return variant
            raise NotFound(f"no variant with SKU {ref!r}")

    def find_item(self, ref: Any) -> InventoryItem:
        """An inventory item by numeric id, InventoryItem gid or SKU."""
        with self.lock:
            if isinstance(ref, InventoryItem):
                return ref
            number = ref if isinstance(ref, int) else parse_gid(ref, "InventoryItem")
            if number is not None:
                if number in self.items:
                    return self.items[number]
                raise NotFound(f"no inventory item {ref}")
            variant = self.find_variant(ref)
            return self.items[variant.inventory_item_id]

    def find_order(self, ref: Any) -> Order:
        """An order by numeric id, Order gid or name ("#1001")."""
        with self.lock:
            if isinstance(ref, Order):
                return ref
            number = ref if isinstance(ref, int) else parse_gid(ref, "Order")
            if number is None and isinstance(ref, str) and ref.isdigit():
                number = int(ref)
            if number is not None and number in self.orders:
                return self.orders[number]
            for order in self.orders.values():
                if order.name == ref or order.name == f"#{ref}":
                    return order
            raise NotFound(f"no order {ref}")

    def level(self, item_ref: Any, location_ref: Any = None) -> Level:
        with self.lock:
            item = self.find_item(item_ref)
            location = self.find_location(location_ref)
            level = self.levels.get((item.id, location.id))
            if level is None:
                raise NotFound(f"{item.sku or item.id} is not stocked at {location.name}")
            return level

    # JSON views for the control API -----------------------------------------------------------
    def location_json(self, location: Location) -> dict:
        return {
            "id": location.id,
            "gid": location.gid,
            "name": location.name,
            "is_active": location.is_active,
            "is_primary": location.is_primary,
        }

    def variant_json(self, variant: Variant) -> dict:
        product = self.products[variant.product_id]
        return {
            "sku": variant.sku,
            "barcode": variant.barcode,
            "title": product.title,
            "product_id": product.id,
            "product_gid": product.gid,
            "variant_id": variant.id,
            "variant_gid": variant.gid,
            "inventory_item_id": variant.inventory_item_id,
            "inventory_item_gid": gid("InventoryItem", variant.inventory_item_id),
            "levels": [
                self.level_json(level)
                for (item_id, _), level in sorted(self.levels.items())
                if item_id == variant.inventory_item_id
            ],
        }

    def level_json(self, level: Level) -> dict:
        item = self.items[level.item_id]
        location = self.locations[level.location_id]
        return {
            "sku": item.sku,
            "inventory_item_id": item.id,
            "inventory_item_gid": item.gid,
            "location_id": location.id,
            "location_gid": location.gid,
            "location_name": location.name,
            "updated_at": payloads.rest_time(level.updated_at),
            **level.as_json(),
        }

    def levels_json(self, sku: str | None = None) -> list[dict]:
        with self.lock:
            return [
                self.level_json(level)
                for _, level in sorted(self.levels.items())
                if sku is None or self.items[level.item_id].sku == sku
            ]

    def order_json(self, order_ref: Any) -> dict:
        with self.lock:
            return payloads.order_payload(self.find_order(order_ref))

    def orders_json(self) -> list[dict]:
        with self.lock:
            return [payloads.order_payload(order) for order in self.orders.values()]

    # inventory writes (the GraphQL mutations and the merchant) -------------------------------
    def _resolve_quantity_target(self, index: int, row: dict, path: str, errors: list[dict]):
        item_id = parse_gid(row.get("inventoryItemId"), "InventoryItem")
        location_id = parse_gid(row.get("locationId"), "Location")
        prefix = ["input", path, str(index)]
        if item_id is None or item_id not in self.items:
            errors.append(
                _user_error(
                    "INVALID_INVENTORY_ITEM",
                    [*prefix, "inventoryItemId"],
                    "The specified inventory item could not be found.",
                )
            )
            return None
        if location_id is None or location_id not in self.locations:
            errors.append(
                _user_error(
                    "INVALID_LOCATION",
                    [*prefix, "locationId"],
                    "The specified location could not be found.",
                )
            )
            return None
        level = self.levels.get((item_id, location_id))
        if level is None or not level.is_active:
            errors.append(
                _user_error(
                    "ITEM_NOT_STOCKED_AT_LOCATION",
                    [*prefix, "locationId"],
                    "The specified inventory item is not stocked at the location.",
                )
            )
            return None
        return level

    def _check_common(self, name_ok: bool, name_code: str, reason: str, reference: Any) -> list:
        errors = []
        if not name_ok:
            errors.append(
                _user_error(
                    name_code,
                    ["input", "name"],
                    "The quantity name must be one of: "
                    + ", ".join(SET_NAMES if name_code == "INVALID_NAME" else ADJUST_NAMES)
                    + ".",
                )
            )
        if reason not in REASON_LABELS:
            errors.append(
                _user_error(
                    "INVALID_REASON", ["input", "reason"], "The specified reason is invalid."
                )
            )
        if reference is not None and not _is_uri(reference):
            errors.append(
                _user_error(
                    "INVALID_REFERENCE_DOCUMENT",
                    ["input", "referenceDocumentUri"],
                    "The specified reference document is invalid.",
                )
            )
        return errors

    def _group(self, reason: str, reference: str | None, changes: list[dict]) -> dict:
        group_id = self.next_id("adjustment_group")
        group = {
            "id": gid("InventoryAdjustmentGroup", group_id),
            "createdAt": self.now(),
            "reason": REASON_LABELS.get(reason, reason),
            "referenceDocumentUri": reference,
            "changes": changes,
        }
        self.adjustment_groups[group_id] = group
        return group

    def set_quantities(
        self,
        *,
        name: str,
        reason: str,
        quantities: list[dict],
        reference_document_uri: str | None = None,
        persist: bool = True,
    ) -> tuple[dict | None, list[dict]]:
        """inventorySetQuantities 2026-04: all-or-nothing, compare-and-set per quantity.

        `persist=False` is the lost-write fault: the answer says applied, the shop is unchanged.
        """
        with self.lock:
            errors = self._check_common(
                name in SET_NAMES, "INVALID_NAME", reason, reference_document_uri
            )
            seen: set[tuple[int, int]] = set()
            plan: list[tuple[Level, int]] = []
            for index, row in enumerate(quantities):
                level = self._resolve_quantity_target(index, row, "quantities", errors)
                if level is None:
                    continue
                key = (level.item_id, level.location_id)
                if key in seen:
                    errors.append(
                        _user_error(
                            "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR",
                            ["input", "quantities", str(index)],
                            "The combination of inventoryItemId and locationId must be unique.",
                        )
                    )
                    continue
                seen.add(key)
                quantity = row["quantity"]
                field_path = ["input", "quantities", str(index), "quantity"]
                if quantity < 0:
                    errors.append(
                        _user_error(
                            "INVALID_QUANTITY_NEGATIVE",
                            field_path,
                            "The quantity can't be negative.",
                        )
                    )
                    continue
                if quantity > QUANTITY_LIMIT:
                    errors.append(
                        _user_error(
                            "INVALID_QUANTITY_TOO_HIGH",
                            field_path,
                            "The quantity can't be higher than 1,000,000,000.",
                        )
                    )
                    continue
                expected = row.get("changeFromQuantity")
                if name in SET_NAMES and expected is not None and expected != level.quantity(name):
                    errors.append(
                        _user_error(
                            "CHANGE_FROM_QUANTITY_STALE",
                            ["input", "quantities", str(index), "changeFromQuantity"],
                            "The changeFromQuantity value does not match persisted value.",
                        )
                    )
                    continue
                plan.append((level, quantity))
            if errors:
                return None, errors
            moment = self.now()
            other = "on_hand" if name == "available" else "available"
            changes = []
            touched = []
            for level, quantity in plan:
                delta = quantity - level.quantity(name)
                for change_name in (name, other):
                    changes.append(
                        {
                            "name": change_name,
                            "delta": delta,
                            # Shopify's set examples leave quantityAfterChange null.
                            "quantityAfterChange": None,
                            "_item_id": level.item_id,
                            "_location_id": level.location_id,
                            "ledgerDocumentUri": None,
                        }
                    )
                if persist and delta:
                    # Setting either name moves `available`: the unavailable buckets stay put.
                    level.move({"available": delta}, moment)
                    touched.append(level)
            group = self._group(reason, reference_document_uri, changes)
            for level in touched:
                self._emit_level(level, moment)
            return group, []

    def adjust_quantities(
        self,
        *,
        name: str,
        reason: str,
        changes: list[dict],
        reference_document_uri: str | None = None,
        persist: bool = True,
    ) -> tuple[dict | None, list[dict]]:
        """inventoryAdjustQuantities 2026-04: deltas, same all-or-nothing compare-and-set."""
        with self.lock:
            errors = self._check_common(
                name in ADJUST_NAMES, "INVALID_QUANTITY_NAME", reason, reference_document_uri
            )
            plan: list[tuple[Level, int, str | None]] = []
            for index, row in enumerate(changes):
                level = self._resolve_quantity_target(index, row, "changes", errors)
                if level is None:
                    continue
                prefix = ["input", "changes", str(index)]
                ledger = row.get("ledgerDocumentUri")
                if name == "available" and ledger is not None:
                    errors.append(
                        _user_error(
                            "INVALID_AVAILABLE_DOCUMENT",
                            [*prefix, "ledgerDocumentUri"],
                            "A ledger document URI is not allowed when adjusting available.",
                        )
                    )
                    continue
                if name != "available" and name in ADJUST_NAMES:
                    if ledger is None:
                        errors.append(
                            _user_error(
                                "INVALID_QUANTITY_DOCUMENT",
                                [*prefix, "ledgerDocumentUri"],
                                "A ledger document URI is required for this quantity name.",
                            )
                        )
                        continue
                    if str(ledger).startswith("gid://shopify/"):
                        errors.append(
                            _user_error(
                                "INTERNAL_LEDGER_DOCUMENT",
                                [*prefix, "ledgerDocumentUri"],
                                "The ledger document URI can't reference a Shopify resource.",
                            )
                        )
                        continue
                delta = row["delta"]
                if name in ADJUST_NAMES:
                    after = level.quantity(name) + delta
                    if after > 2 * QUANTITY_LIMIT or after < -2 * QUANTITY_LIMIT:
                        errors.append(
                            _user_error(
                                "INVALID_QUANTITY_TOO_HIGH"
                                if delta > 0
                                else "INVALID_QUANTITY_TOO_LOW",
                                [*prefix, "delta"],
                                "The resulting quantity is out of range.",
                            )
                        )
                        continue
                    expected = row.get("changeFromQuantity")
                    if expected is not None and expected != level.quantity(name):
                        errors.append(
                            _user_error(
                                "CHANGE_FROM_QUANTITY_STALE",
                                [*prefix, "changeFromQuantity"],
                                "The changeFromQuantity value does not match persisted value.",
                            )
                        )
                        continue
                plan.append((level, delta, ledger))
            if errors:
                return None, errors
            moment = self.now()
            result = []
            touched = []
            for level, delta, ledger in plan:
                names = [name] if name == "incoming" else [name, "on_hand"]
                after = {n: level.quantity(n) + delta for n in names}
                for change_name in names:
                    result.append(
                        {
                            "name": change_name,
                            "delta": delta,
                            "quantityAfterChange": after[change_name],
                            "_item_id": level.item_id,
                            "_location_id": level.location_id,
                            "ledgerDocumentUri": ledger,
                        }
                    )
                if persist and delta:
                    level.move({name: delta}, moment)
                    if name == "available":
                        touched.append(level)
            group = self._group(reason, reference_document_uri, result)
            for level in touched:
                self._emit_level(level, moment)
            return group, []

    def admin_edit(self, item_ref: Any, location_ref: Any = None, *, available: int) -> dict:
        """A merchant typing a new available number in the Shopify admin (no compare-and-set)."""
        with self.lock:
            item = self.find_item(item_ref)
            location = self.find_location(location_ref)
            moment = self.now()
            level = self._stock(item, location, moment)
            delta = int(available) - level.quantity("available")
            level.move({"available": delta}, moment)
            self._emit_level(level, moment)
            return self.level_json(level)

    # shoppers and order flows ----------------------------------------------------------------
    def sell(
        self,
        variant: Any = None,
        quantity: int = 1,
        location: Any = None,
        *,
        lines: Iterable[tuple[Any, int]] | None = None,
        variant_id_null: bool = False,
        source_name: str = "web",
    ) -> dict:
        """A shopper checks out: available -> committed, then orders/create.

        `variant` is a variant id, ProductVariant gid or SKU; `lines` takes several
        (variant, quantity) pairs instead. Refused with OutOfStock when no location (or the
        given one) has enough available for every line. Returns the REST order payload.
        """
        wanted = list(lines) if lines is not None else [(variant, quantity)]
        with self.lock:
            resolved = []
            for ref, qty in wanted:
                if int(qty) <= 0:
                    raise SandboxError("quantity must be positive")
                resolved.append((self.find_variant(ref), int(qty)))
            candidates = (
                [self.find_location(location)]
                if location is not None
                else sorted(
                    (loc for loc in self.locations.values() if loc.is_active),
                    key=lambda loc: (not loc.is_primary, loc.id),
                )
            )
            chosen = None
            for candidate in candidates:
                levels = [self.levels.get((v.inventory_item_id, candidate.id)) for v, _ in resolved]
                if all(
                    level is not None and level.quantity("available") >= qty
                    for level, (_, qty) in zip(levels, resolved, strict=True)
                ):
                    chosen = candidate
                    break
            if chosen is None:
                raise OutOfStock(
                    "sold out",
                    skus=[v.sku for v, _ in resolved],
                    requested=[qty for _, qty in resolved],
                )
            moment = self.now()
            order_id = self.next_id("order")
            line_items = []
            touched = []
            for v, qty in resolved:
                product = self.products[v.product_id]
                level = self.levels[(v.inventory_item_id, chosen.id)]
                level.move({"available": -qty, "committed": qty}, moment)
                touched.append(level)
                line_items.append(
                    LineItem(
                        id=self.next_id("line_item"),
                        variant_id=v.id,
                        product_id=product.id,
                        inventory_item_id=v.inventory_item_id,
                        sku=v.sku,
                        title=product.title,
                        variant_title=None if v.title == "Default Title" else v.title,
                        price=v.price,
                        quantity=qty,
                        current_quantity=qty,
                        unfulfilled_quantity=qty,
                        hide_variant_id=variant_id_null,
                    )
                )
            order = Order(
                id=order_id,
                number=next(self._order_numbers),
                created_at=moment,
                updated_at=moment,
                location_id=chosen.id,
                line_items=line_items,
                fulfillment_order_id=self.next_id("fulfillment_order"),
                fulfillment_order_line_ids={
                    line.id: self.next_id("fulfillment_order_line") for line in line_items
                },
                confirmation_number=uuid.uuid4().hex[:9].upper(),
                source_name=source_name,
            )
            self.orders[order.id] = order
            payload = payloads.order_payload(order)
            self._emit("orders/create", payload, moment)
            for level in touched:
                self._emit_level(level, moment)
            return payload

    def _release(
        self, order: Order, line: LineItem, quantity: int, *, restock: bool, moment: datetime
    ) -> Level | None:
        """Take unfulfilled units off an order: back to available, or gone from on_hand."""
        level = self.levels.get((line.inventory_item_id, order.location_id))
        line.unfulfilled_quantity -= quantity
        line.current_quantity -= quantity
        if level is None or quantity == 0:
            return None
        deltas = {"committed": -quantity}
        if restock:
            deltas["available"] = quantity
        level.move(deltas, moment)
        return level if restock else None

    def cancel(
        self,
        order_ref: Any,
        *,
        restock: bool = True,
        reason: str = "customer",
        staff_note: str | None = None,
        refund: bool = True,
    ) -> dict:
        """Cancel an unfulfilled order; with restock its committed units return to available.

        Emits refunds/create (the cancellation refund, restock_type "cancel" when restocking),
        orders/cancelled, orders/updated and inventory_levels/update for restocked levels.
        """
        with self.lock:
            order = self.find_order(order_ref)
            if order.cancelled_at is not None:
                raise SandboxError("Order has already been cancelled.", order_id=order.id)
            if any(line.fulfilled_quantity for line in order.line_items):
                raise SandboxError(
                    "Cannot cancel an order with fulfilled items; cancel the fulfillments first.",
                    order_id=order.id,
                )
            reason = reason.lower()
            if reason not in CANCEL_REASONS:
                raise SandboxError(f"unknown cancel reason {reason!r}")
            moment = self.now()
            refund_lines = []
            touched = []
            amount = Decimal(0)
            for line in order.line_items:
                quantity = line.unfulfilled_quantity
                if quantity <= 0:
                    continue
                amount += line.price * quantity
                refund_lines.append(
                    RefundLine(
                        id=self.next_id("refund_line"),
                        line_item_id=line.id,
                        quantity=quantity,
                        restock_type="cancel" if restock else "no_restock",
                        location_id=order.location_id if restock else None,
                    )
                )
                level = self._release(order, line, quantity, restock=restock, moment=moment)
                if level is not None:
                    touched.append(level)
            order.cancelled_at = moment
            order.cancel_reason = reason
            order.closed_at = moment
            order.staff_note = staff_note
            order.updated_at = moment
            new_refund = None
            if refund and refund_lines:
                new_refund = Refund(
                    id=self.next_id("refund"),
                    order_id=order.id,
                    created_at=moment,
                    note=staff_note,
                    restock=restock,
                    lines=refund_lines,
                    amount=amount,
                    transaction_id=self.next_id("transaction"),
                )
                order.refunds.append(new_refund)
                order.financial_status = "refunded"
            else:
                order.financial_status = "voided"
            payload = payloads.order_payload(order)
            if new_refund is not None:
                self._emit("refunds/create", payloads.refund_payload(order, new_refund), moment)
            self._emit("orders/cancelled", payload, moment)
            self._emit("orders/updated", payload, moment)
            for level in _unique(touched):
                self._emit_level(level, moment)
            return payload

    def create_job(self) -> dict:
        """Shopify runs orderCancel as a job; the sandbox has already finished it."""
        with self.lock:
            job_id = self.next_id("job")
            job = {"id": gid("Job", job_id), "done": True}
            self.jobs[job_id] = job
            return job

    def refund(
        self,
        order_ref: Any,
        lines: Iterable[dict],
        *,
        restock_type: str = "return",
        location: Any = None,
        note: str | None = None,
    ) -> dict:
        """Refund line quantities: lines [{"line_item_id" | "sku", "quantity"}].

        restock_type "cancel" takes unfulfilled units back to available, "return" puts shipped
        units back on the shelf (available and on_hand up), "no_restock" only refunds money
        (unfulfilled units leave committed and on_hand). Emits refunds/create, orders/updated
        and inventory_levels/update where available changed.
        """
        if restock_type not in ("no_restock", "cancel", "return"):
            raise SandboxError(
                f"restock_type must be no_restock, cancel or return, not {restock_type!r}"
            )
        with self.lock:
            order = self.find_order(order_ref)
            target = self.find_location(location) if location is not None else None
            moment = self.now()
            refund_lines = []
            touched = []
            amount = Decimal(0)
            for spec in lines:
                line = self._order_line(order, spec)
                quantity = int(spec.get("quantity", 1))
                if quantity <= 0 or quantity > line.current_quantity:
                    raise SandboxError(
                        f"can refund at most {line.current_quantity} of line {line.id}",
                        line_item_id=line.id,
                    )
                location_id = None
                if restock_type == "cancel":
                    if quantity > line.unfulfilled_quantity:
                        raise SandboxError(
                            f"only {line.unfulfilled_quantity} unfulfilled units of line {line.id}"
                        )
                    location_id = order.location_id
                    level = self._release(order, line, quantity, restock=True, moment=moment)
                    if level is not None:
                        touched.append(level)
                elif restock_type == "return":
                    shipped = line.fulfilled_quantity - line.returned_quantity
                    if quantity > shipped:
                        raise SandboxError(f"only {shipped} shipped units of line {line.id}")
                    back_to = target or self.locations[order.location_id]
                    location_id = back_to.id
                    level = self._stock(self.items[line.inventory_item_id], back_to, moment)
                    level.move({"available": quantity}, moment)
                    line.returned_quantity += quantity
                    line.current_quantity -= quantity
                    touched.append(level)
                else:
                    unfulfilled = min(quantity, line.unfulfilled_quantity)
                    self._release(order, line, unfulfilled, restock=False, moment=moment)
                    line.current_quantity -= quantity - unfulfilled
                amount += line.price * quantity
                refund_lines.append(
                    RefundLine(
                        id=self.next_id("refund_line"),
                        line_item_id=line.id,
                        quantity=quantity,
                        restock_type=restock_type,
                        location_id=location_id,
                    )
                )
            new_refund = Refund(
                id=self.next_id("refund"),
                order_id=order.id,
                created_at=moment,
                note=note,
                restock=restock_type != "no_restock",
                lines=refund_lines,
                amount=amount,
                transaction_id=self.next_id("transaction"),
            )
            order.refunds.append(new_refund)
            order.updated_at = moment
            order.financial_status = (
                "refunded"
                if all(line.current_quantity == 0 for line in order.line_items)
                else "partially_refunded"
            )
            refund_json = payloads.refund_payload(order, new_refund)
            self._emit("refunds/create", refund_json, moment)
            self._emit("orders/updated", payloads.order_payload(order), moment)
            for level in _unique(touched):
                self._emit_level(level, moment)
            return refund_json

    def _order_line(self, order: Order, spec: dict) -> LineItem:
        line_ref = spec.get("line_item_id")
        if line_ref is not None:
            number = line_ref if isinstance(line_ref, int) else parse_gid(line_ref, "LineItem")
            if number is None and str(line_ref).isdigit():
                number = int(line_ref)
            return order.line_item(number)
        for line in order.line_items:
            if line.sku == spec.get("sku"):
                return line
        raise NotFound(f"order {order.name} has no line for {spec}")

    def edit_order(
        self,
        order_ref: Any,
        *,
        changes: Iterable[dict] = (),
        add: Iterable[dict] = (),
        restock: bool = True,
    ) -> dict:
        """Edit an open order (orders/edited + orders/updated).

        changes: [{"line_item_id" | "sku", "quantity": new current quantity}] (down or up);
        add: [{"sku" | "variant_id", "quantity"}] new lines from the order's location.
        """
        with self.lock:
            order = self.find_order(order_ref)
            if order.cancelled_at is not None:
                raise SandboxError("Cannot edit a cancelled order.")
            location = self.locations[order.location_id]
            moment = self.now()
            additions: list[tuple[int, int]] = []
            removals: list[tuple[int, int]] = []
            touched = []
            plan = []
            for spec in changes:
                line = self._order_line(order, spec)
                wanted = int(spec["quantity"])
                shipped = line.fulfilled_quantity - line.returned_quantity
                if wanted < shipped:
                    raise SandboxError(f"line {line.id} already shipped {shipped} units")
                plan.append((line, wanted - line.current_quantity))
            for line, delta in plan:
                level = self._stock(self.items[line.inventory_item_id], location, moment)
                if delta > 0 and level.quantity("available") < delta:
                    raise OutOfStock("sold out", skus=[line.sku], requested=[delta])
            new_lines = []
            for spec in add:
                variant = self.find_variant(spec.get("variant_id") or spec.get("sku"))
                quantity = int(spec.get("quantity", 1))
                level = self.levels.get((variant.inventory_item_id, location.id))
                if level is None or level.quantity("available") < quantity:
                    raise OutOfStock("sold out", skus=[variant.sku], requested=[quantity])
                new_lines.append((variant, quantity))
            for line, delta in plan:
                if delta < 0:
                    level = self._release(order, line, -delta, restock=restock, moment=moment)
                    if level is not None:
                        touched.append(level)
                    removals.append((line.id, -delta))
                elif delta > 0:
                    level = self.levels[(line.inventory_item_id, location.id)]
                    level.move({"available": -delta, "committed": delta}, moment)
                    line.current_quantity += delta
                    line.unfulfilled_quantity += delta
                    touched.append(level)
                    additions.append((line.id, delta))
            for variant, quantity in new_lines:
                product = self.products[variant.product_id]
                level = self.levels[(variant.inventory_item_id, location.id)]
                level.move({"available": -quantity, "committed": quantity}, moment)
                touched.append(level)
                line = LineItem(
                    id=self.next_id("line_item"),
                    variant_id=variant.id,
                    product_id=product.id,
                    inventory_item_id=variant.inventory_item_id,
                    sku=variant.sku,
                    title=product.title,
                    variant_title=None if variant.title == "Default Title" else variant.title,
                    price=variant.price,
                    quantity=quantity,
                    current_quantity=quantity,
                    unfulfilled_quantity=quantity,
                )
                order.line_items.append(line)
                order.fulfillment_order_line_ids[line.id] = self.next_id("fulfillment_order_line")
                additions.append((line.id, quantity))
            order.updated_at = moment
            edit = payloads.order_edit_payload(
                order, self.next_id("order_edit"), moment, additions, removals
            )
            self._emit("orders/edited", edit, moment)
            self._emit("orders/updated", payloads.order_payload(order), moment)
            for level in _unique(touched):
                self._emit_level(level, moment)
            return edit

    def fulfill(
        self,
        order_ref: Any,
        lines: Iterable[dict] | None = None,
        *,
        tracking_company: str | None = None,
        tracking_numbers: Iterable[str] = (),
        tracking_urls: Iterable[str] = (),
    ) -> Fulfillment:
        """Ship units: committed (and so on_hand) go down at the order's location.

        lines: [{"line_item_id" | "sku", "quantity"}]; None ships everything still open.
        Emits fulfillments/create and orders/updated.
        """
        with self.lock:
            order = self.find_order(order_ref)
            if order.cancelled_at is not None:
                raise SandboxError("Fulfillment order is not in an open state.")
            if lines is None:
                plan = [(line, line.unfulfilled_quantity) for line in order.line_items]
            else:
                plan = [(self._order_line(order, s), int(s.get("quantity", 1))) for s in lines]
            plan = [(line, quantity) for line, quantity in plan if quantity > 0]
            if not plan:
                raise SandboxError("Nothing left to fulfill on this order.")
            for line, quantity in plan:
                if quantity > line.unfulfilled_quantity:
                    raise SandboxError(
                        f"Quantity {quantity} exceeds the {line.unfulfilled_quantity} "
                        f"unfulfilled units of line {line.id}."
                    )
            moment = self.now()
            for line, quantity in plan:
                level = self.levels.get((line.inventory_item_id, order.location_id))
                if level is not None:
                    level.move({"committed": -quantity}, moment)
                line.unfulfilled_quantity -= quantity
                line.fulfilled_quantity += quantity
            fulfillment = Fulfillment(
                id=self.next_id("fulfillment"),
                order_id=order.id,
                location_id=order.location_id,
                name=f"{order.name}.{len(order.fulfillments) + 1}",
                created_at=moment,
                updated_at=moment,
                lines=[(line.id, quantity) for line, quantity in plan],
                line_ids=[self.next_id("fulfillment_line") for _ in plan],
                tracking_company=tracking_company,
                tracking_numbers=list(tracking_numbers),
                tracking_urls=list(tracking_urls),
            )
            order.fulfillments.append(fulfillment)
            order.updated_at = moment
            self._emit(
                "fulfillments/create", payloads.fulfillment_payload(order, fulfillment), moment
            )
            self._emit("orders/updated", payloads.order_payload(order), moment)
            return fulfillment

    # shoppers --------------------------------------------------------------------------------
    def start_shoppers(
        self,
        rate_per_second: float = 2.0,
        weights: dict[str, float] | None = None,
        *,
        quantity: int = 1,
        seed: int | None = None,
        max_orders: int | None = None,
    ):
        """Background checkouts at a steady rate, SKUs drawn by weight, until sold out."""
        from .shoppers import ShopperLoop

        self.stop_shoppers()
        loop = ShopperLoop(
            self,
            rate_per_second=rate_per_second,
            weights=weights,
            quantity=quantity,
            rng=random.Random(self.config.seed if seed is None else seed),
            max_orders=max_orders,
        )
        self.shoppers = loop
        loop.start()
        return loop

    def stop_shoppers(self) -> dict | None:
        loop, self.shoppers = self.shoppers, None
        if loop is None:
            return None
        loop.stop()
        return loop.as_json()


def _user_error(code: str, path: list[str] | None, message: str) -> dict:
    return {"code": code, "field": path, "message": message}


def _is_uri(value: Any) -> bool:
    return isinstance(value, str) and re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$", value) is not None


def _unique(levels: Iterable[Level]) -> list[Level]:
    seen: dict[tuple[int, int], Level] = {}
    for level in levels:
        seen.setdefault((level.item_id, level.location_id), level)
    return list(seen.values())
