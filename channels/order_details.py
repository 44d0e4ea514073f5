"""The normalised facts of an order that every lane fills from its own payload: what the
order queue filters on and routing reads (Prime, shipping tier, ship-by, destination, weight,
prices, the customer). They describe the order; none of them moves stock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

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


def store_details(order: ChannelOrder, details: OrderDetails) -> None:
    """Copy the snapshot's details onto the order row (the caller saves it)."""
    order.is_prime = details.is_prime
    order.shipping_tier = details.shipping_tier[:64]
    order.ship_by = details.ship_by
    order.destination_country = details.destination_country.upper()[:2]
    order.destination_region = details.destination_region[:64]
    order.weight_grams = details.weight_grams
    order.total_price = details.total_price
    order.currency = details.currency.upper()[:3]
