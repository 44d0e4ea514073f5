"""The normalised facts of an order that every lane fills from its own payload: what the
order queue filters on and routing reads (Prime, shipping tier, ship-by, destination, weight,
prices, the customer). They describe the order; none of them moves stock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from .customers import match_customer, match_in_claim
from .models import ChannelOrder


@dataclass(frozen=True, slots=True)
class OrderDetails:
    is_prime: bool = False
    shipping_tier: str = ""
    ship_by: datetime | None = None
    destination_country: str = ""  # ISO 3166-1 alpha-2
    destination_region: str = ""  # state or province code
    weight_grams: int | None = None  # the order's, where the channel gives it
    total_price: Decimal | None = None
    currency: str = ""
    customer_email: str = ""
    customer_phone: str = ""
    customer_name: str = ""
    # The channel hides the shopper's address behind a relay (Amazon): keep only its hash.
    customer_email_masked: bool = False


CENT = Decimal("0.01")


def money(value: object, *, max_digits: int = 12) -> Decimal | None:
    """An amount as a channel sends it ("404.95", 404.95), to the cent; None when it is not
    one or would not fit a column of `max_digits` digits (the order is still recorded)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value).strip()).quantize(CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        return None
    if not amount.is_finite() or abs(amount) >= Decimal(10) ** (max_digits - 2):
        return None
    return amount


def store_details(order: ChannelOrder, details: OrderDetails) -> None:
    """Copy the snapshot's details onto the order row (the caller saves it) and match its
    customer (channels.customers: advisory locks per matching key, so the caller's
    transaction calls this after its SKU and listing locks). A snapshot naming no email or
    phone keeps the customer an earlier one matched; an order is matched once, by the first
    snapshot that names someone (order updates are the ingest's hot path). Inside an ingest
    claim, a shopper another worker is matching is matched after the claim commits
    (customers.match_in_claim)."""
    order.is_prime = details.is_prime
    order.shipping_tier = details.shipping_tier[:64]
    order.ship_by = details.ship_by
    order.destination_country = details.destination_country.upper()[:2]
    order.destination_region = details.destination_region[:64]
    # A weight beyond the column (2^31 g) is a channel's mistake, not a parcel.
    weight = details.weight_grams
    order.weight_grams = weight if weight is not None and 0 <= weight < 2**31 else None
    order.total_price = money(details.total_price, max_digits=14)
    order.currency = details.currency.upper()[:3]
    if order.customer_id is not None:
        return  # matched by an earlier snapshot: updates of the order need no second match
    if match_in_claim(order, details):
        return
    customer = match_customer(details, order.placed_at)
    if customer is not None:
        order.customer = customer
