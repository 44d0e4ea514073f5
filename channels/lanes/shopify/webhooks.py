"""Shopify webhooks: signature check and the mapping of REST-shaped payloads into the unified
order objects of channels.orders. Pure functions; the view and the ingest worker call them.

Facts (../shared/contracts/shopify/CONTRACT.md §8): X-Shopify-Hmac-Sha256 is base64 of
HMAC-SHA256(app client secret, raw body), compared in constant time before parsing;
X-Shopify-Event-Id is the same on every delivery of one event (the dedupe key), the
X-Shopify-Webhook-Id differs per delivery; delivery is at least once and unordered.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from django.utils.dateparse import parse_datetime

from channels.lanes.base import PayloadError
from channels.order_details import money
from channels.orders import (
    OrderLineSnapshot,
    OrderSnapshot,
    RefundLineSnapshot,
    ShipmentLineSnapshot,
)
from inventory_sync.lib.inputs import holds_nul, parse_time

from .parsers import order_details

TOPICS = (
    "orders/create",
    "orders/updated",
    "orders/cancelled",
    "orders/edited",
    "refunds/create",
    "inventory_levels/update",
    "fulfillments/create",
)
ORDER_TOPICS = ("orders/create", "orders/updated", "orders/cancelled")


__all__ = ["PayloadError"]  # raised here for a payload that lacks what its topic carries


def sign(secret: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signature_valid(secrets: Iterable[str], body: bytes, signature: str) -> bool:
    """True when any of the secrets (current, and the old one during a rotation) signed it."""
    if not signature:
        return False
    given = signature.encode()
    ok = False
    for secret in secrets:
        if secret:
            # No early exit: the time taken does not tell which secret matched.
            ok |= hmac.compare_digest(sign(secret, body).encode(), given)
    return ok


def shopify_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Shopify's headers by lower-case name, in either spelling (X-Shopify-… or the Events
    product's shopify-…), read once per request."""
    found: dict[str, str] = {}
    for key, value in headers.items():
        lowered = key.lower()
        if lowered.startswith("shopify-"):
            found.setdefault("x-" + lowered, value)
        elif lowered.startswith("x-shopify-"):
            found[lowered] = value
    return found


def header(headers: Mapping[str, str], name: str) -> str:
    """One Shopify header from a mapping made by shopify_headers() (or any mapping)."""
    lowered = name.lower()
    if lowered in headers:
        return headers[lowered]
    return shopify_headers(headers).get(lowered, "")


def triggered_at(headers: Mapping[str, str]) -> datetime | None:
    """X-Shopify-Triggered-At in UTC, None when absent; PayloadError when it is not a real time
    (2026-02-30, an offset of +16:00): a delivery that says so is refused, not guessed at."""
    text = header(headers, "X-Shopify-Triggered-At")
    if not text:
        return None
    try:
        return parse_time(text, "X-Shopify-Triggered-At")
    except ValueError as error:
        raise PayloadError(str(error)) from None


# The headers kept with the raw body (the signature itself is not needed once checked).
KEPT_HEADERS = (
    "X-Shopify-Topic",
    "X-Shopify-Shop-Domain",
    "X-Shopify-API-Version",
    "X-Shopify-Webhook-Id",
    "X-Shopify-Event-Id",
    "X-Shopify-Triggered-At",
    "X-Shopify-Name",
)
# orders/create, inventory_levels/update, customers/data_request: resource/event, lower case.
_TOPIC = re.compile(r"[a-z][a-z0-9_]*(?:/[a-z0-9_]+)+")
_SHOP_DOMAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*")


@dataclass(frozen=True, slots=True)
class Delivery:
    """What a signed delivery says about itself, checked before anything is stored."""

    topic: str
    event_id: str
    webhook_id: str
    triggered_at: datetime | None
    kept: dict[str, str]

    @property
    def dedupe_key(self) -> str:
        # The event id is Shopify's documented duplicate key (with the topic, in case one event
        # is ever announced under two topics); older deliveries lack it.
        if self.event_id:
            return f"event:{self.topic}:{self.event_id}"
        return f"webhook:{self.topic}:{self.webhook_id}"


def delivery(headers: Mapping[str, str], body: bytes) -> Delivery:
    """The delivery's topic, ids and time from its headers (as shopify_headers() found them),
    and a check that its body is a JSON object without a NUL character: PayloadError naming
    what is wrong. Lengths against the inbox's columns are the inbox's own check
    (channels.inbox.check_storable)."""
    topic = header(headers, "X-Shopify-Topic")
    event_id = header(headers, "X-Shopify-Event-Id")
    webhook_id = header(headers, "X-Shopify-Webhook-Id")
    if not topic or not (event_id or webhook_id):
        raise PayloadError("X-Shopify-Topic and X-Shopify-Event-Id are required.")
    if not _TOPIC.fullmatch(topic):
        raise PayloadError("X-Shopify-Topic is not a Shopify topic (resource/event).")
    domain = header(headers, "X-Shopify-Shop-Domain")
    if domain and not _SHOP_DOMAIN.fullmatch(domain):
        raise PayloadError("X-Shopify-Shop-Domain is not a domain name.")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise PayloadError("The body is not JSON.") from None
    if not isinstance(payload, dict):
        raise PayloadError("The body is not a JSON object.")
    if holds_nul(payload):
        raise PayloadError("The body holds a NUL character (\\u0000), which cannot be stored.")
    return Delivery(
        topic=topic,
        event_id=event_id,
        webhook_id=webhook_id,
        triggered_at=triggered_at(headers),
        kept={name: header(headers, name) for name in KEPT_HEADERS},
    )


def variant_gid(variant_id: object) -> str:
    if variant_id in (None, ""):
        return ""
    text = str(variant_id)
    return text if text.startswith("gid://") else f"gid://shopify/ProductVariant/{text}"


def order_snapshot(payload: Mapping) -> OrderSnapshot:
    try:
        order_id = payload["id"]
        created_at = _time(payload["created_at"])
    except (KeyError, TypeError) as error:
        raise PayloadError(f"order payload without {error}") from None
    lines = []
    for line in payload.get("line_items") or []:
        quantity = int(line.get("quantity") or 0)
        current = line.get("current_quantity")
        lines.append(
            OrderLineSnapshot(
                external_id=str(line["id"]),
                quantity=quantity,
                current_quantity=quantity if current is None else int(current),
                variant_id=variant_gid(line.get("variant_id")),
                sku=(line.get("sku") or "").strip(),
                unit_price=money(line.get("price")),
            )
        )
    cancelled_at = payload.get("cancelled_at")
    return OrderSnapshot(
        external_id=str(order_id),
        name=str(payload.get("name") or ""),
        placed_at=created_at,
        updated_at=_time(payload.get("updated_at") or payload["created_at"]),
        cancelled_at=_time(cancelled_at) if cancelled_at else None,
        lines=tuple(lines),
        raw=dict(payload),
        details=order_details(payload),
    )


def refund_lines(payload: Mapping) -> tuple[str, list[RefundLineSnapshot]]:
    try:
        order_id = str(payload["order_id"])
    except KeyError:
        raise PayloadError("refund payload without order_id") from None
    lines = [
        RefundLineSnapshot(
            external_id=str(line["id"]),
            line_id=str(line["line_item_id"]),
            quantity=int(line.get("quantity") or 0),
            restock_type=str(line.get("restock_type") or "no_restock"),
            location_external_id=str(line.get("location_id") or ""),
        )
        for line in payload.get("refund_line_items") or []
    ]
    return order_id, lines


def shipment(payload: Mapping) -> tuple[str, str, str, list[ShipmentLineSnapshot]]:
    """(order id, fulfillment id, status, lines) of a fulfillments/create payload."""
    try:
        order_id, fulfillment_id = str(payload["order_id"]), str(payload["id"])
    except KeyError as error:
        raise PayloadError(f"fulfillment payload without {error}") from None
    lines = [
        ShipmentLineSnapshot(line_id=str(line["id"]), quantity=int(line.get("quantity") or 0))
        for line in payload.get("line_items") or []
    ]
    return order_id, fulfillment_id, str(payload.get("status") or ""), lines


def edited_order_id(payload: Mapping) -> str:
    try:
        return str(payload["order_edit"]["order_id"])
    except (KeyError, TypeError):
        raise PayloadError("orders/edited payload without order_edit.order_id") from None


def inventory_level(payload: Mapping) -> tuple[str, str, int | None]:
    """(inventory item id, location id, available) — numeric REST ids as strings."""
    try:
        item, location = str(payload["inventory_item_id"]), str(payload["location_id"])
    except KeyError as error:
        raise PayloadError(f"inventory_levels/update payload without {error}") from None
    available = payload.get("available")
    return item, location, None if available is None else int(available)


def _time(value: object) -> datetime:
    parsed = parse_datetime(str(value)) if value else None
    if parsed is None or parsed.tzinfo is None:
        raise PayloadError(f"not a time with a zone: {value!r}")
    return parsed
