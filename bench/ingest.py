"""Ingest benchmark: stored webhooks applied per second per ingest process.

    python bench/ingest.py                       (1 and 2 processes, 3,000 orders)
    python bench/ingest.py --orders 6000 --skus 200 --processes 1 2
    python bench/ingest.py --profile             (where one process's time goes)

Needs PostgreSQL on its usual local port; it creates its own database. The inbox is filled as a
flash sale fills it: every Shopify checkout stores an `orders/create` and the
`inventory_levels/update` that Shopify sends with it (Shopify's own example payloads, one line
of one of --skus SKUs each). Then N ingest processes drain it (channels.inbound.process_pending,
as the ingest loop calls it) and the bench prints events and orders applied per second per
process. The baseline, in the same run, is a raw psycopg insert of the same ledger rows (one
sale event, its entry and its balance per order) in one transaction per 200 orders: what the
database costs before any of our work.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import io
import json
import multiprocessing
import os
import pstats
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import databases  # noqa: E402

DB_NAME = "inventory_sync_bench_ingest"
os.environ.update(
    {
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        "SECRET_KEY": "bench-only-secret",
        "DJANGO_SETTINGS_MODULE": "inventory_sync.settings",
        # Wake-ups go nowhere here: the bench drains the inbox itself.
        "CACHE_URL": "locmem://",
    }
)
STOCK = 1_000_000
LOCATION_GID = "gid://shopify/Location/905684977"
# Where a profile's time goes, by the function that owns it (cumulative time of each).
PROFILE_PARTS = {
    "claim and bookkeeping (channels.inbound)": ("channels/inbound.py", "process_pending"),
    "payload parsing (json + webhook parsers)": ("channels/lanes/shopify/webhooks.py", None),
    "order snapshot diff and lines (orders)": ("channels/orders.py", "apply_order_snapshot"),
    "  of which mapping lookups (read once per claim)": ("channels/claims.py", "_map_listings"),
    "  of which routing": ("channels/orders.py", "_route"),
    "  of which ledger write (record_event)": ("ledger/services.py", "record_event"),
    "  of which channel moves (listing rows)": ("channels/orders.py", "apply"),
    "  of which order details and customer": ("channels/order_details.py", "store_details"),
    "echo bookkeeping (inventory levels)": ("channels/lanes/shopify/inbound.py", "inventory_level"),
    "wake-ups": ("inventory_sync/lib/wakeups.py", None),
    "commits": ("django/db/backends/base/base.py", "commit"),
}


def setup_world(sku_count: int):
    import django

    django.setup()
    from channels.models import Channel, Listing
    from ledger import services
    from ledger.models import Location, Sku
    from ledger.rules import EventLine, EventRequest

    warehouse = Location.objects.create(code="BENCH-WH", name="Bench warehouse")
    skus = Sku.objects.bulk_create(
        Sku(code=f"BENCH-{n:03d}", title=f"Bench {n}") for n in range(sku_count)
    )
    services.record_events(
        [
            EventRequest(
                kind="receipt",
                lines=(EventLine(sku.code, warehouse.code, STOCK),),
                idempotency_key=f"bench:receipt:{sku.code}",
                source="bench",
            )
            for sku in skus
        ]
    )
    channel = Channel.objects.create(
        code="shop-a",
        name="Shop A",
        kind="shopify",
        mode="live",
        external_location_id=LOCATION_GID,
        default_location=warehouse,
    )
    Listing.objects.bulk_create(
        Listing(
            channel=channel,
            sku=sku,
            external_id=f"gid://shopify/ProductVariant/{7000 + n}",
            shopify_inventory_item_id=f"gid://shopify/InventoryItem/{9000 + n}",
            shopify_location_id=LOCATION_GID,
        )
        for n, sku in enumerate(skus)
    )
    return channel, [sku.code for sku in skus]


def _order_template() -> dict:
    from channels.sandbox.shopify.payloads import template

    return template("orders__create")


def fill_inbox(channel, codes: list[str], orders: int, first_id: int) -> None:
    """Store `orders` checkouts the way the webhook view stores them."""
    from channels.inbox import store

    order_template = _order_template()
    shown = dict.fromkeys(codes, STOCK)
    for number in range(orders):
        n = number % len(codes)
        code = codes[n]
        order = copy.deepcopy(order_template)
        order_id = first_id + number
        moment = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
        line = order["line_items"][0]
        line.update(
            {"id": order_id * 10, "variant_id": 7000 + n, "sku": code, "quantity": 1,
             "current_quantity": 1, "price": "19.00"}
        )  # fmt: skip
        order.update(
            {"id": order_id, "name": f"#{order_id}", "created_at": moment, "updated_at": moment,
             "cancelled_at": None, "line_items": [line], "location_id": None}
        )  # fmt: skip
        # Each checkout its own shopper (a flash sale's buyers are mostly different people).
        email, phone = f"shopper{order_id}@example.com", f"+1415{order_id % 10**7:07d}"
        order.update({"email": email, "contact_email": email, "phone": None})
        order["customer"].update({"email": email, "phone": None})
        for address in ("billing_address", "shipping_address"):
            order[address]["phone"] = phone
        shown[code] -= 1
        level = {
            "inventory_item_id": 9000 + n,
            "location_id": int(LOCATION_GID.rsplit("/", 1)[-1]),
            "available": shown[code],
            "updated_at": moment,
            "admin_graphql_api_id": f"gid://shopify/InventoryLevel/{9000 + n}",
        }
        for topic, payload in (("orders/create", order), ("inventory_levels/update", level)):
            store(
                channel=channel,
                source="webhook",
                topic=topic,
                dedupe_key=f"{topic}:{uuid.uuid4()}",
                body=json.dumps(payload).encode(),
            )


def _drain(barrier, results, limit: int) -> None:
    import django

    django.setup()
    from channels import inbound

    barrier.wait()
    started = time.perf_counter()
    handled = 0
    while True:
        done = inbound.process_pending(limit=limit)
        if not done:
            break
        handled += done
    results.put((handled, time.perf_counter() - started))


def drain(processes: int, limit: int) -> tuple[int, float]:
    """Drain the inbox with `processes` ingest processes; (events handled, wall seconds)."""
    from django.db import connections

    connections.close_all()
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(processes + 1)
    results = context.Queue()
    workers = [
        context.Process(target=_drain, args=(barrier, results, limit)) for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.perf_counter()
    outcomes = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
    return sum(handled for handled, _ in outcomes), time.perf_counter() - started


def check_drained(orders: int) -> None:
    """Every order applied and no event left waiting or failed: a fast drain that drops work
    would be no figure at all."""
    from django.db.models import Count

    from channels.models import ChannelOrder, InboundEvent

    statuses = dict(InboundEvent.objects.values_list("status").annotate(n=Count("id")))
    applied = ChannelOrder.objects.count()
    if applied != orders or statuses.get("received") or statuses.get("failed"):
        raise SystemExit(f"the inbox was not drained cleanly: {statuses}, {applied} orders")


def raw_insert(codes: list[str], orders: int) -> float:
    """The same ledger rows by hand: one sale event, entry and balance upsert per order, one
    transaction per 200 orders; returns orders/s."""
    import psycopg

    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}") as db:
        sku_ids = dict(db.execute("SELECT code, id FROM ledger_sku").fetchall())
        location_id = db.execute(
            "SELECT id FROM ledger_location WHERE code = 'BENCH-WH'"
        ).fetchone()[0]
        started = time.perf_counter()
        for start in range(0, orders, 200):
            with db.transaction(), db.cursor() as cursor:
                for number in range(start, min(orders, start + 200)):
                    sku_id = sku_ids[codes[number % len(codes)]]
                    cursor.execute(
                        "UPDATE ledger_sku SET allocation_dirty_since = now() WHERE id = %s",
                        [sku_id],
                    )
                    cursor.execute(
                        "INSERT INTO ledger_inventoryevent (kind, source, idempotency_key,"
                        " fingerprint, occurred_at, recorded_at, actor, reason, reference,"
                        " payload) VALUES ('sale', 'bench', %s, '', now(), now(), '', '', '',"
                        " '{}') RETURNING id",
                        [f"raw:{uuid.uuid4()}"],
                    )
                    event_id = cursor.fetchone()[0]
                    cursor.execute(
                        "INSERT INTO ledger_ledgerentry (event_id, sku_id, location_id, bucket,"
                        " delta) VALUES (%s, %s, %s, 'committed', 1)",
                        [event_id, sku_id, location_id],
                    )
                    cursor.execute(
                        "UPDATE ledger_balance SET quantity = quantity + 1, version = version + 1"
                        " WHERE sku_id = %s AND location_id = %s AND bucket = 'committed'",
                        [sku_id, location_id],
                    )
        return orders / (time.perf_counter() - started)


def profile(limit: int) -> None:
    from channels import inbound

    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    handled = 0
    while done := inbound.process_pending(limit=limit):
        handled += done
    profiler.disable()
    wall = time.perf_counter() - started
    stats = pstats.Stats(profiler, stream=io.StringIO())
    print(f"profile: {handled} events in {wall:.2f} s under the profiler "
          f"({wall / max(handled, 1) * 1000:.2f} ms per event)")  # fmt: skip
    for label, (path, name) in PROFILE_PARTS.items():
        seconds = sum(
            row[3]
            for (filename, _, function), row in stats.stats.items()
            if filename.endswith(path) and (name is None or function == name)
        )
        if name is None:  # a module's own time (its functions call one another)
            seconds = sum(
                row[2] for (filename, _, _), row in stats.stats.items() if filename.endswith(path)
            )
        print(f"  {label:<46} {seconds:7.2f} s  {seconds / wall * 100:5.1f} %")
    waiting = sum(
        row[2]
        for (filename, _, function), row in stats.stats.items()
        if function in ("wait", "_execute_send", "commit", "fetchone", "fetchall")
        and "psycopg" in filename
    )
    print(f"  {'waiting on PostgreSQL (psycopg execute/commit)':<46} {waiting:7.2f} s  "
          f"{waiting / wall * 100:5.1f} %")  # fmt: skip
    stats.stream = sys.stdout
    stats.sort_stats("tottime").print_stats(15)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--skus", type=int, default=200)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--limit", type=int, default=200, help="events per claim")
    parser.add_argument("--profile", action="store_true", help="profile one process instead")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    print(f"setting up {DB_NAME}: {args.skus} SKUs, one Shopify channel …", flush=True)
    databases.fresh_database(DB_NAME)
    channel, codes = setup_world(args.skus)
    from django.db import connections

    first_id = 1_000_000
    if args.profile:
        fill_inbox(channel, codes, args.orders, first_id)
        profile(args.limit)
        return
    # A first drain (not measured) so every measured one meets warm caches and plans.
    fill_inbox(channel, codes, 300, first_id)
    drain(1, args.limit)
    connections.close_all()
    first_id += 300
    rows = []
    for processes in args.processes:
        print(f"filling the inbox with {args.orders} checkouts, draining with {processes} "
              f"process(es) …", flush=True)  # fmt: skip
        fill_inbox(channel, codes, args.orders, first_id)
        first_id += args.orders
        handled, seconds = drain(processes, args.limit)
        connections.close_all()
        check_drained(first_id - 1_000_000)
        rows.append((processes, handled, seconds))
    raw = raw_insert(codes, args.orders)
    print()
    for processes, handled, seconds in rows:
        events = handled / seconds
        orders = events / 2
        print(
            f"{processes} ingest process(es): {events:8.0f} events/s = {orders:6.0f} orders/s "
            f"({events / processes:6.0f} events/s per process)   raw insert of the same ledger "
            f"rows: {raw:6.0f} orders/s   ratio {orders / raw:5.2f}"
        )


if __name__ == "__main__":
    main()
