"""The demo's channels: a Shopify shop and an Amazon US account, with a listing per SKU."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from allocation import services as allocation_services
from allocation.models import AllocationRule
from ledger.models import Sku

from .models import Channel, Listing

DEMO_CHANNELS = [
    # code, name, kind, is_marketplace, region, priority
    ("demo-shop", "Demo Shopify shop", Channel.Kind.SHOPIFY, False, "", 1),
    ("amazon-us", "Amazon US (demo seller)", Channel.Kind.AMAZON, True, "NA", 2),
]


def demo_channels_seed() -> int:
    """Create the demo channels (shadow mode), a listing per SKU on each, and a buffer rule.

    Idempotent: existing rows are kept. Every SKU is marked dirty so the planner computes the
    new listings at once. Returns the number of listings created.
    """
    created = 0
    with transaction.atomic():
        channels = []
        for code, name, kind, is_marketplace, region, priority in DEMO_CHANNELS:
            channel, _ = Channel.objects.get_or_create(
                code=code,
                defaults={
                    "name": name,
                    "kind": kind,
                    "is_marketplace": is_marketplace,
                    "region": region,
                    "priority": priority,
                    "marketplace": "ATVPDKIKX0DER" if kind == Channel.Kind.AMAZON else "",
                },
            )
            channels.append(channel)
        AllocationRule.objects.get_or_create(
            name="Keep 2 units off marketplaces",
            defaults={"kind": "buffer_units", "value": Decimal(2), "scope": "marketplaces"},
        )
        for sku in Sku.objects.order_by("id"):
            for channel in channels:
                external_id = (
                    f"gid://shopify/ProductVariant/{sku.pk}"
                    if channel.kind == Channel.Kind.SHOPIFY
                    else sku.code
                )
                _, made = Listing.objects.get_or_create(
                    channel=channel, external_id=external_id, defaults={"sku": sku}
                )
                created += made
        if created:
            allocation_services.skus_mark_dirty()
    return created


DEMO_WEBHOOK_SECRET = "demo-webhook-secret"  # noqa: S105 — the local sandbox's, not a real shop's


def connect_demo_shop(*, sandbox_url: str, web_url: str, shoppers_per_second: float = 0.2) -> int:
    """Point the demo shop at a running Shopify sandbox and go live.

    The sandbox gets a product per SKU with our merchant stock as its `available` (so both
    sides start in sync), the demo-shop listings take the sandbox's variant and inventory item
    ids, the sandbox's webhooks come to our endpoint, and simulated shoppers start buying.
    Returns the number of listings connected.
    """
    import requests

    from ledger.models import Location

    channel = Channel.objects.get(code="demo-shop")
    warehouse = Location.objects.filter(kind=Location.Kind.WAREHOUSE).order_by("id").first()
    listings = list(Listing.objects.filter(channel=channel).select_related("sku").order_by("id"))
    session = requests.Session()

    def control(path: str, body: dict) -> dict:
        response = session.post(f"{sandbox_url}/_sandbox/{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    control("reset", {})
    seeded = control(
        "seed",
        {
            # The shop starts showing what we would publish, so nothing needs pushing at once.
            "products": [
                {"sku": listing.sku.code, "title": listing.sku.title,
                 "barcode": listing.sku.barcode,
                 "quantities": {"Main warehouse": listing.desired_quantity or 0}}
                for listing in listings
            ]
        },
    )  # fmt: skip
    location = next(loc for loc in seeded["locations"] if loc["name"] == "Main warehouse")
    products = {product["sku"]: product for product in seeded["products"]}
    with transaction.atomic():
        channel.api_base_url = sandbox_url
        channel.api_version = "2026-04"
        channel.external_location_id = location["gid"]
        channel.default_location = warehouse
        channel.credentials = {
            "access_token": "shpat_sandbox_token",
            "webhook_secret": DEMO_WEBHOOK_SECRET,
        }
        channel.mode = Channel.Mode.LIVE
        channel.save()
        connected = 0
        for listing in listings:
            product = products.get(listing.sku.code)
            if product is None:
                listing.is_active = False
            else:
                listing.external_id = product["variant_gid"]
                listing.shopify_inventory_item_id = product["inventory_item_gid"]
                listing.shopify_location_id = location["gid"]
                connected += 1
            # What the shop shows is read again before the first push.
            listing.pushed_quantity = None
            listing.pushed_version = 0
            listing.channel_delta = 0
            listing.save()
        allocation_services.skus_mark_dirty()
    control(
        "webhooks",
        {"url": f"{web_url}/webhooks/shopify/{channel.pk}/", "secret": DEMO_WEBHOOK_SECRET,
         "delay_ms": [20, 300], "duplicate_rate": 0.02, "reorder_rate": 0.02},
    )  # fmt: skip
    if shoppers_per_second:
        control("shoppers", {"rate_per_second": shoppers_per_second})
    return connected
