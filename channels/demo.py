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
