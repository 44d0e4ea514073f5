"""Amazon orders (Orders API 2026-01-01) as our unified order snapshot.

An order read with `includedData=FULFILLMENT,CANCELLATION` carries what the ledger needs:
`orderId`, `createdTime`, `lastUpdatedTime` (the snapshot's version: an older read never
overwrites a newer one), `salesChannel.marketplaceId`, `fulfillment.fulfillmentStatus`
(PENDING_AVAILABILITY, PENDING, UNSHIPPED, PARTIALLY_SHIPPED, SHIPPED, CANCELLED, UNFULFILLABLE),
`fulfillment.fulfilledBy` (MERCHANT or AMAZON) and `orderItems[]` with `orderItemId`,
`quantityOrdered`, `product.sellerSku`, `fulfillment.quantityFulfilled` and, once Amazon
executed a cancellation, `cancellation.cancellationExecution`.

With BUYER, RECIPIENT and PROCEEDS it also carries the order queue's facts (`order_details`):
`programs` (PRIME), `fulfillment.fulfillmentServiceLevel` and `shipByWindow`, the recipient's
`deliveryAddress` (countryCode, stateOrRegion, phone), `buyer` (buyerName, buyerEmail: a relay
address) and `proceeds.grandTotal`; each item's `product.price.unitPrice`.

Pending and unshipped orders commit stock (Amazon already took the units off the listing);
a cancelled order or an item whose cancellation was executed releases it (a buyer's request
alone does not: the seller may still ship); shipped quantities leave stock when they ship.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from django.utils.dateparse import parse_datetime

from channels.lanes.base import PayloadError
from channels.order_details import OrderDetails, money
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
                unit_price=unit_price(item),
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
        details=order_details(order),
    )


def order_details(order: Mapping) -> OrderDetails:
    """The normalised facts of an Amazon order: the 2026-01-01 shape the lane reads, or the
    v0 one (`IsPrime`, `ShipmentServiceLevelCategory`, `LatestShipDate`, `ShippingAddress`,
    `OrderTotal`, `BuyerInfo`). Tolerant: a missing or malformed field is blank, never an
    error (pricing is absent while an order is pending, personal data without its role).

    Prime is the PRIME program; the shipping tier is the service level the buyer picked
    (STANDARD, EXPEDITED, NEXT_DAY...); ship-by is the end of the ship-by window. The buyer's
    e-mail is an Amazon relay address: matched only through its hash."""
    if "AmazonOrderId" in order:
        return _order_details_v0(order)
    fulfillment = _mapping(order.get("fulfillment"))
    address = _mapping(_mapping(order.get("recipient")).get("deliveryAddress"))
    buyer = _mapping(order.get("buyer"))
    grand_total = _mapping(_mapping(order.get("proceeds")).get("grandTotal"))
    total, currency = _total(grand_total, order.get("orderItems"))
    email = _text(buyer.get("buyerEmail"))
    return OrderDetails(
        is_prime="PRIME" in (order.get("programs") or ()),
        shipping_tier=_text(fulfillment.get("fulfillmentServiceLevel")),
        ship_by=_optional_time(_mapping(fulfillment.get("shipByWindow")).get("latestDateTime")),
        destination_country=_text(address.get("countryCode")),
        destination_region=_text(address.get("stateOrRegion")),
        total_price=total,
        currency=currency,
        customer_email=email,
        customer_email_masked=is_relay_address(email),
        customer_phone=_text(address.get("phone")),
        customer_name=_text(buyer.get("buyerName")) or _text(address.get("name")),
    )


def _order_details_v0(order: Mapping) -> OrderDetails:
    address = _mapping(order.get("ShippingAddress"))
    buyer = _mapping(order.get("BuyerInfo"))
    total = _mapping(order.get("OrderTotal"))
    email = _text(buyer.get("BuyerEmail"))
    return OrderDetails(
        is_prime=order.get("IsPrime") is True or str(order.get("IsPrime")).lower() == "true",
        shipping_tier=_text(order.get("ShipmentServiceLevelCategory")),
        ship_by=_optional_time(order.get("LatestShipDate")),
        destination_country=_text(address.get("CountryCode")),
        destination_region=_text(address.get("StateOrRegion")),
        total_price=money(total.get("Amount"), max_digits=14),
        currency=_text(total.get("CurrencyCode")),
        customer_email=email,
        customer_email_masked=is_relay_address(email),
        customer_phone=_text(address.get("Phone")),
        customer_name=_text(buyer.get("BuyerName")) or _text(address.get("Name")),
    )


def is_relay_address(email: str) -> bool:
    """Amazon's buyer-seller messaging relay (`…@marketplace.amazon.com`, `.co.uk`, `.de`...):
    stable per buyer and seller, never the buyer's own address."""
    domain = email.rpartition("@")[2].strip().lower()
    return domain.startswith("marketplace.amazon.")


def unit_price(item: Mapping) -> Decimal | None:
    """One unit's price: 2026-01-01's `product.price.unitPrice`, or v0's `ItemPrice` (which
    is the line's: price × quantity)."""
    unit = _mapping(_mapping(_mapping(item.get("product")).get("price")).get("unitPrice"))
    if unit:
        return money(unit.get("amount"))
    line = money(_mapping(item.get("ItemPrice")).get("Amount"))
    quantity = _whole(item.get("QuantityOrdered"))
    return money(line / quantity) if line is not None and quantity else None


def _total(grand_total: Mapping, items: object) -> tuple[Decimal | None, str]:
    """The order's grand total; while Amazon gives none (a pending order), the sum of its
    items' prices, when every item has one in one currency."""
    total = money(grand_total.get("amount"), max_digits=14)
    if total is not None:
        return total, _text(grand_total.get("currencyCode"))
    prices, currencies = Decimal(0), set()
    for item in items if isinstance(items, list) else ():
        unit = _mapping(
            _mapping(_mapping(_mapping(item).get("product")).get("price")).get("unitPrice")
        )
        price = money(unit.get("amount"))
        quantity = _whole(_mapping(item).get("quantityOrdered"))
        if price is None or quantity is None:
            return None, ""
        prices += price * quantity
        currencies.add(_text(unit.get("currencyCode")))
    if len(currencies) != 1:
        return None, ""
    return money(prices, max_digits=14), currencies.pop()


def _whole(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _mapping(value: object) -> Mapping:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _optional_time(value: object) -> datetime | None:
    try:
        parsed = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:  # well formed, no such time ("2026-02-30T…")
        return None
    return parsed if parsed is not None and parsed.tzinfo is not None else None


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
