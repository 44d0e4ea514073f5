"""Shopify sync benchmark: a sustained stream of orders through real processes.

    make bench            (or: python bench/shopify_sync.py --rate 20 --seconds 30)

Needs PostgreSQL, Redis and RabbitMQ on their usual local ports (scripts/services.sh). It
creates its own database, starts two sandbox shops, the web process (gunicorn) and a Celery
worker, and maps a few SKUs to a listing on each shop. Then:

  stream   shoppers buy on shop A at --rate orders/s; latency runs from the checkout on A to
           the moment shop B's level for that SKU reflects it (B's own inventory_levels/update
           webhook, caught here), and from our receipt of the order webhook to B's
           acknowledgement. Shopify calls and Celery tasks are counted per 1,000 orders. The
           stream runs at --reference-rate first (the everyday figure, printed beside), then at
           --rate with the default push window, then with --budget-window-ms.
  steps    the rate stepped up (--step-rates, --step-seconds each) until the p99 from webhook
           received to B acknowledged passes 1 s: the highest rate that kept it is printed.
  naive    the same stream, one unbatched set per order per listing, on two fresh shops with
           the same rate limits: latency to the last set, and calls.
  intake   the webhook endpoint (HMAC, raw store, 200) under load from --clients keep-alive
           clients, beside a bench-only view that only inserts a row; the worker is stopped so
           only intake is measured.

Every figure is printed on its own line with its baseline and the ratio.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import databases  # noqa: E402

DB_NAME = "inventory_sync_bench_shopify"
ENV = {
    "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
    "CACHE_URL": "redis://127.0.0.1:6379/5",
    "CELERY_BROKER_URL": os.environ.get("BENCH_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//"),
    "SECRET_KEY": "bench-only-secret",
    "DJANGO_SETTINGS_MODULE": "bench.shopify_settings",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    # The bench's web process answers plain HTTP on 127.0.0.1 (production redirects to HTTPS).
    "SECURE_SSL_REDIRECT": "0",
}
os.environ.update(ENV)
SECRET = "bench-webhook-secret"
TOKEN = "shpat_bench"
STOCK = 1_000_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentiles(values: list[float]) -> tuple[float, float, float]:
    if not values:
        return (float("nan"),) * 3
    ordered = sorted(values)

    def rank(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, int(-(-len(ordered) * fraction // 1)) - 1))]

    return rank(0.50), rank(0.95), rank(0.99)


def line(label: str, ours: str, baseline_label: str, baseline: str, ratio: float) -> None:
    print(f"{label:<58} {ours:>22}   {baseline_label}: {baseline:>22}   ratio {ratio:6.2f}")


# --- processes --------------------------------------------------------------------------------


class Processes:
    def __init__(self) -> None:
        self.children: dict[str, subprocess.Popen] = {}

    def start(self, name: str, command: list[str], **kwargs) -> subprocess.Popen:
        log = open(ROOT / "var" / f"bench-{name}.log", "w")  # noqa: SIM115 — closed with the run
        child = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ}, stdout=log, stderr=subprocess.STDOUT, **kwargs
        )
        self.children[name] = child
        return child

    def stop(self, name: str) -> None:
        child = self.children.pop(name, None)
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()

    def stop_all(self) -> None:
        for name in list(self.children):
            self.stop(name)


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer within {timeout} s")


def start_sandbox(procs: Processes, name: str) -> str:
    port = free_port()
    procs.start(
        name,
        [sys.executable, "-m", "channels.sandbox.shopify", "--port", str(port),
         "--access-token", TOKEN, "--shop-domain", f"{name}.myshopify.com"],
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/_sandbox/")
    return url


def sandbox(url: str, path: str, body: dict | None = None, method: str = "POST") -> dict:
    response = requests.request(method, f"{url}/_sandbox/{path}", json=body, timeout=60)
    response.raise_for_status()
    return response.json() if response.content else {}


# --- database --------------------------------------------------------------------------------


def fresh_database() -> None:
    databases.fresh_database(DB_NAME)
    import redis

    redis.Redis.from_url(ENV["CACHE_URL"]).flushdb()


def setup_world(shop_a: str, shop_b: str, sku_count: int):
    import django

    django.setup()
    from channels.lanes.shopify.mapping import import_mapping
    from channels.models import Channel
    from ledger import services
    from ledger.models import Location, Sku
    from ledger.rules import EventLine

    warehouse = Location.objects.create(code="BENCH-WH", name="Bench warehouse")
    codes = [f"BENCH-{n:03d}" for n in range(sku_count)]
    for code in codes:
        Sku.objects.create(code=code, title=code)
        services.record_event(
            kind="receipt",
            lines=[EventLine(code, "BENCH-WH", STOCK)],
            idempotency_key=f"bench:receipt:{code}",
            source="bench",
        )
    channels = []
    for code, url in (("shop-a", shop_a), ("shop-b", shop_b)):
        seeded = sandbox(
            url,
            "seed",
            {"products": [{"sku": c, "quantities": {"Main warehouse": STOCK}} for c in codes]},
        )
        location = next(loc for loc in seeded["locations"] if loc["name"] == "Main warehouse")
        channel = Channel(
            code=code,
            name=code,
            kind="shopify",
            mode="live",
            api_base_url=url,
            api_version="2026-04",
            external_location_id=location["gid"],
            default_location=warehouse,
        )
        channel.credentials = {"access_token": TOKEN, "webhook_secret": SECRET}
        channel.save()
        import_mapping(channel)
        channels.append(channel)
    return codes, channels


def wait_until_pushed(timeout: float = 120) -> None:
    from django.db.models import F

    from channels.models import Listing

    deadline = time.monotonic() + timeout
    while Listing.objects.filter(desired_version__gt=F("pushed_version")).exists():
        if time.monotonic() > deadline:
            raise SystemExit("listings were not pushed in time: see var/bench-*.log")
        time.sleep(0.2)


# --- the level watcher (shop B's inventory_levels/update) -------------------------------------


class LevelWatcher:
    def __init__(self) -> None:
        self.seen: list[tuple[str, int, float]] = []  # (inventory item id, available, at)
        self.lock = threading.Lock()
        watcher = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                at = time.monotonic()
                payload = json.loads(body)
                with watcher.lock:
                    watcher.seen.append(
                        (str(payload["inventory_item_id"]), payload["available"], at)
                    )
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/"


# --- phases ----------------------------------------------------------------------------------


def celery_task_total() -> int:
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "inventory_sync", "inspect", "stats", "--json",
         "--timeout", "5"],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ},
    )  # fmt: skip
    try:
        stats = json.loads(result.stdout)
    except ValueError:
        return -1
    return sum(sum(node.get("total", {}).values()) for node in stats.values())


def calls(url: str) -> int:
    counters = sandbox(url, "requests", method="GET")["counters"]
    return counters["calls"]


def stream(
    shop_a: str, codes: list[str], rate: float, seconds: float, sold: dict[str, int]
) -> list[tuple[str, int, float]]:
    """Checkouts on shop A at `rate` per second; returns (sku, nth sale of it, at). `sold`
    counts every SKU's sales so far (it carries over from an earlier phase)."""
    sales = []
    session = requests.Session()
    start = time.monotonic()
    for number in range(int(rate * seconds)):
        due = start + number / rate
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        code = codes[number % len(codes)]
        at = time.monotonic()
        session.post(f"{shop_a}/_sandbox/sell", json={"sku": code}, timeout=30).raise_for_status()
        sold[code] += 1
        sales.append((code, sold[code], at))
    return sales


def stream_latencies(sales, watcher: LevelWatcher, item_of: dict[str, str], timeout: float):
    """For each sale: when B first showed a level that includes it."""
    deadline = time.monotonic() + timeout
    final = {}
    for code, nth, _ in sales:
        final[code] = max(final.get(code, 0), nth)
    while time.monotonic() < deadline:
        with watcher.lock:
            lowest = {}
            for item, available, _ in watcher.seen:
                lowest[item] = min(lowest.get(item, STOCK), available)
        if all(lowest.get(item_of[c], STOCK) <= STOCK - n for c, n in final.items()):
            break
        time.sleep(0.1)
    with watcher.lock:
        seen = sorted(watcher.seen, key=lambda row: row[2])
    latencies, missing = [], 0
    for code, nth, at in sales:
        item = item_of[code]
        reached = next((t for i, a, t in seen if i == item and a <= STOCK - nth and t >= at), None)
        if reached is None:
            missing += 1
        else:
            latencies.append((reached - at) * 1000)
    return latencies, missing


def received_to_acknowledged(channel_a, channel_b, since) -> list[tuple[float, float, float]]:
    """The issue's own measure, from the database: each order webhook's arrival on our side
    to the acknowledgement of the first set on shop B that includes its sale (for the orders
    received after `since`; earlier ones still count towards each SKU's level). Each as
    (total, received → applied, applied → that call started) in ms: where a slow one waited."""
    from channels.models import InboundEvent, Listing, PushAttempt

    listing_sku = dict(Listing.objects.filter(channel=channel_b).values_list("id", "sku__code"))
    acks: dict[str, list[tuple[float, float, int]]] = {}
    for started, finished, items in PushAttempt.objects.filter(
        channel=channel_b, status="acknowledged"
    ).values_list("started_at", "finished_at", "items"):
        for item in items:
            code = listing_sku.get(item["listing"])
            if code is not None:
                acks.setdefault(code, []).append(
                    (finished.timestamp(), started.timestamp(), item["quantity"])
                )
    for rows in acks.values():
        rows.sort()
    sold: dict[str, int] = {}
    latencies = []
    for received, processed, body in (
        InboundEvent.objects.filter(channel=channel_a, topic="orders/create", source="webhook")
        .order_by("received_at", "id")
        .values_list("received_at", "processed_at", "body")
    ):
        for line in json.loads(bytes(body)).get("line_items", []):
            code = line.get("sku")
            sold[code] = sold.get(code, 0) + int(line.get("quantity") or 0)
            reached = next(
                ((t, s) for t, s, quantity in acks.get(code, []) if quantity <= STOCK - sold[code]),
                None,
            )
            if reached is not None and received >= since:
                at = received.timestamp()
                applied = processed.timestamp() if processed else at
                latencies.append(
                    ((reached[0] - at) * 1000, (applied - at) * 1000, (reached[1] - applied) * 1000)
                )
    return latencies


def slowest_parts(received: list[tuple[float, float, float]]) -> str:
    """Where the slowest 1 % of orders spent their time (means over them)."""
    if not received:
        return "no orders"
    ranked = sorted(received, reverse=True)[: max(1, len(received) // 100)]
    total, ingest, wait = (sum(row[n] for row in ranked) / len(ranked) for n in range(3))
    return (f"slowest 1 % ({len(ranked)} orders): {total:.0f} ms = received → applied "
            f"{ingest:.0f} + applied → call started {wait:.0f} + call {total - ingest - wait:.0f}")  # fmt: skip


def naive(shop_na: str, shop_nb: str, codes: list[str], rate: float, seconds: float):
    """One unbatched compare-and-set per order per listing, as a simple connector does."""
    from channels.lanes.shopify import client as shopify
    from channels.lanes.throttle import LocalThrottle

    clients, items, location = {}, {}, {}
    for name, url in (("a", shop_na), ("b", shop_nb)):
        seeded = sandbox(
            url,
            "seed",
            {"products": [{"sku": c, "quantities": {"Main warehouse": STOCK}} for c in codes]},
        )
        location[name] = next(
            loc["gid"] for loc in seeded["locations"] if loc["name"] == "Main warehouse"
        )
        items[name] = {p["sku"]: p["inventory_item_gid"] for p in seeded["products"]}
        clients[name] = shopify.ShopifyClient(url, TOKEN, throttle=LocalThrottle(), max_wait=600)
    work: queue.Queue = queue.Queue()
    latencies: list[float] = []
    shown = {(name, c): STOCK for name in clients for c in codes}

    def worker():
        while True:
            job = work.get()
            if job is None:
                return
            code, at = job
            for name, client in clients.items():
                before = shown[(name, code)]
                client.set_available(
                    [shopify.SetQuantity(items[name][code], location[name], before - 1, before)],
                    idempotency_key=str(uuid.uuid4()),
                    reference_uri="gid://bench/NaivePush/1",
                )
                shown[(name, code)] = before - 1
            latencies.append((time.monotonic() - at) * 1000)

    thread = threading.Thread(target=worker)
    thread.start()
    start = time.monotonic()
    for number in range(int(rate * seconds)):
        due = start + number / rate
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        work.put((codes[number % len(codes)], time.monotonic()))
    work.put(None)
    thread.join()
    return latencies, calls(shop_na) + calls(shop_nb)


def _intake_client(url: str, path: str, seconds: float, counter, start_at: float) -> None:
    from channels.lanes.shopify.webhooks import sign

    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    body_template = {
        "id": 0,
        "name": "#1001",
        "created_at": "2026-11-30T10:00:00Z",
        "updated_at": "2026-11-30T10:00:00Z",
        "cancelled_at": None,
        "line_items": [
            {"id": 1, "variant_id": 1, "sku": "BENCH-000", "quantity": 1, "current_quantity": 1}
        ],
    }
    while time.time() < start_at:
        time.sleep(0.001)
    deadline = time.monotonic() + seconds
    done = 0
    while time.monotonic() < deadline:
        body_template["id"] = uuid.uuid4().int % 10**15
        body = json.dumps(body_template).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Hmac-Sha256": sign(SECRET, body),
            "X-Shopify-Event-Id": str(uuid.uuid4()),
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Shop-Domain": "shop-a.myshopify.com",
            "X-Shopify-API-Version": "2026-04",
        }
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status == 200:
            done += 1
        else:
            raise SystemExit(f"intake answered {response.status} on {path}")
    with counter.get_lock():
        counter.value += done


def intake(url: str, path: str, clients: int, seconds: float) -> float:
    counter = multiprocessing.Value("i", 0)
    start_at = time.time() + 1.0
    workers = [
        multiprocessing.Process(target=_intake_client, args=(url, path, seconds, counter, start_at))
        for _ in range(clients)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return counter.value / seconds


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=20.0, help="orders per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--skus", type=int, default=5)
    parser.add_argument(
        "--budget-window-ms",
        type=int,
        default=1050,
        help="the second stream's push window (a channel that spends fewer calls)",
    )
    parser.add_argument(
        "--reference-rate", type=float, default=20.0, help="the everyday stream, run first"
    )
    parser.add_argument(
        "--step-rates",
        default="30,40,50,60,80,100,120,150,200",
        help="orders/s tried in turn for the highest rate with p99 <= 1 s ('' skips)",
    )
    parser.add_argument("--step-seconds", type=float, default=15.0)
    parser.add_argument(
        "--ingest-processes", type=int, default=2, help="worker processes taking the ingest queue"
    )
    parser.add_argument(
        "--ingest-loops", type=int, default=1, help="ingest loops (threads) in each of them"
    )
    parser.add_argument("--clients", type=int, default=4, help="intake load clients")
    parser.add_argument("--intake-seconds", type=float, default=10.0)
    return parser.parse_args()


@dataclass
class World:
    """The running shops, channels and web process the stream phases share."""

    shop_a: str
    shop_b: str
    web: str
    codes: list[str]
    channels: list
    watcher: LevelWatcher
    item_of: dict[str, str]  # SKU -> shop B's inventory item id
    sold: dict[str, int]


def start_web(procs: Processes) -> str:
    web_port = free_port()
    web = f"http://127.0.0.1:{web_port}"
    procs.start(
        "web",
        [sys.executable, "-m", "gunicorn", "inventory_sync.wsgi:application",
         "--bind", f"127.0.0.1:{web_port}",
         "--workers", "2", "--threads", "4", "--worker-class", "gthread",
         "--log-level", "warning"],
    )  # fmt: skip
    wait_http(f"{web}/accounts/login/")
    return web


def start_workers(procs: Processes, ingest_processes: int = 2, loops: int = 1) -> None:
    # As in production (deploy/docker-compose.yml), ingest, the planner (default queue) and
    # the pushers each in their own worker process; --ingest-processes N runs N on the ingest
    # queue with --ingest-loops each (INGEST_LOOPS is their product).
    os.environ["INGEST_LOOPS"] = str(loops * ingest_processes)
    workers = [("worker", "default,celery", 4), ("pusher", "push", 4)]
    workers += [(f"ingest{n}", "ingest", loops) for n in range(ingest_processes)]
    for name, queues, threads in workers:
        procs.start(
            name,
            [sys.executable, "-m", "celery", "-A", "inventory_sync", "worker", "--pool",
             "threads", "--concurrency", str(threads), "-Q", queues, "--loglevel", "WARNING",
             "-n", f"{name}@%h", "--prefetch-multiplier", "1", "-O", "fair"],
        )  # fmt: skip


def start_world(
    procs: Processes, sku_count: int, ingest_processes: int = 2, ingest_loops: int = 1
) -> World:
    """A fresh database, both shops mapped and pushed once, the webhooks subscribed and the
    shops' request counters at zero."""
    fresh_database()
    subprocess.run(
        [sys.executable, "-m", "celery", "-A", "inventory_sync", "purge", "-f", "-Q",
         "ingest,push,default,celery"],
        cwd=ROOT, env={**os.environ}, capture_output=True,
    )  # fmt: skip
    shop_a, shop_b = start_sandbox(procs, "shop-a"), start_sandbox(procs, "shop-b")
    codes, channels = setup_world(shop_a, shop_b, sku_count)
    web = start_web(procs)
    start_workers(procs, ingest_processes, ingest_loops)
    from channels.models import Listing
    from channels.tasks import wake_planner

    wake_planner()
    wait_until_pushed()
    shop_a_channel, shop_b_channel = channels
    watcher = LevelWatcher()
    for channel, url in ((shop_a_channel, shop_a), (shop_b_channel, shop_b)):
        sandbox(url, "webhooks", {"url": f"{web}/webhooks/shopify/{channel.pk}/",
                                  "secret": SECRET, "delay_ms": [0, 0]})  # fmt: skip
    sandbox(shop_b, "webhooks", {"url": watcher.url, "secret": SECRET, "delay_ms": [0, 0],
                                 "topics": ["inventory_levels/update"], "replace": False})  # fmt: skip
    item_of = {
        listing.sku.code: listing.shopify_inventory_item_id.rsplit("/", 1)[-1]
        for listing in Listing.objects.filter(channel=shop_b_channel).select_related("sku")
    }
    for url in (shop_a, shop_b):
        sandbox(url, "requests", method="DELETE")
    return World(
        shop_a=shop_a,
        shop_b=shop_b,
        web=web,
        codes=codes,
        channels=channels,
        watcher=watcher,
        item_of=item_of,
        sold=dict.fromkeys(codes, 0),
    )


def stream_phase(
    world: World,
    args: argparse.Namespace,
    window_ms: int | None,
    rate: float | None = None,
    seconds: float | None = None,
) -> dict:
    from django.utils import timezone

    from channels.models import Channel

    shop_a, shop_b = world.shop_a, world.shop_b
    shop_a_channel, shop_b_channel = world.channels
    Channel.objects.filter(pk__in=[c.pk for c in world.channels]).update(push_window_ms=window_ms)
    for url in (shop_a, shop_b):
        sandbox(url, "requests", method="DELETE")
    tasks_before = celery_task_total()
    since = timezone.now()
    sales = stream(shop_a, world.codes, rate or args.rate, seconds or args.seconds, world.sold)
    latencies, missing = stream_latencies(sales, world.watcher, world.item_of, timeout=60)
    wait_until_pushed()
    return {
        "latencies": latencies,
        "missing": missing,
        "calls": calls(shop_a) + calls(shop_b),
        "b_calls": calls(shop_b),
        "received": received_to_acknowledged(shop_a_channel, shop_b_channel, since),
        "tasks": celery_task_total() - tasks_before,
        "events": len(sales),
    }


def report_stream(
    label: str, result: dict, naive_latencies: list[float], naive_calls: int, naive_tasks: int
) -> None:
    n50, n95, n99 = percentiles(naive_latencies)
    fmt = "{:.0f} / {:.0f} / {:.0f} ms"
    events = result["events"]
    per_k = 1000 / events
    print(f"{label}:")
    p50, p95, p99 = percentiles(result["latencies"])
    line(
        f"  latency p50/p95/p99, checkout on A → B shows it ({events} orders)",
        fmt.format(p50, p95, p99), "naive", fmt.format(n50, n95, n99), p99 / n99,
    )  # fmt: skip
    if result["missing"]:
        print(f"  ({result['missing']} sale(s) never reached shop B within 60 s)")
    r50, r95, r99 = percentiles([row[0] for row in result["received"]])
    line(
        "  latency p50/p95/p99, webhook received → B acknowledged",
        fmt.format(r50, r95, r99), "naive", fmt.format(n50, n95, n99), r99 / n99,
    )  # fmt: skip
    print(f"    {slowest_parts(result['received'])}")
    line(
        "  Shopify calls per 1,000 orders (both shops, all operations)",
        f"{result['calls'] * per_k:.0f}", "naive", f"{naive_calls * per_k:.0f}",
        result["calls"] / max(naive_calls, 1),
    )  # fmt: skip
    print(f"    of which shop B (the pushes): {result['b_calls'] * per_k:.0f}")
    tasks = result["tasks"]
    line(
        "  Celery tasks per 1,000 orders",
        f"{tasks * per_k:.0f}" if tasks >= 0 else "n/a", "one task per step",
        f"{naive_tasks * 1000:.0f}", (tasks * per_k) / (naive_tasks * 1000),
    )  # fmt: skip


def report_push_latency() -> None:
    from channels.models import PushAttempt

    acked = list(
        PushAttempt.objects.filter(latency_ms__isnull=False).values_list("latency_ms", flat=True)
    )
    q50, q95, q99 = percentiles(acked)
    print(f"  push latency, ledger write → channel acknowledged (both phases): p50 {q50:.0f} "
          f"ms, p95 {q95:.0f} ms, p99 {q99:.0f} ms over {len(acked)} pushes")  # fmt: skip


def step_up(world: World, args: argparse.Namespace) -> list[tuple[float, float]]:
    """(rate, p99 webhook received → B acknowledged) for each step, until two steps in a row
    pass 1 s (one step's p99 is its few slowest orders: one unlucky step is not the limit)."""
    steps = []
    for rate in [float(r) for r in args.step_rates.split(",") if r.strip()]:
        print(f"step: {rate:g} orders/s for {args.step_seconds:g} s …", flush=True)
        result = stream_phase(world, args, None, rate=rate, seconds=args.step_seconds)
        p99 = percentiles([row[0] for row in result["received"]])[2]
        print(f"  p99 webhook received → B acknowledged: {p99:.0f} ms; "
              f"{slowest_parts(result['received'])}", flush=True)  # fmt: skip
        steps.append((rate, p99))
        if len(steps) >= 2 and not steps[-1][1] <= 1000 and not steps[-2][1] <= 1000:
            break
    return steps


def report_rates(args: argparse.Namespace, reference: dict, fresh: dict, steps) -> None:
    fmt = "{:.0f} / {:.0f} / {:.0f} ms"
    ref = percentiles([row[0] for row in reference["received"]])
    ours = percentiles([row[0] for row in fresh["received"]])
    print(f"p50/p95/p99 webhook received → B acknowledged, default window, {args.ingest_processes} "
          "ingest process(es):")  # fmt: skip
    line(
        f"  {args.rate:g} orders/s on {args.skus} SKUs",
        fmt.format(*ours), f"{args.reference_rate:g} orders/s", fmt.format(*ref),
        ours[2] / ref[2],
    )  # fmt: skip
    for rate, p99 in steps:
        print(f"  step {rate:g} orders/s: p99 {p99:.0f} ms{'' if p99 <= 1000 else '  (over 1 s)'}")
    kept = [rate for rate, p99 in steps if p99 <= 1000]
    if steps:
        print(f"highest rate with p99 ≤ 1 s (webhook received → other shop acknowledged): "
              f"{max(kept):g} orders/s" if kept else "no stepped rate kept p99 ≤ 1 s")  # fmt: skip


def main() -> None:
    args = parse_args()
    (ROOT / "var").mkdir(exist_ok=True)
    procs = Processes()
    try:
        print("setting up a fresh database, two sandbox shops, web and worker …", flush=True)
        world = start_world(procs, args.skus, args.ingest_processes, args.ingest_loops)
        from django.conf import settings as django_settings

        default_ms = round(django_settings.PUSH_WINDOW_SECONDS * 1000)
        print(f"reference stream: {args.reference_rate:g} orders/s for {args.seconds:g} s …",
              flush=True)  # fmt: skip
        reference = stream_phase(world, args, None, rate=args.reference_rate)
        print(
            f"stream: {args.rate:g} orders/s for {args.seconds:g} s on {args.skus} SKUs, "
            f"push window {default_ms} ms (the default) …",
            flush=True,
        )
        fresh = stream_phase(world, args, None)
        print(
            f"stream again with a call-budget push window of {args.budget_window_ms} ms …",
            flush=True,
        )
        budget = stream_phase(world, args, args.budget_window_ms)
        steps = step_up(world, args)

        print("naive baseline: the same stream, one set per order per listing …", flush=True)
        shop_na, shop_nb = start_sandbox(procs, "naive-a"), start_sandbox(procs, "naive-b")
        naive_latencies, naive_calls = naive(shop_na, shop_nb, world.codes, args.rate, args.seconds)

        print("intake: webhook endpoint vs an insert-only view, worker stopped …", flush=True)
        for name in ["worker", "pusher"] + [f"ingest{n}" for n in range(args.ingest_processes)]:
            procs.stop(name)
        a_id = world.channels[0].pk
        ours_rps = intake(
            world.web, f"/webhooks/shopify/{a_id}/", args.clients, args.intake_seconds
        )
        floor_rps = intake(world.web, f"/bench/insert/{a_id}/", args.clients, args.intake_seconds)

        print()
        naive_tasks = 1 + len(world.channels)  # one ingest task and one push task per listing
        for label, result in ((f"window {default_ms} ms", fresh),
                              (f"window {args.budget_window_ms} ms", budget)):  # fmt: skip
            report_stream(label, result, naive_latencies, naive_calls, naive_tasks)
        line(
            f"webhook intake, {args.clients} keep-alive clients (HMAC, raw store, 200)",
            f"{ours_rps:.0f} req/s", "insert-only view", f"{floor_rps:.0f} req/s",
            ours_rps / max(floor_rps, 1),
        )  # fmt: skip
        report_push_latency()
        report_rates(args, reference, fresh, steps)
    finally:
        procs.stop_all()


if __name__ == "__main__":
    main()
