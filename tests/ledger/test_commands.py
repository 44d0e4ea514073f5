import io
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from allocation.models import RoutingRule
from channels.models import Listing
from ledger import selectors, services
from ledger.demo_catalog import DEMO_RATES, HISTORY_DAYS, LOCATIONS, PRODUCTS
from ledger.models import Balance, InventoryEvent, LedgerEntry, Location, Sku
from ledger.rules import EventLine

pytestmark = pytest.mark.django_db


def run(name, *args, **options):
    """call_command with captured output: (stdout, stderr)."""
    out, err = StringIO(), StringIO()
    call_command(name, *args, stdout=out, stderr=err, no_color=True, **options)
    return out.getvalue(), err.getvalue()


def run_failing(name, *args, **options):
    """call_command that must raise CommandError: (error, stdout, stderr)."""
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as caught:
        call_command(name, *args, stdout=out, stderr=err, no_color=True, **options)
    return caught.value, out.getvalue(), err.getvalue()


def all_balances():
    return {
        (b.sku.code, b.location.code, b.bucket): b.quantity
        for b in Balance.objects.select_related("sku", "location")
    }


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# --- verify_ledger --------------------------------------------------------------------------


def test_verify_ledger_passes_on_a_consistent_ledger(sku, warehouse, receive):
    receive(sku, warehouse, 5)

    out, err = run("verify_ledger")

    assert out == (
        "OK: every balance equals the sum of its entries.\n"
        # the check allocation registers (tests/allocation/test_reservation_checks.py)
        "OK: every reserved bucket equals the sum of its active reservations.\n"
    )
    assert err == ""


def test_verify_ledger_fails_and_lists_a_corrupted_balance(sku, warehouse, store, receive):
    # given a balance changed behind the ledger's back (balances are a cache, entries are not)
    receive(sku, warehouse, 5)
    receive(sku, store, 2)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ledger_balance SET quantity = 7 WHERE sku_id = %s AND location_id = %s",
            [sku.pk, warehouse.pk],
        )
    # when
    error, out, _ = run_failing("verify_ledger")
    # then
    assert error.returncode == 1
    assert str(error) == "1 balance(s) differ from the sum of their entries."
    rows = [line.split() for line in out.splitlines()]
    assert rows[:2] == [
        ["SKU", "LOCATION", "BUCKET", "STORED", "ENTRIES"],
        ["TEE-M", "WH-EAST", "on_hand", "7", "5"],
    ]
    assert out.splitlines()[2:] == [
        "OK: every reserved bucket equals the sum of its active reservations."
    ]


def test_verify_ledger_reports_a_missing_balance_row(sku, warehouse, receive):
    receive(sku, warehouse, 5)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM ledger_balance")

    error, out, _ = run_failing("verify_ledger")

    assert error.returncode == 1
    assert out.splitlines()[1].split() == ["TEE-M", "WH-EAST", "on_hand", "missing", "5"]


# --- import_catalog -------------------------------------------------------------------------

GOOD_CSV = """\
sku,title,barcode,weight_grams,tags,location,location_name,location_kind,on_hand
TEE-M,Organic tee (M),0123456789012,180,apparel;tops,WH-EAST,East warehouse,warehouse,40
TEE-M,,,,,STORE-SOHO,SoHo store,store,6
MUG-WHT,Stoneware mug,,420,home,WH-EAST,,,12
CAP-OS,Canvas cap,,,,,,,
"""


def test_import_catalog_creates_skus_locations_and_opening_balances(tmp_path):
    path = write(tmp_path, "catalog.csv", GOOD_CSV)

    out, err = run("import_catalog", path)

    assert out == (
        "Imported: 3 SKU(s) created, 0 updated, 2 location(s) created, 3 opening balance(s) "
        "recorded, 0 already imported.\n"
    )
    assert err == ""
    tee = Sku.objects.get(code="TEE-M")
    assert (tee.title, tee.barcode, tee.weight_grams, tee.tags) == (
        "Organic tee (M)",
        "0123456789012",
        180,
        ["apparel", "tops"],
    )
    assert list(Sku.objects.values_list("code", flat=True)) == ["CAP-OS", "MUG-WHT", "TEE-M"]
    assert list(Location.objects.values_list("code", "name", "kind")) == [
        ("STORE-SOHO", "SoHo store", "store"),
        ("WH-EAST", "East warehouse", "warehouse"),
    ]
    assert all_balances() == {
        ("TEE-M", "WH-EAST", "on_hand"): 40,
        ("TEE-M", "STORE-SOHO", "on_hand"): 6,
        ("MUG-WHT", "WH-EAST", "on_hand"): 12,
    }
    assert set(InventoryEvent.objects.values_list("kind", "source", "idempotency_key")) == {
        ("receipt", "import", "import:opening:TEE-M:WH-EAST"),
        ("receipt", "import", "import:opening:TEE-M:STORE-SOHO"),
        ("receipt", "import", "import:opening:MUG-WHT:WH-EAST"),
    }
    assert selectors.ledger_mismatches() == []


def test_import_catalog_twice_records_nothing_new(tmp_path):
    path = write(tmp_path, "catalog.csv", GOOD_CSV)
    run("import_catalog", path)
    events, balances = InventoryEvent.objects.count(), all_balances()

    out, _ = run("import_catalog", path)

    assert out == (
        "Imported: 0 SKU(s) created, 0 updated, 0 location(s) created, 0 opening balance(s) "
        "recorded, 3 already imported.\n"
    )
    assert InventoryEvent.objects.count() == events
    assert all_balances() == balances


def test_import_catalog_recognises_the_same_openings_in_a_file_of_another_name(tmp_path):
    # given last month's file, imported
    run("import_catalog", write(tmp_path, "catalog-2026-01.csv", GOOD_CSV))
    events, balances = InventoryEvent.objects.count(), all_balances()
    # when this month's file repeats the openings and adds one SKU
    grown = GOOD_CSV + "SOCK-M,Merino socks,,,,WH-EAST,,,9\n"
    out, _ = run("import_catalog", write(tmp_path, "catalog-2026-02.csv", grown))
    # then only the new opening is recorded
    assert out == (
        "Imported: 1 SKU(s) created, 0 updated, 0 location(s) created, 1 opening balance(s) "
        "recorded, 3 already imported.\n"
    )
    assert InventoryEvent.objects.count() == events + 1
    assert all_balances() == balances | {("SOCK-M", "WH-EAST", "on_hand"): 9}


def test_import_catalog_updates_changed_sku_attributes(tmp_path):
    run("import_catalog", write(tmp_path, "a.csv", GOOD_CSV))

    out, _ = run(
        "import_catalog", write(tmp_path, "b.csv", "sku,title\nCAP-OS,Canvas cap (washed)\n")
    )

    assert out.startswith("Imported: 0 SKU(s) created, 1 updated,")
    assert Sku.objects.get(code="CAP-OS").title == "Canvas cap (washed)"


def test_import_catalog_reports_every_bad_row_and_imports_nothing(tmp_path):
    path = write(
        tmp_path,
        "bad.csv",
        "sku,title,location,location_kind,on_hand\n"
        "GOOD-1,Fine,WH-EAST,warehouse,5\n"
        "TEE-M,Tee,WH-EAST,warehouse,-3\n"
        "TEE-L,Tee,WH-EAST,warehouse,abc\n"
        ",No code,WH-EAST,warehouse,1\n"
        "TEE-S,Tee,MOON,spaceport,1\n"
        "TEE/XL,Tee,,,\n",
    )

    error, out, err = run_failing("import_catalog", path)

    assert str(error) == f"{path}: 5 problem(s); nothing was imported."
    assert error.returncode == 1
    assert err.splitlines() == [
        "line 3: on_hand '-3' is not a whole number 0-1000000000",
        "line 4: on_hand 'abc' is not a whole number 0-1000000000",
        "line 5: sku '' is not a valid code (1-64 characters, no slash)",
        "line 6: location_kind 'spaceport' is not one of 3pl, fba, store, warehouse",
        "line 7: sku 'TEE/XL' is not a valid code (1-64 characters, no slash)",
    ]
    assert out == ""
    assert not Sku.objects.exists()
    assert not Location.objects.exists()
    assert not InventoryEvent.objects.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("title\nTee\n", "line 1: missing column(s) sku"),
        ("sku,colour\nTEE-M,red\n", "line 1: unknown column(s) colour;"),
        ("sku,title\nTEE-M,Tee,extra\n", "line 2: more values than columns"),
        ("sku,title\nTEE-M,Tee\x00\n", "line 2: title contains a NUL character"),
        (
            "sku,location,location_name,on_hand\nTEE-M,WH,x" + "y" * 300 + ",1\n",
            "line 2: location_name longer than 255 characters",
        ),
        ('sku,title\nTEE-M,"' + "x" * 200_000 + '"\n', "line 2: field larger than field limit"),
        ("sku,location,on_hand\nTEE-M,WH-EAST,\n", "line 2: on_hand '' is not a whole number"),
        (
            "sku,location,on_hand\nTEE-M,WH-EAST,--3\n",
            "line 2: on_hand '--3' is not a whole number",
        ),
        ("sku,location,on_hand\nTEE-M,WH-EAST,\u00b2\n", "line 2: on_hand '\u00b2' is not a whole"),
        (
            "sku,location,on_hand\nTEE-M,WH-EAST,4.0\n",
            "line 2: on_hand '4.0' is not a whole number",
        ),
        ("sku,location,on_hand\nTEE-M,WH-EAST," + "9" * 5000 + "\n", "line 2: on_hand '999"),
        ("sku,weight_grams\nTEE-M,\u0663\n", "line 2: weight_grams '\u0663' is not a whole"),
        ("sku,on_hand\nTEE-M,4\n", "line 2: on_hand given without a location"),
        (
            "sku,location,on_hand\nTEE-M,WH-EAST,4\nTEE-M,WH-EAST,4\n",
            "line 3: opening balance for TEE-M at WH-EAST repeats line 2",
        ),
        (
            "sku,title\nTEE-M,Tee\nTEE-M,Shirt\n",
            "line 3: title differs from an earlier row for TEE-M",
        ),
        (
            "sku,location,location_kind,on_hand\nTEE-M,WH-EAST,warehouse,4\nTEE-L,WH-EAST,store,4\n",
            "line 3: location_kind differs from an earlier row for WH-EAST",
        ),
    ],
)
def test_import_catalog_refuses_a_malformed_file(tmp_path, text, message):
    error, _, err = run_failing("import_catalog", write(tmp_path, "bad.csv", text))

    assert "nothing was imported" in str(error)
    assert message in err
    assert not Sku.objects.exists()
    assert not Location.objects.exists()
    assert not InventoryEvent.objects.exists()


def test_import_catalog_refuses_a_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("sku,title\nTEE-M,Tee \xe9t\xe9\n".encode("latin-1"))

    error, _, _ = run_failing("import_catalog", str(path))

    assert "is not UTF-8 text; nothing was imported" in str(error)
    assert not Sku.objects.exists()


def test_import_catalog_refuses_a_missing_file(tmp_path):
    error, _, _ = run_failing("import_catalog", str(tmp_path / "nope.csv"))
    assert str(error).startswith(f"Cannot read {tmp_path / 'nope.csv'}")


def test_import_catalog_refuses_a_changed_opening_and_applies_nothing_else(tmp_path):
    # given an imported catalog
    run("import_catalog", write(tmp_path, "catalog.csv", GOOD_CSV))
    events, balances = InventoryEvent.objects.count(), all_balances()
    # when a file changes one opening quantity, renames a SKU and adds a SKU and a location
    changed = (
        "sku,title,location,on_hand\n"
        "NEW-1,New thing,WH-WEST,3\n"
        "TEE-M,Renamed tee,WH-EAST,45\n"
        "MUG-WHT,,WH-EAST,12\n"
    )
    path = write(tmp_path, "changed.csv", changed)
    error, out, err = run_failing("import_catalog", path)
    # then the changed opening is reported by its line and nothing else lands
    assert str(error) == f"{path}: 1 problem(s); nothing was imported."
    assert err.splitlines() == [
        "line 3: a different opening balance was imported before; record a cycle count instead"
    ]
    assert out == ""
    assert not Sku.objects.filter(code="NEW-1").exists()
    assert not Location.objects.filter(code="WH-WEST").exists()
    assert Sku.objects.get(code="TEE-M").title == "Organic tee (M)"
    assert InventoryEvent.objects.count() == events
    assert all_balances() == balances


def test_import_catalog_refuses_a_zero_opening_for_an_imported_pair(tmp_path):
    run("import_catalog", write(tmp_path, "catalog.csv", GOOD_CSV))
    events, balances = InventoryEvent.objects.count(), all_balances()

    path = write(tmp_path, "zero.csv", "sku,title,location,on_hand\nTEE-M,Tee,WH-EAST,0\n")
    error, _, err = run_failing("import_catalog", path)

    assert err.splitlines() == [
        "line 2: a different opening balance was imported before; record a cycle count instead"
    ]
    assert str(error) == f"{path}: 1 problem(s); nothing was imported."
    assert Sku.objects.get(code="TEE-M").title == "Organic tee (M)"
    assert InventoryEvent.objects.count() == events
    assert all_balances() == balances


def test_import_catalog_zero_opening_for_a_new_pair_records_nothing(tmp_path):
    out, _ = run(
        "import_catalog", write(tmp_path, "zero.csv", "sku,location,on_hand\nTEE-M,WH-EAST,0\n")
    )
    assert "0 opening balance(s) recorded" in out
    assert Location.objects.filter(code="WH-EAST").exists()
    assert not InventoryEvent.objects.exists()


# --- replay_events --------------------------------------------------------------------------


def event(key, kind, quantity, *, sku="TEE-M", location="WH-EAST", **extra):
    return json.dumps(
        {
            "kind": kind,
            "idempotency_key": key,
            "lines": [{"sku": sku, "location": location, "quantity": quantity}],
            **extra,
        }
    )


def jsonl(*lines):
    return "\n".join(lines) + "\n"


REPLAY = jsonl(
    event("r-1", "receipt", 10, reference="PO-1"),
    event("r-2", "receipt", 4, location="STORE-SOHO"),
    "",
    event("s-1", "sale", 3, occurred_at="2026-01-31T12:00:00Z", source="shopify"),
    event("s-2", "shipment", 2),
    event("c-1", "cycle_count", 7, reason="counted"),
)


def test_replay_events_records_a_file(tmp_path, sku, warehouse, store):
    path = write(tmp_path, "events.jsonl", REPLAY)

    out, err = run("replay_events", path, no_progress=True)

    assert out == "Replayed 5 event(s): 5 recorded, 0 already recorded, 0 refused.\n"
    assert err == ""
    assert all_balances() == {
        ("TEE-M", "WH-EAST", "on_hand"): 7,
        ("TEE-M", "WH-EAST", "committed"): 1,
        ("TEE-M", "STORE-SOHO", "on_hand"): 4,
    }
    sale = InventoryEvent.objects.get(idempotency_key="s-1")
    assert (sale.source, sale.occurred_at.isoformat()) == ("shopify", "2026-01-31T12:00:00+00:00")
    assert InventoryEvent.objects.get(idempotency_key="r-1").source == "replay"
    assert selectors.ledger_mismatches() == []


def test_replay_events_twice_changes_nothing(tmp_path, sku, warehouse, store):
    path = write(tmp_path, "events.jsonl", REPLAY)
    run("replay_events", path, no_progress=True)
    events, entries, balances = (
        InventoryEvent.objects.count(),
        LedgerEntry.objects.count(),
        all_balances(),
    )

    out, _ = run("replay_events", path, no_progress=True)

    assert out == "Replayed 5 event(s): 0 recorded, 5 already recorded, 0 refused.\n"
    assert InventoryEvent.objects.count() == events
    assert LedgerEntry.objects.count() == entries
    assert all_balances() == balances


def test_replay_events_in_small_chunks_gives_the_same_result(tmp_path, sku, warehouse, store):
    path = write(tmp_path, "events.jsonl", REPLAY)

    out, _ = run("replay_events", path, no_progress=True, chunk_size=2)

    assert out == "Replayed 5 event(s): 5 recorded, 0 already recorded, 0 refused.\n"
    assert all_balances()[("TEE-M", "WH-EAST", "on_hand")] == 7


def test_replay_events_shows_progress_on_stderr(tmp_path, sku, warehouse, store):
    _, err = run("replay_events", write(tmp_path, "events.jsonl", REPLAY))
    assert "5/5" in err


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ('{"kind": "receipt", ', "line 2: not JSON"),
        (
            json.dumps(
                {
                    "kind": "receipt",
                    "lines": [{"sku": "TEE-M", "location": "WH-EAST", "quantity": 1}],
                }
            ),
            "line 2: The event is not valid. idempotency_key: Required.",
        ),
        (
            event("q", "receipt", "5"),
            "line 2: The event is not valid. lines[0].quantity: A whole number is required.",
        ),
        (event("q", "receipt", 0), "line 2: The event is not valid. lines[0].quantity: Must be"),
        (event("q", "teleport", 1), "line 2: The event is not valid. kind: Unknown event kind"),
        ("[1, 2]", "line 2: Each event must be a JSON object."),
        (
            event("q", "receipt", 1, occurred_at="0001-01-01T00:00:00+14:00"),
            "line 2: The event is not valid. occurred_at: Must be between 2000-01-01",
        ),
        (
            event("q", "receipt", 1, occurred_at="9999-12-31T23:00:00-14:00"),
            "line 2: The event is not valid. occurred_at: Must be between 2000-01-01",
        ),
        ("[" * 100_000 + "]" * 100_000, "line 2: not JSON (nested too deeply)"),
        ('{"kind": ' + "[" * 900 + "]" * 900 + "}", "line 2: "),
        (
            event("q", "receipt", 1, reason="a\x00b"),
            "line 2: The event is not valid. reason: NUL characters are not allowed.",
        ),
        (
            event("q", "receipt", 1).replace('"receipt"', '"rec\\ud800"'),
            "line 2: The event is not valid. kind: Unpaired surrogate characters are not allowed.",
        ),
    ],
)
def test_replay_events_refuses_a_file_with_a_malformed_line_and_records_nothing(
    tmp_path, sku, warehouse, bad_line, message
):
    path = write(
        tmp_path,
        "events.jsonl",
        jsonl(event("r-1", "receipt", 10), bad_line, event("r-2", "receipt", 1)),
    )

    error, out, err = run_failing("replay_events", path, no_progress=True)

    assert str(error) == "1 bad line(s); nothing was recorded. Fix them and run again."
    assert err.startswith(message), err
    assert len(err.splitlines()) == 1
    assert out == ""
    assert not InventoryEvent.objects.exists()
    assert not Balance.objects.exists()


def test_replay_events_lists_every_malformed_line(tmp_path, sku, warehouse):
    path = write(
        tmp_path,
        "events.jsonl",
        jsonl(
            "not json", event("ok", "receipt", 1), '{"kind": "receipt"}', event("q", "sale", 1.5)
        ),
    )

    error, _, err = run_failing("replay_events", path, no_progress=True)

    assert str(error).startswith("3 bad line(s)")
    assert [line.split(":")[0] for line in err.splitlines()] == ["line 1", "line 3", "line 4"]
    assert not InventoryEvent.objects.exists()


def test_replay_events_refuses_a_file_that_is_not_utf8(tmp_path, sku, warehouse):
    path = tmp_path / "events.jsonl"
    path.write_bytes((event("r-1", "receipt", 1) + "\n").encode() + b'{"kind": "\xff"}\n')

    error, _, _ = run_failing("replay_events", str(path), no_progress=True)

    assert str(error) == "line 2: not UTF-8 text; nothing was recorded."
    assert not InventoryEvent.objects.exists()


def test_replay_events_accepts_a_byte_order_mark(tmp_path, sku, warehouse):
    path = tmp_path / "events.jsonl"
    path.write_bytes(("\ufeff" + event("r-1", "receipt", 1) + "\n").encode())

    out, _ = run("replay_events", str(path), no_progress=True)

    assert out == "Replayed 1 event(s): 1 recorded, 0 already recorded, 0 refused.\n"


def test_replay_events_reads_standard_input(monkeypatch, sku, warehouse):
    stdin = io.TextIOWrapper(io.BytesIO(jsonl(event("r-1", "receipt", 2)).encode()))
    monkeypatch.setattr("sys.stdin", stdin)

    out, _ = run("replay_events", "-", no_progress=True)

    assert out == "Replayed 1 event(s): 1 recorded, 0 already recorded, 0 refused.\n"
    assert not stdin.closed


def test_replay_events_refuses_a_chunk_size_below_one(tmp_path, sku, warehouse):
    path = write(tmp_path, "events.jsonl", jsonl(event("r-1", "receipt", 1)))
    with pytest.raises(CommandError, match="chunk-size"):
        call_command("replay_events", path, "--chunk-size", "0", stdout=StringIO())
    assert not InventoryEvent.objects.exists()


def test_replay_events_reports_refused_events_by_line_and_records_the_rest(
    tmp_path, sku, warehouse
):
    # given a file whose second event ships more than is on hand
    path = write(
        tmp_path,
        "events.jsonl",
        jsonl(
            event("r-1", "receipt", 5),
            event("x-1", "shipment", 50),
            event("s-1", "sale", 2),
            event("r-1", "receipt", 6),  # the key of line 1 with another body
            event("u-1", "receipt", 1, sku="NOPE"),
        ),
    )
    # when
    error, out, err = run_failing("replay_events", path, no_progress=True)
    # then
    assert error.returncode == 1
    assert str(error) == "3 event(s) refused; the others were recorded."
    assert out == "Replayed 5 event(s): 2 recorded, 0 already recorded, 3 refused.\n"
    lines = err.splitlines()
    assert [line.split(":")[0] for line in lines] == ["line 2", "line 4", "line 5"]
    assert "on_hand is 5, cannot take 50" in lines[0]
    assert "already used for a different event" in lines[1]
    assert "Unknown SKU 'NOPE'" in lines[2]
    assert set(InventoryEvent.objects.values_list("idempotency_key", flat=True)) == {"r-1", "s-1"}
    assert all_balances() == {
        ("TEE-M", "WH-EAST", "on_hand"): 5,
        ("TEE-M", "WH-EAST", "committed"): 2,
    }


def test_replay_events_refuses_new_holds_and_counts_recorded_ones_as_already_there(
    tmp_path, sku, warehouse
):
    # given a hold recorded by the reservations service (through the ledger's own reserve)
    services.record_event(
        kind="receipt", lines=[EventLine("TEE-M", "WH-EAST", 9)], idempotency_key="r-0", source="t"
    )
    services.reserve(
        sku="TEE-M", location="WH-EAST", quantity=2, idempotency_key="hold-1", source="replay"
    )
    # and a file that replays it, then brings a new hold and a new release of its own
    path = write(
        tmp_path,
        "events.jsonl",
        jsonl(
            event("hold-1", "reserve", 2),
            event("hold-2", "reserve", 3),
            event("r-1", "receipt", 1),
            event("free-1", "release", 2),
        ),
    )
    # when
    error, out, err = run_failing("replay_events", path, no_progress=True)
    # then the recorded hold is a duplicate, the new ones are refused with the door to use
    assert str(error) == "2 event(s) refused; the others were recorded."
    assert out == "Replayed 4 event(s): 1 recorded, 1 already recorded, 2 refused.\n"
    lines = err.splitlines()
    assert [line.split(":")[0] for line in lines] == ["line 2", "line 4"]
    assert all("use /api/v1/reservations/" in line for line in lines)
    assert not InventoryEvent.objects.filter(idempotency_key__in=["hold-2", "free-1"]).exists()
    assert all_balances() == {
        ("TEE-M", "WH-EAST", "on_hand"): 10,
        ("TEE-M", "WH-EAST", "reserved"): 2,
    }


# --- seed_demo ------------------------------------------------------------------------------


def test_seed_demo_creates_a_catalog_and_is_safe_to_rerun():
    skus = sum(len(variants) for _, _, variants, _ in PRODUCTS)

    out, _ = run("seed_demo")

    assert 24 <= skus <= 60
    assert Sku.objects.count() == skus
    assert sorted(Location.objects.values_list("code", flat=True)) == sorted(
        [*(code for code, *_ in LOCATIONS), "FBA-NA"]  # the demo Amazon seller's FBA pool
    )
    history = InventoryEvent.objects.filter(idempotency_key__startswith="demo:history:")
    recorded = InventoryEvent.objects.count() - history.count()
    assert recorded > skus  # most SKUs have stock in more than one location
    # a month of daily sales (each with its shipment and the receipt that replaced it)
    assert history.count() == len(DEMO_RATES) * HISTORY_DAYS * 3
    tiers = dict(Sku.objects.values_list("code", "velocity_tier"))
    assert (tiers["TEE-M"], tiers["HOOD-M"], tiers["CAP-OS"], tiers["PEN-GLD"]) == (
        "hero",
        "core",
        "tail",
        "slow",
    )
    assert out == (
        f"Demo catalog: {skus} SKUs, 3 locations; {recorded} opening balance(s) recorded, "
        "0 already there.\n"
        f"Demo sales history: {history.count()} event(s) over the last month; "
        "8 velocity tier(s) set from it.\n"
        f"Demo channels: {2 * skus} listing(s) created; {skus} SKU(s) planned.\n"
    )
    # every listing has a planned quantity, and nothing is left waiting for the planner
    assert not Listing.objects.filter(desired_quantity__isnull=True).exists()
    assert not Sku.objects.filter(allocation_dirty_since__isnull=False).exists()
    balances = all_balances()
    # every unit the history sold was shipped: nothing is left committed
    assert all(
        quantity > 0 if bucket == "on_hand" else quantity == 0
        for (_, _, bucket), quantity in balances.items()
    )
    assert selectors.ledger_mismatches() == []

    again, _ = run("seed_demo")

    assert again == (
        f"Demo catalog: {skus} SKUs, 3 locations; 0 opening balance(s) recorded, "
        f"{recorded} already there.\n"
        "Demo sales history: 0 event(s) over the last month; 0 velocity tier(s) set from it.\n"
        "Demo channels: 0 listing(s) created; 0 SKU(s) planned.\n"
    )
    assert InventoryEvent.objects.count() == recorded + history.count()
    assert Sku.objects.count() == skus
    assert all_balances() == balances
    # The demo routes heavy web orders to the 3PL and the rest to the warehouse, once.
    assert list(RoutingRule.objects.values_list("location__code", "priority")) == [
        ("3PL-WEST", 20),
        ("WH-EAST", 100),
    ]
