"""Amazon sync benchmark: many listings changing at once, against a naive connector.

    make bench            (or: python bench/amazon_sync.py --skus 500 --events-per-sku 1)

Needs PostgreSQL on its usual local port (scripts/services.sh); Redis and RabbitMQ are not
used: the SP-API buckets are process-local (one registry per side, so nothing else shares or
drains them) and Celery wake-ups go to an in-memory broker that nothing reads. It creates its
own database (inventory_sync_bench_amazon) and runs everything in this process: the SP-API
sandbox (channels.sandbox.amazon) on a real socket and on the real clock, with Amazon's usage
plans enforced (--rate-scale 1 is Amazon's published plan: patchListingsItem 5/s burst 5,
searchListingsItems 5/s burst 5, createFeed one per two minutes burst 15, getFeed 2/s ...).

The sandbox's processing times are options, printed with the results. By default a patch
applies 2 s after ACCEPTED (--patch-apply-delay) and a feed waits 1 s IN_QUEUE and takes 2 s
IN_PROGRESS (--feed-queue-seconds, --feed-processing-seconds): the sandbox's own defaults,
which keep the run short. Amazon's JSON_LISTINGS_FEED usually takes minutes (a few to 30, up
to hours under load), so the converge time measured here is ours with a fast Amazon. The
figure that does not depend on Amazon's processing is printed too: the time until the last
change was handed to Amazon (the last write answered), from which the printed break-even
follows: the feed time beyond which the naive patches would show every quantity first.

  setup    --skus SKUs with stock in one warehouse, one merchant listing each on one sandbox
           seller (imported through searchListingsItems), planned, and the listings read once
           so the pipeline knows what Amazon shows (it already shows the plan: nothing is
           sent); then the sandbox's request log and both sides' buckets start afresh.
  ours     --events-per-sku receipts on every SKU, written through the ledger one event at a
           time (before the clock starts); then the planner (until no SKU is dirty) and
           push_channel with AmazonLane in a loop every 0.1 s, until no listing is due and no
           accepted push waits for its read-back. More than 20 listings go as one
           JSON_LISTINGS_FEED; the pipeline polls the feed once AMAZON_CONFIRM_INTERVAL_SECONDS
           passed, reads its processing report and reads every listing back
           (searchListingsItems, 20 SKUs a call) before it counts them applied. (The Celery
           pusher exits its loop after LOOP_IDLE_EXIT_SECONDS idle; the read-back then waits
           for the 15 s sweep, so "known applied" comes later in production than here.)
  naive    the same changes on a fresh sandbox with the same limits and processing times: one
           patchListingsItem per event per listing, each with the quantity that listing should
           show after that event (the same allocate() rules, so the same marketplace buffer),
           in order, as fast as the rate limit allows (paced by the same client's token
           buckets; a 429 is waited out and retried), trusting ACCEPTED (no read-back).

"Time to converge" runs from the moment every change is written (ledger committed for ours,
the event list in hand for naive) until the sandbox shows every listing's final quantity,
watched directly on the sandbox object (costs no calls). Calls are what the sandbox's request
log answered: every SP-API request, 429s included; LWA token requests and presigned document
uploads/downloads are not SP-API operations and are not counted. No figure is asserted.
Every figure is printed on its own line with its baseline and the ratio.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import databases  # noqa: E402

DB_NAME = "inventory_sync_bench_amazon"
ENV = {
    "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
    "SECRET_KEY": "bench-only-secret",
    "DJANGO_SETTINGS_MODULE": "inventory_sync.settings",
    # Wake-ups (ledger changed → planner) go nowhere: this process runs planner and pusher.
    "CELERY_BROKER_URL": "memory://",
    "CACHE_URL": "",
    "LOG_LEVEL": "WARNING",
}
os.environ.update(ENV)
MARKETPLACE = "ATVPDKIKX0DER"
WAREHOUSE = "BENCH-WH"


def line(label: str, ours: str, baseline_label: str, baseline: str, ratio: float | None) -> None:
    shown = "   n/a" if ratio is None else f"{ratio:6.{3 if ratio < 0.1 else 2}f}"
    print(f"{label:<62} {ours:>10}   {baseline_label}: {baseline:>10}   ratio {shown}")


def ratio_of(ours: float, baseline: float) -> float | None:
    return ours / baseline if baseline else None


# --- database --------------------------------------------------------------------------------


# --- the sandbox and its watcher ---------------------------------------------------------------


def bucket_registry() -> Callable:
    """SP-API buckets shared by every client of one side (as Redis shares them between
    workers in production), and by nothing else: each side starts with full buckets."""
    from channels.lanes.throttle import LocalThrottle

    buckets: dict[str, LocalThrottle] = {}
    lock = threading.Lock()

    def factory(key: str, capacity: float, rate: float) -> LocalThrottle:
        with lock:
            bucket = buckets.get(key)
            if bucket is None:
                bucket = buckets[key] = LocalThrottle(capacity, rate)
            return bucket

    return factory


def open_sandbox(args, seed: int, quantities: dict[str, int]):
    from channels.sandbox.amazon import serve_in_thread

    handle = serve_in_thread(
        seed=seed,
        rate_limits=True,
        rate_scale=args.rate_scale,
        patch_apply_delay=args.patch_apply_delay,
        feed_queue_seconds=args.feed_queue_seconds,
        feed_processing_seconds=args.feed_processing_seconds,
    )
    for sku, quantity in quantities.items():
        handle.sandbox.add_listing(sku, quantity=quantity)
    return handle


WRITES = ("createFeed", "patchListingsItem")


def fresh_count(handle) -> list[tuple[float, str, object]]:
    """Forget the setup's requests and refill the sandbox's buckets (a quiet seller). Returns
    a list that fills with (monotonic time, operation, status) as the sandbox answers."""
    sandbox = handle.sandbox
    log = sandbox.request_log
    log.clear()
    sandbox.set_rate_limits(enabled=True, scale=sandbox.rate_limiter.scale)
    stamps: list[tuple[float, str, object]] = []
    record = log.record

    def stamped(entry: dict) -> dict:
        entry = record(entry)
        stamps.append((time.monotonic(), entry.get("operation_id") or "", entry.get("status")))
        return entry

    log.record = stamped
    return stamps


def handed_over(stamps: list[tuple[float, str, object]], started: float) -> float | None:
    """When the last change reached Amazon: the last write it answered 2xx."""
    times = [at for at, operation, status in stamps if operation in WRITES and status in (200, 202)]
    return max(times) - started if times else None


class Watcher:
    """Notes when the sandbox first shows every target quantity (read under its lock)."""

    def __init__(self, handle, target: dict[str, int], started: float) -> None:
        self.sandbox = handle.sandbox
        self.seller = handle.seller_id
        self.target = target
        self.started = started
        self.shown_after: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-watcher", daemon=True)
        self._thread.start()

    def _all_shown(self) -> bool:
        listings = self.sandbox.listings
        with self.sandbox.lock:
            for sku, quantity in self.target.items():
                listing = listings.get((self.seller, sku, MARKETPLACE))
                if listing is None or listing.quantity != quantity:
                    return False
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._all_shown():
                self.shown_after = time.monotonic() - self.started
                return
            self._stop.wait(0.02)

    def wait(self, timeout: float) -> float | None:
        self._thread.join(timeout)
        self._stop.set()
        return self.shown_after


def counters(handle) -> dict:
    return handle.sandbox.request_log.counters()


# --- setup -------------------------------------------------------------------------------------


def setup_world(handle, codes: list[str], stock: dict[str, int], lane):
    """SKUs and stock, the channel wired to the sandbox seller, listings imported, planned,
    and read once (the pipeline learns what Amazon shows; it already shows the plan)."""
    from channels import planner, push
    from channels.lanes.amazon.mapping import import_mapping
    from channels.models import Channel, Listing
    from ledger import services
    from ledger.models import Location, Sku
    from ledger.rules import EventLine, EventRequest

    warehouse = Location.objects.create(code=WAREHOUSE, name="Bench warehouse")
    Sku.objects.bulk_create([Sku(code=code, title=code) for code in codes], batch_size=2000)
    services.record_events(
        [
            EventRequest(
                kind="receipt",
                lines=(EventLine(code, WAREHOUSE, stock[code]),),
                idempotency_key=f"bench:amazon:stock:{code}",
                source="bench",
            )
            for code in codes
        ],
        chunk_size=1000,
    )
    channel = Channel(
        code="amazon-us",
        name="Amazon US (bench)",
        kind="amazon",
        mode="live",
        is_marketplace=True,
        api_base_url=handle.url,
        auth_url=handle.token_url,
        seller_id=handle.seller_id,
        marketplace=MARKETPLACE,
        region="NA",
        default_location=warehouse,
    )
    channel.credentials = {
        "refresh_token": handle.refresh_token,
        "lwa_app_id": handle.client_id,
        "lwa_client_secret": handle.client_secret,
        "notification_key": "bench-notification-key",
    }
    channel.save()
    report = import_mapping(channel)
    if len(report.created) != len(codes):
        raise SystemExit(f"imported {len(report.created)} listings of {len(codes)}")
    while planner.plan_dirty_skus().skus:
        pass
    planned = dict(
        Listing.objects.filter(channel=channel).values_list("external_id", "desired_quantity")
    )
    # What Amazon shows before the changes: the plan, so the warm-up sends nothing.
    for code, quantity in planned.items():
        handle.sandbox.set_mfn_quantity(code, quantity, marketplace_id=MARKETPLACE)
    warm = push.push_channel(channel, lane)
    if push.due_count(channel) or warm.attempts:
        raise SystemExit(f"the warm-up round should send nothing: {warm}")
    return channel, planned


# --- ours --------------------------------------------------------------------------------------


def run_ours(handle, channel, lane, events: list[tuple[str, int]], timeout: float) -> dict:
    from channels import planner, push
    from channels.models import Listing, PushAttempt
    from ledger import services
    from ledger.rules import EventLine

    def versions() -> dict[str, int]:
        return dict(
            Listing.objects.filter(channel=channel).values_list("external_id", "desired_version")
        )

    before = versions()
    stamps = fresh_count(handle)
    written = time.monotonic()
    for number, (code, quantity) in enumerate(events):
        services.record_event(
            kind="receipt",
            lines=[EventLine(code, WAREHOUSE, quantity)],
            idempotency_key=f"bench:amazon:event:{number}",
            source="bench",
        )
    started = time.monotonic()
    write_s = started - written
    watcher = None
    rounds = 0
    deadline = started + timeout
    while True:
        while planner.plan_dirty_skus().skus:
            pass
        if watcher is None:
            target = dict(
                Listing.objects.filter(channel=channel).values_list(
                    "external_id", "desired_quantity"
                )
            )
            watcher = Watcher(handle, target, started)
        push.push_channel(channel, lane)
        rounds += 1
        waiting = PushAttempt.objects.filter(
            channel=channel, status=PushAttempt.Status.ACCEPTED
        ).exists()
        if not waiting and not push.due_count(channel):
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"our pipeline did not converge within {timeout:.0f} s")
        time.sleep(0.1)
    confirmed_s = time.monotonic() - started
    shown_s = watcher.wait(timeout=max(1.0, deadline - time.monotonic()))
    attempts = list(PushAttempt.objects.filter(channel=channel).values_list("calls", flat=True))
    return {
        "write_s": write_s,
        "shown_s": shown_s,
        "confirmed_s": confirmed_s,
        "handed_s": handed_over(stamps, started),
        "counters": counters(handle),
        "target": watcher.target,
        "rounds": rounds,
        "attempts": len(attempts),
        "attempt_calls": sum(attempts),
        "changed": sum(1 for sku, version in versions().items() if version != before[sku]),
        "feeds": len(handle.sandbox.requests("createFeed")),
    }


# --- naive -------------------------------------------------------------------------------------


def naive_patches(
    stock: dict[str, int], events: list[tuple[str, int]], channel_code: str
) -> list[tuple[str, int]]:
    """(SKU, quantity) per event: what the listing should show after it, by the same rules
    ours applies (allocate(), so the same marketplace buffer), computed per event."""
    from allocation.rules import ListingSpec, LocationStock, SkuStock, allocate

    on_hand = dict(stock)
    spec = ListingSpec(key="listing", channel=channel_code, is_marketplace=True)
    patches = []
    for code, quantity in events:
        on_hand[code] += quantity
        sku = SkuStock(code=code, locations=(LocationStock(WAREHOUSE, on_hand=on_hand[code]),))
        patches.append((code, allocate(sku=sku, listings=[spec])["listing"].quantity))
    return patches


def run_naive(
    handle, start: dict[str, int], patches: list[tuple[str, int]], timeout: float
) -> dict:
    """One patch per event per listing, in order, paced by the client's buckets."""
    from channels.lanes.amazon import client as amazon

    client = amazon.AmazonClient(
        endpoint=handle.url,
        token_url=handle.token_url,
        credentials=amazon.credentials_from(handle.credentials()),
        seller_id=handle.seller_id,
        marketplace_id=MARKETPLACE,
        region_key="bench-naive",
        throttle_factory=bucket_registry(),
        max_attempts=20,
        max_wait=600,
    )
    shown = dict(start)
    shown.update(patches)  # the last patch of each SKU is what it ends at
    # Warm, like ours: an LWA token in hand and the library's API object built.
    client.listing_quantities([patches[0][0]])
    stamps = fresh_count(handle)
    started = time.monotonic()
    watcher = Watcher(handle, dict(shown), started)
    refused = 0
    with client:
        for code, quantity in patches:
            if client.patch_quantity(code, quantity).status != "ACCEPTED":
                refused += 1
    sent_s = time.monotonic() - started
    shown_s = watcher.wait(timeout=timeout)
    return {
        "sent_s": sent_s,
        "handed_s": handed_over(stamps, started),
        "shown_s": shown_s,
        "counters": counters(handle),
        "target": shown,
        "refused": refused,
    }


# --- main --------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--skus", type=int, default=500, help="listings that all change")
    parser.add_argument(
        "--events-per-sku", type=int, default=1, help="receipts per SKU, written back to back"
    )
    parser.add_argument(
        "--rate-scale", type=float, default=1.0, help="multiplies every SP-API rate (1: Amazon's)"
    )
    parser.add_argument("--patch-apply-delay", type=float, default=2.0, help="seconds")
    parser.add_argument("--feed-queue-seconds", type=float, default=1.0)
    parser.add_argument("--feed-processing-seconds", type=float, default=2.0)
    parser.add_argument("--timeout", type=float, default=900.0, help="per phase, seconds")
    return parser.parse_args()


def changes_for(args) -> tuple[list[str], dict[str, int], list[tuple[str, int]]]:
    """SKU codes, their opening stock and the (SKU, received quantity) events."""
    codes = [f"AMZ-{n:05d}" for n in range(args.skus)]
    # Varied stock so the quantities differ between listings; receipts of 1..3 units.
    stock = {code: 20 + (n * 37) % 180 for n, code in enumerate(codes)}
    events = [
        (code, 1 + (n + round_) % 3)
        for round_ in range(args.events_per_sku)
        for n, code in enumerate(codes)
    ]
    return codes, stock, events


def run_both(
    args, codes: list[str], stock: dict[str, int], events: list[tuple[str, int]]
) -> tuple[dict, dict]:
    """Ours, then naive, each against its own sandbox (stopped before this returns)."""
    ours_handle = open_sandbox(args, seed=1, quantities=stock)
    naive_handle = None
    try:
        from django.conf import settings as django_settings

        from channels.lanes.amazon.lane import PATCH_LIMIT, AmazonLane

        lane = AmazonLane(throttle_factory=bucket_registry())
        channel, planned = setup_world(ours_handle, codes, stock, lane)
        lane = AmazonLane(throttle_factory=bucket_registry())  # full buckets for the run
        print(
            f"ours: planner + push_channel(AmazonLane) in a loop (feed above {PATCH_LIMIT} "
            f"listings; read-back every {django_settings.AMAZON_CONFIRM_INTERVAL_SECONDS:g} s) …",
            flush=True,
        )
        ours = run_ours(ours_handle, channel, lane, events, args.timeout)
        ours_handle.stop()
        ours_handle = None

        naive_limit = len(events) / (5.0 * args.rate_scale)
        print(
            f"naive: {len(events)} patches, one per event per listing (≥ {naive_limit:.0f} s "
            "at patchListingsItem's 5/s) …",
            flush=True,
        )
        naive_handle = open_sandbox(args, seed=2, quantities=planned)
        patches = naive_patches(stock, events, channel.code)
        naive = run_naive(naive_handle, planned, patches, args.timeout)
    finally:
        for handle in (ours_handle, naive_handle):
            if handle is not None:
                handle.stop()
    return ours, naive


def report_notes(ours: dict, naive: dict) -> None:
    if ours["target"] != naive["target"]:
        differ = sum(1 for k in ours["target"] if ours["target"][k] != naive["target"].get(k))
        print(f"note: {differ} listing(s) end at different quantities in the two runs")
    for name, result in (("ours", ours), ("naive", naive)):
        if result["shown_s"] is None:
            print(f"note: the sandbox never showed every quantity in the {name} run")


def handed_times(ours: dict, naive: dict) -> tuple[float, float]:
    return ours["handed_s"] or float("nan"), naive["handed_s"] or float("nan")


def report_figures(events: list[tuple[str, int]], ours: dict, naive: dict) -> None:
    oc, nc = ours["counters"], naive["counters"]
    line(
        "SP-API calls (every request, 429s included)",
        f"{oc['calls']}", "naive", f"{nc['calls']}", ratio_of(oc["calls"], nc["calls"]),
    )  # fmt: skip
    line(
        "SP-API calls per change (ledger event)",
        f"{oc['calls'] / len(events):.3f}", "naive", f"{nc['calls'] / len(events):.3f}",
        ratio_of(oc["calls"], nc["calls"]),
    )  # fmt: skip
    ours_shown, naive_shown = ours["shown_s"] or float("nan"), naive["shown_s"] or float("nan")
    line(
        "time to converge: written → Amazon shows every quantity",
        f"{ours_shown:.1f} s", "naive", f"{naive_shown:.1f} s", ratio_of(ours_shown, naive_shown),
    )  # fmt: skip
    line(
        "time until known applied (ours: read back; naive: shown)",
        f"{ours['confirmed_s']:.1f} s", "naive", f"{naive_shown:.1f} s",
        ratio_of(ours["confirmed_s"], naive_shown),
    )  # fmt: skip
    ours_handed, naive_handed = handed_times(ours, naive)
    line(
        "time to hand every change to Amazon (last write answered)",
        f"{ours_handed:.1f} s", "naive", f"{naive_handed:.1f} s",
        ratio_of(ours_handed, naive_handed),
    )  # fmt: skip
    line(
        "429 answers (QuotaExceeded)",
        f"{oc['throttled']}", "naive", f"{nc['throttled']}",
        ratio_of(oc["throttled"], nc["throttled"]),
    )  # fmt: skip


def report_by_operation(ours: dict, naive: dict) -> None:
    oc, nc = ours["counters"], naive["counters"]
    print("SP-API calls by operation:")
    operations = sorted(set(oc["by_operation"]) | set(nc["by_operation"]))
    for operation in operations:
        mine, theirs = oc["by_operation"].get(operation, 0), nc["by_operation"].get(operation, 0)
        line(f"  {operation}", f"{mine}", "naive", f"{theirs}", ratio_of(mine, theirs))


def report_details(args, events: list[tuple[str, int]], ours: dict, naive: dict) -> None:
    print(
        f"  (ours: {ours['feeds']} feed(s), {ours['attempts']} push attempt(s) over "
        f"{ours['rounds']} pipeline round(s), {ours['changed']} of {args.skus} listings "
        f"changed quantity; the attempts' own call count says "
        f"{ours['attempt_calls']}; writing the {len(events)} ledger events took "
        f"{ours['write_s']:.1f} s before the clock started; naive sent its last patch at "
        f"{naive['sent_s']:.1f} s, {naive['refused']} refused)"
    )
    feed_s = args.feed_queue_seconds + args.feed_processing_seconds
    ours_handed, naive_handed = handed_times(ours, naive)
    if ours["feeds"]:
        print(
            f"  (Amazon's processing is the sandbox's here: a feed {feed_s:g} s, a patch "
            f"{args.patch_apply_delay:g} s. Ours converges at about {ours_handed:.1f} s + Amazon's "
            f"feed time, naive at {naive_handed:.1f} s + a patch's apply time: with these "
            f"{len(events)} changes naive shows every quantity first once a feed takes longer "
            f"than about {naive_handed - ours_handed + args.patch_apply_delay:.0f} s to process.)"
        )


def main() -> int:
    logging.getLogger("kombu").setLevel(logging.ERROR)  # "no hostname" for memory://
    args = parse_args()
    codes, stock, events = changes_for(args)
    print(
        f"{args.skus} SKUs × {args.events_per_sku} event(s) = {len(events)} changes; "
        f"SP-API rate scale {args.rate_scale:g} (1 = Amazon's usage plans); sandbox on the real "
        f"clock: patch applies {args.patch_apply_delay:g} s after ACCEPTED, feed "
        f"{args.feed_queue_seconds:g} s queued + {args.feed_processing_seconds:g} s processing",
        flush=True,
    )
    print("setting up a fresh database and the sandbox seller …", flush=True)
    databases.fresh_database(DB_NAME)
    import django

    django.setup()
    ours, naive = run_both(args, codes, stock, events)

    report_notes(ours, naive)
    print()
    report_figures(events, ours, naive)
    report_by_operation(ours, naive)
    report_details(args, events, ours, naive)
    return 0


if __name__ == "__main__":
    sys.exit(main())
