"""The demo's channels: a Shopify shop and an Amazon US seller, with a listing per SKU, and
the code that connects each to its local sandbox (channels.sandbox) once the demo runs."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from allocation import services as allocation_services
from allocation.models import AllocationRule, RoutingRule
from ledger.models import Location, Sku

from .lanes.amazon.fba import SyncOutcome, sync_fba_inventory
from .lanes.amazon.mapping import import_mapping
from .lanes.base import MappingReport
from .models import Channel, Listing
from .sandbox.amazon import SandboxConfig, SandboxHandle, serve_in_thread

DEMO_CHANNELS = [
    # code, name, kind, is_marketplace, region, priority
    ("demo-shop", "Demo Shopify shop", Channel.Kind.SHOPIFY, False, "", 1),
    ("amazon-us", "Amazon US (demo seller)", Channel.Kind.AMAZON, True, "NA", 2),
]
# The demo seller's FBA (AFN) offers and what Amazon's fulfilment centres hold of each; every
# other SKU is merchant-fulfilled (MFN) from our own stock.
DEMO_FBA_STOCK = {
    "MUG-WHT": {"fulfillable": 40, "inbound_shipped": 12},
    "BOTL-500": {"fulfillable": 25, "customer_damaged": 1},
    "CNDL-CEDAR": {"fulfillable": 18, "pending_customer_order": 2},
}
FBA_POOL = ("FBA-NA", "FBA North America", "NA")


def demo_channels_seed() -> int:
    """Create the demo channels (shadow mode), a listing per SKU on each (FBA for the SKUs of
    DEMO_FBA_STOCK on Amazon), the FBA pool of the Amazon region and a buffer rule.

    Idempotent: existing rows are kept. Every SKU is marked dirty so the planner computes the
    new listings at once. Returns the number of listings created.
    """
    created = 0
    with transaction.atomic():
        pool_code, pool_name, pool_region = FBA_POOL
        Location.objects.get_or_create(
            code=pool_code,
            defaults={"name": pool_name, "kind": Location.Kind.FBA, "region": pool_region},
        )
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
        _seed_routing_rules()
        # One listing per SKU and channel: connecting to a sandbox replaces the Shopify
        # listings' placeholder ids, so a rerun looks them up by SKU, not by id.
        listed = set(
            Listing.objects.filter(channel__in=channels).values_list("channel_id", "sku_id")
        )
        for sku in Sku.objects.order_by("id"):
            for channel in channels:
                if (channel.pk, sku.pk) in listed:
                    continue
                external_id = (
                    f"gid://shopify/ProductVariant/{sku.pk}"
                    if channel.kind == Channel.Kind.SHOPIFY
                    else sku.code
                )
                fba = channel.kind == Channel.Kind.AMAZON and sku.code in DEMO_FBA_STOCK
                Listing.objects.create(
                    channel=channel,
                    sku=sku,
                    external_id=external_id,
                    fulfilment=Listing.Fulfilment.FBA if fba else Listing.Fulfilment.MERCHANT,
                )
                created += 1
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


DEMO_NOTIFICATION_KEY = "demo-notification-key"  # noqa: S105 — the local sandbox's


@dataclass(frozen=True, slots=True)
class DemoSellerOutcome:
    mfn: int
    fba: int
    mapping: MappingReport
    fba_sync: SyncOutcome


def connect_demo_seller(
    *, sandbox_url: str, web_url: str, buyers_per_second: float = 0.1, return_rate: float = 0.2
) -> DemoSellerOutcome:
    """Point the demo Amazon channel at a running SP-API sandbox and go live.

    The sandbox gets an offer per amazon-us listing under our SKU code as its seller SKU:
    merchant-fulfilled (MFN) with what we would publish as its quantity, or FBA (AFN) with the
    fulfilment-centre stock of DEMO_FBA_STOCK. Our listings take the sandbox's ASIN, product
    type and fulfilment; the mapping import then reads the seller's listings back through the
    Listings API (it should find every one already mapped). The FBA inventory is read once into
    the FBA pool, the sandbox's notifications come to our endpoint with the channel's API key,
    and simulated buyers start ordering; on `return_rate` of their turns a buyer also returns a
    unit of a shipped merchant-fulfilled order, which the returns report read brings to the
    Returns page to be graded. The sandbox is reset first, so each demo start connects it afresh.
    """
    import requests

    channel = Channel.objects.get(code="amazon-us")
    warehouse = Location.objects.filter(kind=Location.Kind.WAREHOUSE).order_by("id").first()
    listings = list(
        Listing.objects.filter(channel=channel, is_active=True).select_related("sku").order_by("id")
    )
    session = requests.Session()

    def control(path: str, body: dict) -> dict:
        response = session.post(f"{sandbox_url}/_sandbox/{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    seller = control("reset", {})["sellers"][0]
    offers = []
    for listing in listings:
        offer = {"sku": listing.external_id, "title": listing.sku.title}
        if listing.sku.code in DEMO_FBA_STOCK:
            offer.update(channel="AFN", fba=DEMO_FBA_STOCK[listing.sku.code])
        else:
            # Amazon starts showing what we would publish, so nothing needs pushing at once.
            offer["quantity"] = listing.desired_quantity or 0
        offers.append(offer)
    seeded = {row["sku"]: row for row in control("listings", {"listings": offers})["listings"]}
    with transaction.atomic():
        channel.api_base_url = sandbox_url
        channel.auth_url = f"{sandbox_url}/auth/o2/token"
        channel.seller_id = seller["seller_id"]
        channel.marketplace = seller["marketplace_ids"][0]
        channel.region = "NA"
        channel.default_location = warehouse
        channel.credentials = {
            "refresh_token": seller["refresh_token"],
            "lwa_app_id": SandboxConfig.client_id,
            "lwa_client_secret": SandboxConfig.client_secret,
            "notification_key": DEMO_NOTIFICATION_KEY,
        }
        channel.mode = Channel.Mode.LIVE
        channel.save()
        for listing in listings:
            offer = seeded[listing.external_id]
            listing.asin = offer["asin"] or ""
            listing.amazon_product_type = offer["product_type"] or ""
            listing.fulfilment = (
                Listing.Fulfilment.FBA if offer["afn"] else Listing.Fulfilment.MERCHANT
            )
            # What Amazon shows is read again before the first push.
            listing.pushed_quantity = None
            listing.pushed_version = 0
            listing.channel_delta = 0
            listing.save()
        allocation_services.skus_mark_dirty()
    mapping = import_mapping(channel)
    fba_sync = sync_fba_inventory(channel)
    control(
        "notifications",
        {"url": f"{web_url}/webhooks/amazon/{channel.pk}/", "envelope": "eventbridge",
         "api_key_header": "X-Api-Key", "api_key": DEMO_NOTIFICATION_KEY,
         "delay_s": [0.05, 0.5], "duplicate_rate": 0.02, "reorder_rate": 0.02},
    )  # fmt: skip
    if buyers_per_second:
        control("buyers", {"rate_per_second": buyers_per_second, "return_rate": return_rate})
    fba = sum(1 for offer in seeded.values() if offer["afn"])
    return DemoSellerOutcome(mfn=len(seeded) - fba, fba=fba, mapping=mapping, fba_sync=fba_sync)


def start_amazon_sandbox(*, port: int, seed: int) -> SandboxHandle:
    """The demo seller's SP-API sandbox, served in a thread of this process (the caller
    stops it). Only the demo (and tests) may reach into the sandboxes."""
    return serve_in_thread(port=port, seed=seed)


def _seed_routing_rules() -> None:
    """Heavy web orders ship from the 3PL, the rest from the warehouse while it has stock (the
    store and the 3PL take over when it runs short: routing passes a short place on)."""
    places = {place.code: place for place in Location.objects.filter(code__in=DEMO_ROUTES)}
    for code, (name, priority, conditions) in DEMO_ROUTES.items():
        if code in places:
            RoutingRule.objects.get_or_create(
                name=name, defaults={"priority": priority, "location": places[code], **conditions}
            )


DEMO_ROUTES = {
    "3PL-WEST": ("Shopify orders over 5 lb ship from the 3PL", 20,
                 {"channel": "demo-shop", "weight_over_grams": 2268}),
    "WH-EAST": ("Everything else ships from the East warehouse", 100, {}),
}  # fmt: skip
