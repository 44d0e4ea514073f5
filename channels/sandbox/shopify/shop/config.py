"""How a sandbox shop is set up: its domain, token, cost bucket, clocks and defaults."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from channels.sandbox.shopify.schema import API_VERSION


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
