"""The world of bench/reconcile.py: the sandboxes in their own processes, seeded through their
control APIs; our SKUs, channels and listings; and the drift injected into both sides.

Nothing here measures anything: bench/reconcile.py times the run and compares what it found
with `World.injected`.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "shpat_bench_reconcile"
SELLER = "A1BENCHRECON"
PRIMARY = "Main warehouse"
# Two Shopify shops, two Amazon marketplaces of one seller, one more Shopify shop.
CHANNELS = (
    ("shop-a", "shopify", ""),
    ("shop-b", "shopify", ""),
    ("amz-us", "amazon", "ATVPDKIKX0DER"),
    ("amz-ca", "amazon", "A2EUQ1WTGCTBG2"),
    ("shop-c", "shopify", ""),
)
MARKETPLACE = {code: market for code, kind, market in CHANNELS if kind == "amazon"}
KIND = {code: kind for code, kind, _ in CHANNELS}
# reconciliation.models.Drift.Cause values, in the order the tables print them.
CAUSES = ("manual_edit", "lost_write", "unseen_order", "refund", "unknown")
# An id Shopify never issued in this run: the listing of a product deleted in the shop.
GONE_ID = 900_000_000
SEED_CHUNK = 2000


# --- processes and control APIs ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer within {timeout} s")


def control(url: str, path: str, body: dict | None = None, method: str = "POST") -> dict:
    response = requests.request(method, f"{url}/_sandbox/{path}", json=body, timeout=120)
    if response.status_code >= 400:
        raise SystemExit(f"{url}/_sandbox/{path}: {response.status_code} {response.text[:300]}")
    return response.json() if response.content else {}


class Processes:
    """The sandboxes, each in its own process (their CPU is not ours), logging to var/."""

    def __init__(self) -> None:
        self.children: dict[str, subprocess.Popen] = {}

    def start(self, name: str, command: list[str]) -> None:
        (ROOT / "var").mkdir(exist_ok=True)
        log = open(ROOT / "var" / f"bench-reconcile-{name}.log", "w")  # noqa: SIM115 — the child's
        self.children[name] = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ}, stdout=log, stderr=subprocess.STDOUT
        )

    def stop_all(self) -> None:
        for name in list(self.children):
            child = self.children.pop(name)
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()


def start_sandboxes(procs: Processes) -> dict[str, str]:
    """Channel code -> sandbox URL: one Shopify sandbox per shop, one Amazon sandbox (real
    clock, Amazon's usage plans at scale 1) for both marketplaces of the seller."""
    urls: dict[str, str] = {}
    amazon_url = ""
    for code, kind, _ in CHANNELS:
        if kind == "amazon" and amazon_url:
            urls[code] = amazon_url
            continue
        port = free_port()
        if kind == "shopify":
            command = ["-m", "channels.sandbox.shopify", "--port", str(port),
                       "--access-token", TOKEN, "--shop-domain", f"{code}.myshopify.com"]  # fmt: skip
        else:
            command = ["-m", "channels.sandbox.amazon", "--port", str(port), "--rate-scale", "1"]
        procs.start(code, [sys.executable, *command])
        urls[code] = f"http://127.0.0.1:{port}"
        amazon_url = urls[code] if kind == "amazon" else amazon_url
    for url in set(urls.values()):
        wait_http(f"{url}/_sandbox/")
    return urls


# --- the plan: stock per listing and which listings drift how -------------------------------------


@dataclass
class World:
    urls: dict[str, str]
    codes: list[str]  # SKU codes, index = SKU number
    stock: dict[str, list[int]]  # channel code -> what each SKU's listing shows at the start
    causes: dict[tuple[str, int], str]  # (channel code, SKU number) -> injected cause
    location_gid: dict[str, str] = field(default_factory=dict)  # Shopify channel -> location
    item_gid: dict[str, dict[int, str]] = field(default_factory=dict)  # shop -> SKU -> item
    variant_gid: dict[str, dict[int, str]] = field(default_factory=dict)
    refresh_token: str = ""
    channel_ids: dict[str, int] = field(default_factory=dict)
    listing_ids: dict[tuple[str, int], int] = field(default_factory=dict)
    injected: dict[int, str] = field(default_factory=dict)  # listing id -> cause
    details: dict[int, str] = field(default_factory=dict)  # listing id -> what was done


def plan_world(urls: dict[str, str], sku_count: int, drift_percent: float, seed: int) -> World:
    """Stock per listing, and the drifted listings: `drift_percent` of all, picked at random
    (seeded), the causes dealt out in turn so that each gets an equal share."""
    rng = random.Random(seed)
    codes = [f"RC-{n:05d}" for n in range(sku_count)]
    stock = {code: [rng.randint(5, 60) for _ in codes] for code, _, _ in CHANNELS}
    every = [(code, n) for code, _, _ in CHANNELS for n in range(sku_count)]
    drifted = rng.sample(every, round(len(every) * drift_percent / 100))
    causes = {key: CAUSES[position % len(CAUSES)] for position, key in enumerate(drifted)}
    return World(urls=urls, codes=codes, stock=stock, causes=causes)


# --- seeding the sandboxes --------------------------------------------------------------------


def seed_shopify(world: World, code: str) -> None:
    """The shop's products with their stock at the primary location, in bulk. A listing whose
    injected cause is `unknown` has no product in the shop (deleted in the admin)."""
    url = world.urls[code]
    numbers = [n for n in range(len(world.codes)) if world.causes.get((code, n)) != "unknown"]
    items, variants = {}, {}
    for start in range(0, len(numbers), SEED_CHUNK):
        chunk = numbers[start : start + SEED_CHUNK]
        answer = control(url, "seed", {"products": [
            {"sku": world.codes[n], "quantities": {PRIMARY: world.stock[code][n]}} for n in chunk
        ]})  # fmt: skip
        for n, product in zip(chunk, answer["products"], strict=True):
            items[n], variants[n] = product["inventory_item_gid"], product["variant_gid"]
        world.location_gid[code] = next(
            loc["gid"] for loc in answer["locations"] if loc["name"] == PRIMARY
        )
    for n in range(len(world.codes)):
        if n not in items:
            items[n] = f"gid://shopify/InventoryItem/{GONE_ID + n}"
            variants[n] = f"gid://shopify/ProductVariant/{GONE_ID + n}"
    world.item_gid[code], world.variant_gid[code] = items, variants


def seed_amazon(world: World) -> None:
    """One seller selling in both marketplaces; its merchant (MFN) listings in each, in bulk.
    A listing whose injected cause is `unknown` is not on Amazon in that marketplace."""
    markets = MARKETPLACE
    url = world.urls[next(iter(markets))]
    seller = control(
        url, "sellers", {"seller_id": SELLER, "marketplace_ids": list(markets.values())}
    )
    world.refresh_token = seller["seller"]["refresh_token"]
    for code, market in markets.items():
        rows = [
            {"sku": sku, "seller_id": SELLER, "marketplace_id": market,
             "quantity": world.stock[code][n]}
            for n, sku in enumerate(world.codes)
            if world.causes.get((code, n)) != "unknown"
        ]  # fmt: skip
        for start in range(0, len(rows), SEED_CHUNK):
            control(url, "listings", {"listings": rows[start : start + SEED_CHUNK]})


def seed_sandboxes(world: World) -> None:
    for code, kind, _ in CHANNELS:
        if kind == "shopify":
            seed_shopify(world, code)
    seed_amazon(world)


# --- our side: SKUs, channels, listings as last pushed ----------------------------------------------


def create_channels(world: World) -> list:
    from channels.models import Channel
    from channels.sandbox.amazon import SandboxConfig

    amazon = SandboxConfig()
    channels = []
    for priority, (code, kind, market) in enumerate(CHANNELS, start=1):
        channel = Channel(
            code=code, name=f"{code} (bench)", kind=kind, mode=Channel.Mode.LIVE,
            priority=priority, api_base_url=world.urls[code],
        )  # fmt: skip
        if kind == "shopify":
            channel.api_version = "2026-04"
            channel.marketplace = f"{code}.myshopify.com"
            channel.external_location_id = world.location_gid[code]
            channel.credentials = {"access_token": TOKEN, "webhook_secret": "bench-secret"}
        else:
            channel.is_marketplace = True
            channel.marketplace, channel.region, channel.seller_id = market, "NA", SELLER
            channel.auth_url = f"{world.urls[code]}/auth/o2/token"
            channel.credentials = {
                "refresh_token": world.refresh_token,
                "lwa_app_id": amazon.client_id,
                "lwa_client_secret": amazon.client_secret,
                "notification_key": "bench-notification-key",
            }
        channel.save()
        channels.append(channel)
        world.channel_ids[code] = channel.pk
    return channels


def create_listings(world: World) -> None:
    """Every listing as if our last push set exactly what the channel shows now: pushed =
    desired = the sandbox's level, version 1, nothing in flight, no channel moves since."""
    from django.utils import timezone

    from channels.models import Channel, Listing
    from ledger.models import Sku

    Sku.objects.bulk_create(
        [Sku(code=code, title=f"Bench item {code}") for code in world.codes], batch_size=5000
    )
    sku_ids = dict(Sku.objects.values_list("code", "id"))
    pushed_at = timezone.now()
    rows = []
    for channel in Channel.objects.order_by("priority"):
        for n, sku in enumerate(world.codes):
            quantity = world.stock[channel.code][n]
            listing = Listing(
                channel=channel, sku_id=sku_ids[sku], external_id=sku,
                desired_quantity=quantity, desired_version=1, desired_at=pushed_at,
                pushed_quantity=quantity, pushed_version=1, pushed_at=pushed_at,
            )  # fmt: skip
            if channel.kind == "shopify":
                listing.external_id = world.variant_gid[channel.code][n]
                listing.shopify_inventory_item_id = world.item_gid[channel.code][n]
            rows.append(listing)
    Listing.objects.bulk_create(rows, batch_size=5000)
    number = {sku: n for n, sku in enumerate(world.codes)}
    for listing_id, code, sku in Listing.objects.values_list("id", "channel__code", "sku__code"):
        world.listing_ids[(code, number[sku])] = listing_id


# --- drift -------------------------------------------------------------------------------------


def _changed(rng: random.Random, quantity: int) -> int:
    """Another quantity, up or down by 1 to 5 (never below 0)."""
    step = rng.randint(1, 5)
    return quantity - step if rng.random() < 0.5 and quantity >= step else quantity + step


def _shows(world: World, code: str, n: int, quantity: int, what: str) -> None:
    """Someone types `quantity` into the channel's admin (Shopify admin / Seller Central)."""
    url = world.urls[code]
    if KIND[code] == "shopify":
        control(url, "admin_edit", {"inventory_item_id": world.item_gid[code][n],
                                    "available": quantity})  # fmt: skip
    else:
        market = MARKETPLACE[code]
        control(url, "listings/quantity", {"sku": world.codes[n], "quantity": quantity,
                                           "seller_id": SELLER, "marketplace_id": market})  # fmt: skip
    world.details[world.listing_ids[(code, n)]] = what


def inject_manual_edit(world: World, rng: random.Random, code: str, n: int) -> None:
    old = world.stock[code][n]
    new = _changed(rng, old)
    _shows(world, code, n, new, f"edited on the channel {old} -> {new}")


def inject_lost_write(world: World, rng: random.Random, code: str, n: int) -> None:
    """We pushed `new`, the channel acknowledged it and kept `old`."""
    from django.utils import timezone

    from channels.models import Listing, PushAttempt

    old = world.stock[code][n]
    new = _changed(rng, old)
    listing_id = world.listing_ids[(code, n)]
    now = timezone.now()
    Listing.objects.filter(pk=listing_id).update(
        desired_quantity=new, desired_version=2, pushed_quantity=new, pushed_version=2,
        pushed_at=now,
    )  # fmt: skip
    PushAttempt.objects.create(
        channel_id=world.channel_ids[code],
        status=PushAttempt.Status.ACKNOWLEDGED,
        idempotency_key=f"bench-lost-{uuid.uuid4().hex}",
        items=[{"listing": listing_id, "version": 2, "quantity": new, "change_from": old}],
        calls=1,
        finished_at=now,
    )
    world.details[listing_id] = f"pushed {old} -> {new}, acknowledged, channel kept {old}"


def inject_unseen_order(world: World, rng: random.Random, code: str, n: int) -> None:
    """A sale on the channel whose order never reaches us (no webhook, no notification)."""
    quantity = rng.randint(1, 3)
    url, sku = world.urls[code], world.codes[n]
    if KIND[code] == "shopify":
        control(url, "sell", {"sku": sku, "quantity": quantity})
    else:
        market = MARKETPLACE[code]
        control(url, "orders", {"sku": sku, "quantity": quantity, "seller_id": SELLER,
                                "marketplace_id": market})  # fmt: skip
    world.details[world.listing_ids[(code, n)]] = f"{quantity} sold on the channel, order unseen"


def inject_refund(world: World, rng: random.Random, code: str, n: int) -> None:
    """An order refunded before shipping: we put its unit back, the channel did not."""
    from django.utils import timezone

    from channels.models import ChannelOrder, ChannelOrderLine

    listing_id = world.listing_ids[(code, n)]
    now = timezone.now()
    order = ChannelOrder.objects.create(
        channel_id=world.channel_ids[code], external_id=f"bench-refund-{listing_id}",
        name=f"#R{listing_id}", placed_at=now, channel_updated_at=now,
    )  # fmt: skip
    ChannelOrderLine.objects.create(
        order=order, external_id="1", listing_id=listing_id, channel_sku=world.codes[n],
        quantity=1, current_quantity=0, sold_units=1, cancelled_units=1,
        refund_cancelled_items=1,
    )  # fmt: skip
    old = world.stock[code][n]
    _shows(world, code, n, old - 1, f"1 refunded, restocked by us only: shows {old - 1}")


def inject_unknown(world: World, rng: random.Random, code: str, n: int) -> None:
    # Done at seeding: the channel never got (or no longer has) this listing's product.
    world.details[world.listing_ids[(code, n)]] = "not on the channel"


INJECT = {
    "manual_edit": inject_manual_edit,
    "lost_write": inject_lost_write,
    "unseen_order": inject_unseen_order,
    "refund": inject_refund,
    "unknown": inject_unknown,
}


def inject_drift(world: World, seed: int) -> None:
    rng = random.Random(seed + 1)
    for (code, n), cause in sorted(world.causes.items()):
        INJECT[cause](world, rng, code, n)
        world.injected[world.listing_ids[(code, n)]] = cause


def build(urls: dict[str, str], sku_count: int, drift_percent: float, seed: int) -> World:
    world = plan_world(urls, sku_count, drift_percent, seed)
    seed_sandboxes(world)
    create_channels(world)
    create_listings(world)
    inject_drift(world, seed)
    return world
