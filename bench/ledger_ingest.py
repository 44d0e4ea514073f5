"""Ledger ingest benchmark: record_event against hand-written SQL doing the same work.

Run against a migrated PostgreSQL database:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/inventory_sync python bench/ledger_ingest.py

Three scenarios, each measured for our code and for a raw psycopg baseline in the same run:
  spread  single-line sale events spread over many SKUs, writer processes x threads
  hot     single-line sale events on one hot SKU, 32 concurrent writers
  batch   the replay path (record_events) against hand-written SQL in one transaction per
          chunk: one INSERT per event (its id comes back), executemany for entries and balances
The raw baseline does the same statements (mark the SKU dirty under its row lock, insert the
event with its idempotency key, insert the entry, upsert the balance) without Django. Each line
of the summary gives ours, the baseline and ours / baseline. `--only batch` (repeatable) runs
some scenarios only.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inventory_sync.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.db.utils import OperationalError  # noqa: E402

from ledger import selectors, services  # noqa: E402
from ledger.models import Location, Sku  # noqa: E402
from ledger.rules import EventLine, EventRequest  # noqa: E402

RAW_EVENT_SQL = (
    "INSERT INTO ledger_inventoryevent (kind, source, idempotency_key, fingerprint, occurred_at, "
    "recorded_at, actor, reason, reference, payload) VALUES "
    "(%s, 'bench', %s, %s, now(), now(), '', '', '', %s) "
    "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
)
RAW_ENTRY_SQL = (
    "INSERT INTO ledger_ledgerentry (event_id, sku_id, location_id, bucket, delta) "
    "VALUES (%s, %s, %s, 'committed', %s)"
)
RAW_BALANCE_SQL = (
    "INSERT INTO ledger_balance (sku_id, location_id, bucket, quantity, version, updated_at) "
    "VALUES (%s, %s, 'committed', %s, 1, now()) ON CONFLICT (sku_id, location_id, bucket) "
    "DO UPDATE SET quantity = ledger_balance.quantity + excluded.quantity, "
    "version = ledger_balance.version + 1, updated_at = excluded.updated_at"
)
RAW_LOCK_SQL = (
    "UPDATE ledger_sku SET allocation_dirty_since = COALESCE(allocation_dirty_since, now()) "
    "WHERE code = %s RETURNING id"
)


def conninfo() -> str:
    db = settings.DATABASES["default"]
    parts = {
        "dbname": db["NAME"],
        "user": db.get("USER") or "",
        "password": db.get("PASSWORD") or "",
        "host": db.get("HOST") or "",
        "port": str(db.get("PORT") or ""),
    }
    return " ".join(f"{key}={value}" for key, value in parts.items() if value)


def raw_sale(cursor, key: str, sku_code: str, location_id: int) -> None:
    cursor.execute(RAW_LOCK_SQL, [sku_code])
    sku_id = cursor.fetchone()[0]
    cursor.execute("SELECT id FROM ledger_location WHERE id = %s", [location_id])
    cursor.execute(
        RAW_EVENT_SQL,
        ["sale", key, "0" * 64, psycopg.types.json.Jsonb({"lines": [{"sku": sku_code}]})],
    )
    event_id = cursor.fetchone()[0]
    cursor.execute(RAW_ENTRY_SQL, [event_id, sku_id, location_id, 1])
    cursor.execute(RAW_BALANCE_SQL, [sku_id, location_id, 1])


def ours_sale(key: str, sku_code: str, location_code: str) -> None:
    services.record_event(
        kind="sale",
        lines=[EventLine(sku=sku_code, location=location_code, quantity=1)],
        idempotency_key=key,
        source="bench",
    )


# --- live scenarios: writer processes x threads, each event its own transaction ------------


def _writer_process(args: tuple) -> tuple[int, float, int, list[str]]:
    """One process running `threads` writers; returns (events, seconds, deadlocks, errors)."""
    mode, run, scenario, codes, location_code, location_id, per_thread, threads, process = args
    connections.close_all()  # never reuse a connection inherited across fork
    barrier = threading.Barrier(threads)
    deadlocks = 0
    errors: list[str] = []
    timings: list[float] = [0.0] * threads

    def writer(thread: int) -> None:
        nonlocal deadlocks
        rng = random.Random(process * 1000 + thread)
        picks = [rng.choice(codes) for _ in range(per_thread)]
        prefix = f"bench:{run}:{scenario}:{mode}:{process}:{thread}"
        try:
            if mode == "ours":
                barrier.wait()
                started = time.perf_counter()
                for n, code in enumerate(picks):
                    ours_sale(f"{prefix}:{n}", code, location_code)
            else:
                with psycopg.connect(conninfo()) as conn:
                    barrier.wait()
                    started = time.perf_counter()
                    for n, code in enumerate(picks):
                        with conn.transaction(), conn.cursor() as cursor:
                            raw_sale(cursor, f"{prefix}:{n}", code, location_id)
            timings[thread] = time.perf_counter() - started
        except (OperationalError, psycopg.errors.DeadlockDetected) as error:
            deadlocks += "deadlock" in str(error).lower()
            errors.append(repr(error))
        except Exception as error:  # noqa: BLE001 - reported by the parent
            errors.append(repr(error))
        finally:
            connections.close_all()

    pool = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return per_thread * threads, max(timings), deadlocks, errors


def live(mode, run, scenario, codes, location, events, processes, threads) -> tuple[float, int]:
    """events/s over all writers (slowest writer's own time, so pool start-up is excluded)."""
    connections.close_all()
    per_thread = max(1, events // (processes * threads))
    jobs = [
        (mode, run, scenario, codes, location.code, location.pk, per_thread, threads, p)
        for p in range(processes)
    ]
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        results = pool.map(_writer_process, jobs)
    errors = [error for *_, errs in results for error in errs]
    if errors:
        print(f"  {scenario}/{mode}: {len(errors)} writer(s) failed, first: {errors[0]}")
    done = sum(count for count, *_ in results)
    return done / max(seconds for _, seconds, *_ in results), sum(d for _, _, d, _ in results)


# --- batch: the replay path ---------------------------------------------------------------


def batch(mode, run, codes, location, events, chunk) -> float:
    rng = random.Random(3)
    picks = [rng.choice(codes) for _ in range(events)]
    if mode == "ours":
        requests = [
            EventRequest(
                kind="receipt",
                lines=(EventLine(sku=code, location=location.code, quantity=1),),
                idempotency_key=f"bench:{run}:batch:ours:{n}",
                source="bench",
            )
            for n, code in enumerate(picks)
        ]
        started = time.perf_counter()
        outcome = services.record_events(requests, chunk_size=chunk)
        elapsed = time.perf_counter() - started
        assert outcome.recorded == events, outcome
        return events / elapsed
    ids = dict(Sku.objects.filter(code__in=set(picks)).values_list("code", "id"))
    with psycopg.connect(conninfo()) as conn:
        started = time.perf_counter()
        for start in range(0, events, chunk):
            part = picks[start : start + chunk]
            with conn.transaction(), conn.cursor() as cursor:
                chunk_ids = sorted({ids[code] for code in part})
                cursor.execute(
                    "SELECT id FROM ledger_sku WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE",
                    [chunk_ids],
                )
                cursor.execute(
                    "UPDATE ledger_sku SET allocation_dirty_since = now() WHERE id = ANY(%s)",
                    [chunk_ids],
                )
                event_ids = []
                for n, _ in enumerate(part):
                    cursor.execute(
                        RAW_EVENT_SQL.replace("'bench'", "'bench-raw'"),
                        ["receipt", f"bench:{run}:batch:raw:{start + n}", "0" * 64, "{}"],
                    )
                    event_ids.append(cursor.fetchone()[0])
                cursor.executemany(
                    RAW_ENTRY_SQL.replace("'committed'", "'on_hand'"),
                    [
                        (eid, ids[code], location.pk, 1)
                        for eid, code in zip(event_ids, part, strict=True)
                    ],
                )
                cursor.executemany(
                    RAW_BALANCE_SQL.replace("'committed'", "'on_hand'"),
                    [(ids[code], location.pk, 1) for code in part],
                )
        elapsed = time.perf_counter() - started
    return events / elapsed


SCENARIOS = ("spread", "hot", "batch")


def spread(args, run, codes, location) -> tuple[str, float, float, str]:
    measured = {
        mode: live(
            mode,
            run,
            "spread",
            codes,
            location,
            args.spread_events,
            args.spread_processes,
            args.spread_threads,
        )[0]
        for mode in ("raw", "ours")
    }
    writers = args.spread_processes * args.spread_threads
    note = f"{writers} writers ({args.spread_processes} processes), {args.skus} SKUs"
    return "spread", measured["ours"], measured["raw"], note


def hot(args, run, location) -> tuple[str, float, float, str]:
    processes = max(1, min(args.hot_writers, args.hot_processes))
    threads = args.hot_writers // processes
    measured, deadlocks = {}, {}
    for mode in ("raw", "ours"):
        sku = Sku.objects.create(code=f"HOT-{run}-{mode}")
        measured[mode], deadlocks[mode] = live(
            mode, run, "hot", [sku.code], location, args.hot_events, processes, threads
        )
    note = (
        f"{processes * threads} writers on 1 SKU, "
        f"deadlocks ours={deadlocks['ours']} raw={deadlocks['raw']}"
    )
    return "hot", measured["ours"], measured["raw"], note


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument("--spread-events", type=int, default=8_000)
    parser.add_argument("--spread-processes", type=int, default=4)
    parser.add_argument("--spread-threads", type=int, default=2)
    parser.add_argument("--hot-events", type=int, default=6_400)
    parser.add_argument("--hot-writers", type=int, default=32)
    parser.add_argument("--hot-processes", type=int, default=4)
    parser.add_argument("--batch-events", type=int, default=50_000)
    parser.add_argument("--chunk", type=int, default=2_000)
    parser.add_argument(
        "--only", choices=SCENARIOS, action="append", help="run this scenario (repeatable)"
    )
    args = parser.parse_args()

    if connection.vendor != "postgresql":
        print("bench/ledger_ingest.py measures PostgreSQL: set DATABASE_URL=postgres://...")
        return 2
    run = uuid.uuid4().hex[:8]
    location = Location.objects.create(code=f"BENCH-{run}", name="bench")
    codes = [f"BENCH-{run}-{n:05d}" for n in range(args.skus)]
    Sku.objects.bulk_create([Sku(code=code) for code in codes], batch_size=5000)
    print(
        f"run {run}: {args.skus} SKUs, PostgreSQL {connection.pg_version}, {os.cpu_count()} cores"
    )

    chosen = args.only or SCENARIOS
    results = []
    if "spread" in chosen:
        results.append(spread(args, run, codes, location))
    if "hot" in chosen:
        results.append(hot(args, run, location))
    if "batch" in chosen:
        raw = batch("raw", run, codes, location, args.batch_events, args.chunk)
        ours = batch("ours", run, codes, location, args.batch_events, args.chunk)
        results.append(("batch", ours, raw, f"{args.chunk} events per transaction"))

    print()
    for name, ours, raw, note in results:
        print(
            f"{name:<7} ours {ours:>9,.0f} events/s   raw SQL {raw:>9,.0f} events/s   "
            f"ratio {ours / raw:.2f}   ({note})"
        )
    mismatches = selectors.ledger_mismatches()
    print(f"verify_ledger after the run: {len(mismatches)} mismatch(es)")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
