"""Console benchmark: server time of each main page on a large installation.

    python bench/console.py                 (seeds once, then measures; about 2 minutes)
    python bench/console.py --reseed        (drop the bench database and seed it again)
    python bench/console.py --runs 15

Needs PostgreSQL on its usual local port; it keeps its own database between runs. The seed is
10,000 SKUs over three locations, five channels listing every SKU (50,000 listings), 1,000,000
ledger entries (a receipt per SKU, then sales, one in ten on a hero SKU; one SKU never sold,
its page reading the oldest part of the ledger), a day of push attempts, 100,000 inbound events
(a few waiting and quarantined), 20,000 channel orders, drift, halts and oversell incidents.

Each page is rendered through Django's test client as a logged-in admin (server time: URL
routing, views, queries and templates, no network), once to warm up and then --runs times; the
median is printed beside the trivial page measured in the same run (the login form: the same
middleware, session and base template, reading no data), against the target: every main page
at most 300 ms and at most 10 times the trivial page.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import databases  # noqa: E402

DB_NAME = "inventory_sync_bench_console"
os.environ.update(
    {
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        "SECRET_KEY": "bench-only-secret",
        "DJANGO_SETTINGS_MODULE": "inventory_sync.settings",
        "CELERY_BROKER_URL": "memory://",
        "SECURE_SSL_REDIRECT": "0",
    }
)

SKUS = 10_000
CHANNELS = (("shop-a", "shopify"), ("shop-b", "shopify"), ("amazon-us", "amazon"),
            ("amazon-eu", "amazon"), ("store-pos", "pos"))  # fmt: skip
ENTRIES = 1_000_000
HERO_SALES = 100_000
TARGET_MS = 300.0
TARGET_RATIO = 10.0
HERO = "CON-00000"
# Never sold: its only entry is its opening receipt, the oldest part of the ledger.
SLOW = f"CON-{SKUS - 1:05d}"


def seed() -> None:
    started = time.perf_counter()
    locations, skus = seed_catalog()
    channels = seed_channels(skus)
    seed_ledger(skus, locations)
    seed_channel_history(channels, skus)
    seed_reconciliation(channels, skus)
    from allocation.velocity import velocity_recompute

    velocity_recompute()  # tiers and per-location rates from the seeded sales (Insight reads them)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"seeded in {time.perf_counter() - started:.0f} s")


def seed_catalog():
    from ledger.models import Location, Sku

    locations = [
        Location.objects.create(code="CON-WH", name="Warehouse"),
        Location.objects.create(code="CON-STORE", name="Store", kind=Location.Kind.STORE),
        Location.objects.create(code="CON-3PL", name="3PL", kind=Location.Kind.THIRD_PARTY),
    ]
    tiers = ["hero"] * 2 + ["core"] * 8 + ["tail"] * 30 + ["slow"] * 60
    skus = Sku.objects.bulk_create(
        (
            Sku(code=f"CON-{n:05d}", title=f"Console bench item {n}", barcode=f"40{n:011d}",
                velocity_tier=tiers[n % len(tiers)])
            for n in range(SKUS)
        ),
        batch_size=5000,
    )  # fmt: skip
    print(f"catalog: {len(skus)} SKUs, {len(locations)} locations")
    return locations, skus


def seed_channels(skus):
    from channels.models import Channel, Listing

    channels = [
        Channel.objects.create(code=code, name=code.replace("-", " ").title(), kind=kind,
                               mode=Channel.Mode.LIVE)
        for code, kind in CHANNELS
    ]  # fmt: skip
    Listing.objects.bulk_create(
        (
            Listing(channel=channel, sku=sku, external_id=f"{channel.code}:{sku.code}",
                    desired_quantity=100, desired_version=2, pushed_quantity=100, pushed_version=2)
            for channel in channels
            for sku in skus
        ),
        batch_size=5000,
    )  # fmt: skip
    print(f"channels: {len(channels)}, listings: {len(channels) * len(skus)}")
    return channels


def seed_ledger(skus, locations) -> None:
    from ledger import services
    from ledger.rules import EventLine, EventRequest

    rng = random.Random(7)
    warehouse = locations[0].code
    requests = [
        EventRequest(
            kind="receipt",
            lines=(EventLine(sku.code, warehouse, HERO_SALES * 2 if sku.code == HERO else 1000),),
            idempotency_key=f"con:receipt:{sku.code}",
            source="bench",
            actor="bench",
            reason="opening stock",
        )
        for sku in skus
    ]
    sales = ENTRIES - len(requests)
    every = sales // HERO_SALES  # the hero sells all along, one sale in `every`
    for n in range(sales):
        code = HERO if n % every == 0 else skus[rng.randrange(1, len(skus) - 1)].code
        requests.append(
            EventRequest(
                kind="sale",
                lines=(EventLine(code, warehouse, 1),),
                idempotency_key=f"con:sale:{n}",
                source="shopify",
                reference=f"shop-a:order:{n}",
            )
        )
    started = time.perf_counter()
    outcome = services.record_events(requests, chunk_size=2000)
    assert outcome.recorded == len(requests), outcome.failures[:3]
    print(f"ledger: {len(requests):,} events in {time.perf_counter() - started:.0f} s")


def seed_channel_history(channels, skus) -> None:
    from django.utils import timezone

    from channels.models import ChannelOrder, InboundEvent, PushAttempt

    now, rng = timezone.now(), random.Random(11)
    PushAttempt.objects.bulk_create(
        (
            PushAttempt(channel=channels[n % len(channels)], idempotency_key=f"con-push-{n}",
                        status=rng.choice(["acknowledged"] * 30 + ["failed", "stale"]),
                        latency_ms=rng.randrange(200, 3000), throttled=int(rng.random() < 0.02),
                        finished_at=now)
            for n in range(50_000)
        ),
        batch_size=5000,
    )  # fmt: skip
    # Spread over the last day: the latency table reads the hour and the day.
    PushAttempt.objects.update(started_at=now - timedelta(days=1))
    events = (
        InboundEvent(channel=channels[n % len(channels)], source="webhook", topic="orders/create",
                     dedupe_key=f"con-in-{n}", body=b"{}",
                     status="applied" if n >= 250 else ("quarantined" if n < 50 else "received"))
        for n in range(100_000)
    )  # fmt: skip
    InboundEvent.objects.bulk_create(events, batch_size=5000)
    orders = (
        ChannelOrder(channel=channels[n % 2], external_id=f"order-{n}", name=f"#{1000 + n}",
                     placed_at=now - timedelta(minutes=n), channel_updated_at=now,
                     snapshot={"lines": [{"sku": skus[n % len(skus)].code, "quantity": 1}]})
        for n in range(20_000)
    )  # fmt: skip
    ChannelOrder.objects.bulk_create(orders, batch_size=5000)
    print("channel history: 50,000 push attempts, 100,000 inbound events, 20,000 orders")


def seed_reconciliation(channels, skus) -> None:
    from allocation.models import OversellIncident, SalesHalt
    from channels.models import Listing
    from reconciliation.models import Drift

    listings = list(Listing.objects.filter(channel=channels[0]).order_by("id")[:2000])
    Drift.objects.bulk_create(
        Drift(channel=channels[0], listing=listing, sku_id=listing.sku_id, expected=10,
              observed=12, delta=2)
        for listing in listings
    )  # fmt: skip
    SalesHalt.objects.bulk_create(
        SalesHalt(sku=sku, reason="bench", channel=channels[n % 2])
        for n, sku in enumerate(skus[:100])
    )
    OversellIncident.objects.bulk_create(
        OversellIncident(sku=sku, units_short=1) for sku in skus[100:120]
    )
    print("reconciliation: 2,000 drift, 100 halts, 20 oversell incidents")


PAGES = (
    # The trivial page: a console page through the same middleware, session and base template,
    # reading no data (the login form, shown to a logged-in person).
    "/accounts/login/",
    "/",
    # Panels the dashboard and the incident and channel pages load after themselves.
    "/signals/",
    "/trends/",
    "/oversold/",
    "/order-health/",
    "/order-health/?channel=shop-a",
    "/skus/",
    "/skus/?q=CON-09",
    f"/skus/{HERO}/",
    f"/skus/{SLOW}/",
    "/channels/",
    "/channels/shop-a/",
    "/channels/quarantine/",
    "/incidents/",
    "/orders/",
    "/returns/",
    "/reconciliation/",
    "/reconciliation/drift/",
    "/reconciliation/halts/",
    "/reconciliation/dead-man/",
    "/audit/",
    "/insight/",
    "/metrics",
)


def measure(runs: int) -> list[tuple[str, float, int, int]]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_superuser": True, "is_staff": True}
    )
    client = Client()
    client.force_login(user)
    results = []
    for page in PAGES:
        queries: list[str] = []

        def counted(execute, sql, params, many, context, seen=queries):
            seen.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(counted):
            response = client.get(page)
        assert response.status_code == 200, (page, response.status_code)
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            client.get(page)
            times.append((time.perf_counter() - started) * 1000)
        results.append((page, statistics.median(times), len(response.content), len(queries)))
    return results


def report(results: list[tuple[str, float, int, int]]) -> bool:
    trivial = results[0][1]
    print(f"\n{'page':34} {'median ms':>10} {'× trivial':>10} {'KB':>7} {'queries':>8}  target ≤ {TARGET_MS:.0f} ms"
          f" and ≤ {TARGET_RATIO:.0f}×")  # fmt: skip
    met = True
    for page, median, size, queries in results:
        ratio = median / trivial
        ok = page == PAGES[0] or (median <= TARGET_MS and ratio <= TARGET_RATIO)
        met &= ok
        print(f"{page:34} {median:10.1f} {ratio:10.1f} {size / 1024:7.0f} {queries:8}  "
              f"{'' if ok else 'OVER'}")  # fmt: skip
    print(f"\nevery main page within target: {'yes' if met else 'no'}")
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    if args.reseed or not databases.database_exists(DB_NAME):
        databases.fresh_database(DB_NAME)
        import django

        django.setup()
        seed()
    else:
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)  # a database seeded by an earlier version
    report(measure(args.runs))


if __name__ == "__main__":
    main()
