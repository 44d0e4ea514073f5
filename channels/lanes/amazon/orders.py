"""Amazon orders (Orders API 2026-01-01) as our unified order snapshot.

An order read with `includedData=FULFILLMENT,CANCELLATION` carries what the ledger needs:
`orderId`, `createdTime`, `lastUpdatedTime` (the snapshot's version: an older read never
overwrites a newer one), `salesChannel.marketplaceId`, `fulfillment.fulfillmentStatus`
(PENDING_AVAILABILITY, PENDING, UNSHIPPED, PARTIALLY_SHIPPED, SHIPPED, CANCELLED, UNFULFILLABLE),
`fulfillment.fulfilledBy` (MERCHANT or AMAZON) and `orderItems[]` with `orderItemId`,
`quantityOrdered`, `product.sellerSku`, `fulfillment.quantityFulfilled` and, once Amazon
executed a cancellation, `cancellation.cancellationExecution`.

Pending and unshipped orders commit stock (Amazon already took the units off the listing);
a cancelled order or an item whose cancellation was executed releases it (a buyer's request
alone does not: the seller may still ship); shipped quantities leave stock when they ship.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from django.utils.dateparse import parse_datetime

from channels.lanes.base import PayloadError
from channels.orders import OrderLineSnapshot, OrderSnapshot

CANCELLED = "CANCELLED"


def order_snapshot(order: Mapping) -> OrderSnapshot:
    try:
        order_id = str(order["orderId"])
        items = order["orderItems"]
    except (KeyError, TypeError) as error:
        raise PayloadError(f"Amazon order without {error}") from error
    updated_at = _time(order.get("lastUpdatedTime"), "lastUpdatedTime")
    cancelled = status(order) == CANCELLED
    lines = []
    for item in items:
        product = item.get("product") or {}
        ordered = int(item.get("quantityOrdered") or 0)
        executed = (item.get("cancellation") or {}).get("cancellationExecution")
        lines.append(
            OrderLineSnapshot(
                external_id=str(item["orderItemId"]),
                quantity=ordered,
                current_quantity=0 if executed else ordered,
                # The listing's own key on Amazon is the seller SKU (Listing.external_id).
                variant_id=str(product.get("sellerSku") or ""),
                sku=str(product.get("sellerSku") or ""),
            )
        )
    return OrderSnapshot(
        external_id=order_id,
        name=order_id,
        placed_at=_time(order.get("createdTime"), "createdTime"),
        updated_at=updated_at,
        cancelled_at=updated_at if cancelled else None,
        lines=tuple(lines),
        raw=dict(order),
        fulfilled_by_channel=_fulfilled_by_amazon(order),
    )


def _fulfilled_by_amazon(order: Mapping) -> bool | None:
    # The order says who ships it, whatever our listing says (a mapping can be wrong).
    fulfilled_by = (order.get("fulfillment") or {}).get("fulfilledBy")
    return {"AMAZON": True, "MERCHANT": False}.get(str(fulfilled_by or ""))


def status(order: Mapping) -> str:
    return str((order.get("fulfillment") or {}).get("fulfillmentStatus") or "")


def marketplace_id(order: Mapping) -> str:
    return str((order.get("salesChannel") or {}).get("marketplaceId") or "")


def shipped_items(order: Mapping) -> dict[str, int]:
    """Items shipped so far per order item id (Amazon's own count for AFN; ours confirmed
    for MFN)."""
    shipped = {}
    for item in order.get("orderItems") or ():
        fulfilled = int((item.get("fulfillment") or {}).get("quantityFulfilled") or 0)
        if fulfilled > 0:
            shipped[str(item["orderItemId"])] = fulfilled
    return shipped


def _time(value: object, name: str) -> datetime:
    parsed = parse_datetime(str(value or ""))
    if parsed is None:
        raise PayloadError(f"Amazon order: {name} missing or not a time: {value!r}")
    return parsed
