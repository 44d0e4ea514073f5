"""Allocation benchmark: full and incremental recompute against just reading the balances.

Run against a migrated PostgreSQL database:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/inventory_sync python bench/allocation.py

It creates SKUs with stock in three locations (one an FBA pool), five channels with a listing
per SKU each, and mixed rules (unit and percent buffers, a share, a ceiling, ring-fenced and
auto SKUs). Then:
  full         every SKU dirty, the planner run until none is left
  incremental  one sale, then the planner for that one SKU, repeated
each printed beside the cost of only reading the same balances, in the same run.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inventory_sync.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

from allocation.models import AllocationRule, SkuPolicy  # noqa: E402
from channels.models import Channel, Listing  # noqa: E402
from channels.planner import plan_dirty_skus  # noqa: E402
from ledger import services  # noqa: E402
from ledger.models import Balance, Location, Sku  # noqa: E402
from ledger.rules import EventLine, EventRequest  # noqa: E402


def create_locations(run: str) -> tuple[Location, Location, Location]:
    warehouse = Location.objects.create(code=f"AB-{run}-WH", name="bench warehouse")
    store = Location.objects.create(
        code=f"AB-{run}-ST", name="bench store", kind=Location.Kind.STORE, can_pickup=True
    )
    fba = Location.objects.create(
        code=f"AB-{run}-FBA", name="bench FBA", kind=Location.Kind.FBA, region=f"B{run[:6]}"
    )
    return warehouse, store, fba


def create_skus(run: str, sku_count: int) -> list[Sku]:
    Sku.objects.bulk_create(
        [
            Sku(code=f"AB-{run}-{n:05d}", tags=["apparel"] if n % 3 else [])
            for n in range(sku_count)
        ],
        batch_size=5000,
    )
    return list(Sku.objects.filter(code__startswith=f"AB-{run}-").order_by("id"))


def receive_stock(
    run: str, skus: list[Sku], locations: tuple[Location, Location, Location], rng: random.Random
) -> None:
    warehouse, store, fba = locations
    requests = []
    for sku in skus:
        for location, high in ((warehouse, 200), (store, 10)):
            requests.append(
                EventRequest(
                    kind="receipt",
                    lines=(EventLine(sku.code, location.code, rng.randint(1, high)),),
                    idempotency_key=f"ab:{run}:{sku.code}:{location.code}",
                    source="bench",
                )
            )
        requests.append(
            EventRequest(
                kind="fba_snapshot",
                lines=(EventLine(sku.code, fba.code, rng.randint(0, 100), bucket="on_hand"),),
                idempotency_key=f"ab:{run}:{sku.code}:fba",
                source="bench",
            )
        )
    services.record_events(requests, chunk_size=3000)


def create_policies(skus: list[Sku], rng: random.Random) -> None:
    SkuPolicy.objects.bulk_create(
        [
            SkuPolicy(
                sku=sku,
                mode=rng.choice(["shared", "shared", "ring_fenced", "auto"]),
                ring_fence_threshold=20,
                velocity_per_day=Decimal(rng.randint(0, 300)),
            )
            for sku in skus
        ],
        batch_size=5000,
    )


def create_channels(run: str, fba: Location) -> list[Channel]:
    """Shop, Amazon, Etsy and POS, in that order."""
    return [
        Channel.objects.create(code=f"ab{run}-shop", name="shop", kind="shopify", priority=1),
        Channel.objects.create(
            code=f"ab{run}-amz",
            name="amazon",
            kind="amazon",
            is_marketplace=True,
            priority=2,
            region=fba.region,
        ),
        Channel.objects.create(
            code=f"ab{run}-etsy", name="etsy", kind="edi", is_marketplace=True, priority=3
        ),
        Channel.objects.create(code=f"ab{run}-pos", name="store", kind="pos", priority=4),
    ]


def create_listings(skus: list[Sku], channels: list[Channel], store: Location) -> None:
    listings = []
    for sku in skus:
        for channel in channels:
            listings.append(Listing(channel=channel, sku=sku, external_id=f"{sku.code}"))
        listings.append(
            Listing(channel=channels[1], sku=sku, external_id=f"{sku.code}-afn", fulfilment="fba")
        )
    Listing.objects.bulk_create(listings, batch_size=5000)
    pos_listings = Listing.objects.filter(channel=channels[3]).values_list("id", flat=True)
    through = Listing.source_locations.through
    through.objects.bulk_create(
        [through(listing_id=pk, location_id=store.pk) for pk in pos_listings], batch_size=5000
    )


def create_rules(run: str, channels: list[Channel]) -> None:
    AllocationRule.objects.bulk_create(
        [
            AllocationRule(
                name=f"{run} marketplace units", kind="buffer_units", value=2, scope="marketplaces"
            ),
            AllocationRule(
                name=f"{run} amazon pct",
                kind="buffer_percent",
                value=15,
                scope="channel",
                target=channels[1].code,
            ),
            AllocationRule(
                name=f"{run} shop share",
                kind="share_percent",
                value=60,
                scope="channel",
                target=channels[0].code,
            ),
            AllocationRule(
                name=f"{run} apparel cap", kind="ceiling", value=150, scope="tag", target="apparel"
            ),
        ]
    )


def setup(run: str, sku_count: int) -> tuple[list[Sku], Location]:
    warehouse, store, fba = create_locations(run)
    skus = create_skus(run, sku_count)
    # One generator for stock and policies, in this order, so a run's figures repeat.
    rng = random.Random(11)
    receive_stock(run, skus, (warehouse, store, fba), rng)
    create_policies(skus, rng)
    channels = create_channels(run, fba)
    create_listings(skus, channels, store)
    create_rules(run, channels)
    return skus, warehouse


def read_balances(sku_ids: list[int]) -> int:
    return len(
        list(
            Balance.objects.filter(sku_id__in=sku_ids).values_list(
                "sku_id", "location_id", "bucket", "quantity"
            )
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument("--incremental", type=int, default=300)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        print("bench/allocation.py measures PostgreSQL: set DATABASE_URL=postgres://...")
        return 2
    run = uuid.uuid4().hex[:8]
    started = time.perf_counter()
    skus, warehouse = setup(run, args.skus)
    listings = Listing.objects.filter(sku__in=skus).count()
    print(
        f"run {run}: {len(skus)} SKUs, {listings} listings (set up in {time.perf_counter() - started:.1f}s)"
    )

    ids = [sku.pk for sku in skus]
    # Planner rounds also see SKUs dirtied by other runs; clear them so only ours count.
    Sku.objects.exclude(pk__in=ids).update(allocation_dirty_since=None)
    Sku.objects.filter(pk__in=ids).update(allocation_dirty_since=django.utils.timezone.now())
    started = time.perf_counter()
    planned = changed = 0
    while (step := plan_dirty_skus(batch_size=500)).skus:
        planned += step.skus
        changed += step.listings_changed
    full = time.perf_counter() - started
    started = time.perf_counter()
    for start in range(0, len(ids), 500):
        read_balances(ids[start : start + 500])
    read_all = time.perf_counter() - started
    print(
        f"full recompute: {full:.2f}s for {planned} SKUs / {changed} listings changed; "
        f"reading the balances alone {read_all:.2f}s; ratio {full / read_all:.1f}"
    )

    rng = random.Random(5)
    per_event, per_read = [], []
    for n in range(args.incremental):
        sku = rng.choice(skus)
        services.record_event(
            kind="sale",
            lines=[EventLine(sku.code, warehouse.code, 1)],
            idempotency_key=f"ab:{run}:inc:{n}",
            source="bench",
        )
        started = time.perf_counter()
        step = plan_dirty_skus()
        per_event.append(time.perf_counter() - started)
        assert step.skus == 1, step
        started = time.perf_counter()
        read_balances([sku.pk])
        per_read.append(time.perf_counter() - started)
    inc, base = statistics.median(per_event) * 1000, statistics.median(per_read) * 1000
    p95 = sorted(per_event)[int(len(per_event) * 0.95)] * 1000
    print(
        f"incremental recompute of one SKU: median {inc:.2f} ms (p95 {p95:.2f} ms); "
        f"reading its balances alone {base:.2f} ms; ratio {inc / base:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
