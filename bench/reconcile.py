"""Reconciliation benchmark: every listing of five channels read back on the sandboxes with their
real rate limits, against injected drift of every cause.

    make bench            (or: python bench/reconcile.py --skus 10000 --drift-percent 1)

Needs PostgreSQL on its usual local port (scripts/services.sh); Redis and RabbitMQ are not
used (the rate-limit buckets are process-local, Celery wake-ups go to an in-memory broker that
nothing reads: resolutions make listings due and open halts, nothing is pushed). It creates
its own database (inventory_sync_bench_recon) and starts the sandboxes in their own processes,
so that this process's CPU time is ours alone: three Shopify shops (cost bucket 2000 points,
100 a second) and one Amazon sandbox on the real clock with Amazon's usage plans (scale 1),
whose one seller sells in two marketplaces (US, CA).

  world   --skus SKUs with a listing on each of the five channels (two Shopify shops, two
          Amazon marketplaces, one more shop), seeded on the sandboxes in bulk; our listings
          say we last pushed exactly what each shows (pushed = desired = the level, version 1).
  drift   --drift-percent of the listings, picked at random (--seed), the causes dealt out in
          turn: a manual edit on the channel (Shopify admin_edit, Amazon Seller Central), a
          lost write (a push we hold as acknowledged that the channel did not keep), an unseen
          order (a sale on the channel whose order never reaches us), refund semantics (an
          order refunded before shipping whose unit we put back and the channel did not), and
          unknown (a listing the channel no longer has).
  run     reconciliation.services.reconcile() over every channel, with the grace window set to
          0 (RECONCILE_GRACE_SECONDS=0: nothing sells during the bench, so the confirm phase
          follows the read at once instead of 90 s later).

Printed: the run's wall time beside the floor the channels' rate limits alone impose on the
same reads (Shopify: the requested query cost of the shop's reads beyond its bucket, at its
restore rate; Amazon: the report's queue and processing time in the sandbox plus the waits the
seller's usage plans impose on the calls made; channels are read side by side, so the floor is
the slowest channel's), our CPU seconds (time.process_time() of this process around the run)
beside the CPU of only loading the run's listings, API calls, recall and precision of the
drift found (the run's Drift rows, matched by listing id) and the injected cause against the
probable cause recorded. Then PASS/FAIL against the targets.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
import pstats
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DB_NAME = "inventory_sync_bench_recon"
ENV = {
    "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
    "SECRET_KEY": "bench-only-secret",
    "DJANGO_SETTINGS_MODULE": "inventory_sync.settings",
    "CELERY_BROKER_URL": "memory://",
    "CACHE_URL": "",
    "LOG_LEVEL": "WARNING",
    # Nothing sells while the bench runs: confirm at once instead of waiting out 90 s.
    "RECONCILE_GRACE_SECONDS": "0",
}
os.environ.update(ENV)

from bench import databases  # noqa: E402
from bench import reconcile_world as rw  # noqa: E402

TARGET_CPU_SECONDS = 10.0
TARGET_WALL_RATIO = 1.5


def line(label: str, ours: str, baseline_label: str = "", baseline: str = "", ratio=None) -> None:
    text = f"{label:<44} {ours:>12}"
    if baseline_label:
        text += f"   {baseline_label}: {baseline:>10}"
    if ratio is not None:
        text += f"   ratio {ratio:5.2f}"
    print(text)


# --- the run ------------------------------------------------------------------------------------


def fresh_counters(world: rw.World) -> None:
    """Forget the setup's requests; full buckets on every shop and on the seller."""
    for url in set(world.urls.values()):
        rw.control(url, "requests", method="DELETE")
    for code, kind, _ in rw.CHANNELS:
        if kind == "shopify":
            bucket = rw.control(world.urls[code], "throttle", method="GET")["throttleStatus"]
            rw.control(
                world.urls[code], "throttle", {"currently_available": bucket["maximumAvailable"]}
            )
        else:
            rw.control(world.urls[code], "ratelimits", {"enabled": True, "scale": 1})


@dataclass
class Measured:
    run: object
    wall: float
    cpu: float
    profile: str = ""


def run_reconcile(profile: bool) -> Measured:
    from reconciliation.models import ReconciliationRun
    from reconciliation.services import reconcile

    started = time.monotonic()

    def progress(message: str) -> None:
        # One write per line: channels report from their own threads.
        sys.stdout.write(f"  [{time.monotonic() - started:6.1f} s] {message}\n")
        sys.stdout.flush()

    profiler = cProfile.Profile() if profile else None
    cpu_before, wall_before = time.process_time(), time.monotonic()
    if profiler:
        profiler.enable()
    run = reconcile(trigger=ReconciliationRun.Trigger.MANUAL, progress=progress)
    if profiler:
        profiler.disable()
    measured = Measured(
        run=run, wall=time.monotonic() - wall_before, cpu=time.process_time() - cpu_before
    )
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        measured.profile = out.getvalue()
    return measured


def loading_cpu(run) -> float:
    """The baseline for our CPU: only loading the run's listings from the database, the same
    query and columns the run reads them with."""
    from reconciliation.runs import listings_of

    before = time.process_time()
    groups = listings_of(run)
    assert sum(len(rows) for rows in groups.values()) == run.listings_total
    return time.process_time() - before


# --- the floor ------------------------------------------------------------------------------------


def shopify_floor(url: str) -> tuple[float, str]:
    """Seconds the shop's bucket alone imposes on the reads it answered: their requested cost
    beyond a full bucket, at the restore rate."""
    log = rw.control(url, "requests", method="GET")
    bucket = rw.control(url, "throttle", method="GET")["throttleStatus"]
    answered = [e for e in log["log"] if e.get("outcome") != "throttled"]
    requested = sum(e.get("requested_cost") or 0 for e in answered)
    actual = sum(e.get("actual_cost") or 0 for e in answered)
    seconds = max(0.0, requested - bucket["maximumAvailable"]) / bucket["restoreRate"]
    why = (
        f"{len(log['log'])} calls, requested cost {requested} (actual {actual}), "
        f"bucket {bucket['maximumAvailable']:.0f} + {bucket['restoreRate']:.0f}/s"
    )
    return seconds, why


def amazon_floor(url: str) -> tuple[float, str]:
    """The report's queue and processing time in the sandbox, plus the waits the seller's usage
    plans impose on the calls made (beyond each operation's burst, at its rate)."""
    from channels.sandbox.amazon import SandboxConfig

    config = SandboxConfig()  # the sandbox process runs with the defaults
    log = rw.control(url, "requests", method="GET")["log"]
    plans = {
        bucket["operation"].rsplit(".", 1)[-1]: (bucket["rate"], bucket["burst"])
        for bucket in rw.control(url, "ratelimits", method="GET")["buckets"]
        if bucket["seller_id"] == rw.SELLER
    }
    answered = Counter(
        e.get("operation_id") for e in log if e.get("operation_id") and e.get("status") != 429
    )
    waits = {
        operation: max(0, count - plans[operation][1]) / plans[operation][0]
        for operation, count in answered.items()
        if operation in plans
    }
    reports = sum(1 for e in log if e.get("operation_id") == "createReport" and e["status"] == 202)
    report_s = (config.report_queue_seconds + config.report_processing_seconds) if reports else 0
    calls = ", ".join(f"{op} {n}" for op, n in sorted(answered.items()))
    why = (
        f"{calls}; report {config.report_queue_seconds:g} s queued + "
        f"{config.report_processing_seconds:g} s processing; plan waits "
        f"{sum(waits.values()):.1f} s"
    )
    return report_s + sum(waits.values()), why


def floors(world: rw.World) -> dict[str, tuple[float, str]]:
    """Per Shopify shop, and for the Amazon seller (both marketplaces share its buckets)."""
    found = {}
    for code, kind, _ in rw.CHANNELS:
        if kind == "shopify":
            found[code] = shopify_floor(world.urls[code])
    amazon = [code for code, kind, _ in rw.CHANNELS if kind == "amazon"]
    found["+".join(amazon)] = amazon_floor(world.urls[amazon[0]])
    return found


def sandbox_calls(world: rw.World) -> int:
    return sum(
        rw.control(url, "requests", method="GET")["counters"]["calls"]
        for url in set(world.urls.values())
    )


# --- the report -----------------------------------------------------------------------------------


def drift_found(run) -> dict[int, str]:
    from reconciliation.models import Drift

    return dict(Drift.objects.filter(run=run).values_list("listing_id", "cause"))


def report_channels(run, floor: dict[str, tuple[float, str]]) -> None:
    print("per channel (read phase: listings, calls, how, seconds; drifted after confirming):")
    for code, summary in run.channels.items():
        print(
            f"  {code:<8} {summary['listings']:>6} listings  {summary['calls']:>4} calls  "
            f"{summary['method']:<32} {summary['seconds']:>7.1f} s  "
            f"{summary.get('drifted', 0):>4} drifted{'  ERROR ' + summary['error'] if summary['error'] else ''}"
        )
    print("floor per channel (what its rate limits alone require for the reads it answered):")
    for code, (seconds, why) in floor.items():
        print(f"  {code:<14} {seconds:7.1f} s   ({why})")


def report_causes(world: rw.World, found: dict[int, str]) -> None:
    """Injected cause per channel kind (rows) against the probable cause recorded (columns)."""
    injected = world.injected
    kinds = {listing_id: rw.KIND[code] for (code, _), listing_id in world.listing_ids.items()}
    recorded = sorted(set(found.values()) | set(rw.CAUSES))
    width = max(len(c) for c in recorded) + 2
    print("injected cause (rows, per channel kind) vs probable cause recorded (columns):")
    print(f"  {'':<22}" + "".join(f"{c:>{width}}" for c in recorded) + f"{'not found':>{width}}")
    for cause in rw.CAUSES:
        for kind in ("shopify", "amazon"):
            ids = [i for i, c in injected.items() if c == cause and kinds[i] == kind]
            counts = Counter(found.get(i, "-") for i in ids)
            cells = "".join(f"{counts.get(c, 0):>{width}}" for c in recorded)
            print(f"  {cause + ' @' + kind:<22}{cells}{counts.get('-', 0):>{width}}")
    extra = Counter(c for i, c in found.items() if i not in injected)
    cells = "".join(f"{extra.get(c, 0):>{width}}" for c in recorded)
    print(f"  {'not injected':<22}{cells}")
    agree = sum(1 for i, c in injected.items() if found.get(i) == c)
    print(f"  probable cause = injected cause: {agree} of {len(injected)}")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(world: rw.World, measured: Measured, floor, load_cpu: float, calls: int) -> bool:
    run = measured.run
    found = drift_found(run)
    injected = world.injected
    hits = len(set(found) & set(injected))
    recall = hits / len(injected) if injected else 1.0
    precision = hits / len(found) if found else (1.0 if not injected else 0.0)
    slowest = max(floor, key=lambda code: floor[code][0])
    floor_s = floor[slowest][0]
    ratio = measured.wall / floor_s if floor_s else float("inf")
    print()
    report_channels(run, floor)
    print()
    line("run duration (reconcile(), wall)", f"{measured.wall:.1f} s",
         f"floor, {slowest}", f"{floor_s:.1f} s", ratio)  # fmt: skip
    line("our CPU (time.process_time(), this process)", f"{measured.cpu:.2f} s",
         "loading the listings alone", f"{load_cpu:.2f} s", measured.cpu / max(load_cpu, 1e-9))  # fmt: skip
    line("API calls (the run's own count)", f"{run.api_calls}",
         "the sandboxes answered", f"{calls}")  # fmt: skip
    print(f"  (throttled answers {run.throttled}; the run counts Amazon's document downloads, "
          "the sandboxes' logs do not)")  # fmt: skip
    print(f"listings checked {run.listings_checked} of {run.listings_total}; drifted "
          f"{run.drifted}, resynced {run.resynced}, halted {run.halted}")  # fmt: skip
    print(f"drift recall    {hits}/{len(injected)} injected listings found = {recall:.1%}")
    print(f"drift precision {hits}/{len(found)} listings found were injected = {precision:.1%}")
    report_causes(world, found)
    if measured.profile:
        print("\ncProfile of the run's main thread (wall time, by own time):\n" + measured.profile)
    checks = [
        (f"recall 100 %  ({recall:.1%})", recall == 1.0),
        (f"precision 100 %  ({precision:.1%})", precision == 1.0),
        (f"our CPU <= {TARGET_CPU_SECONDS:g} s  ({measured.cpu:.2f} s)",
         measured.cpu <= TARGET_CPU_SECONDS),
        (f"wall / floor <= {TARGET_WALL_RATIO:g}  ({ratio:.2f})", ratio <= TARGET_WALL_RATIO),
    ]  # fmt: skip
    print()
    for label, ok in checks:
        print(f"{verdict(ok)}  {label}")
    return all(ok for _, ok in checks)


# --- main ---------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--skus", type=int, default=10_000, help="SKUs (5 listings each)")
    parser.add_argument("--drift-percent", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=7, help="which listings drift, and how")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile the run's main thread (the reads run in worker threads)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when a target is not met (for CI)"
    )
    return parser.parse_args()


def setup(args: argparse.Namespace, procs: rw.Processes) -> rw.World:
    started = time.monotonic()
    print("setting up a fresh database and the sandboxes (own processes) …", flush=True)
    databases.fresh_database(DB_NAME)
    urls = rw.start_sandboxes(procs)
    import django

    django.setup()
    from django.conf import settings

    world = rw.build(urls, args.skus, args.drift_percent, args.seed)
    by_cause = Counter(world.injected.values())
    print(
        f"{args.skus} SKUs x {len(rw.CHANNELS)} listings = {len(world.listing_ids)} listings on "
        f"{', '.join(code for code, _, _ in rw.CHANNELS)}; set up in "
        f"{time.monotonic() - started:.1f} s"
    )
    print(
        f"drift injected: {len(world.injected)} listings ({args.drift_percent:g} %, seed "
        f"{args.seed}): " + ", ".join(f"{c} {by_cause[c]}" for c in rw.CAUSES)
    )
    print(
        f"grace window: RECONCILE_GRACE_SECONDS={settings.RECONCILE_GRACE_SECONDS} for the bench "
        "(nothing sells during it; production waits 90 s before confirming)"
    )
    return world


def main() -> int:
    logging.getLogger("kombu").setLevel(logging.ERROR)  # "no hostname" for memory://
    args = parse_args()
    procs = rw.Processes()
    try:
        world = setup(args, procs)
        fresh_counters(world)
        print("reconcile(): read every channel side by side, then confirm the suspects …")
        measured = run_reconcile(args.profile)
        floor = floors(world)
        calls = sandbox_calls(world)
        load_cpu = loading_cpu(measured.run)
        passed = report(world, measured, floor, load_cpu, calls)
    finally:
        procs.stop_all()
    return 0 if passed or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
