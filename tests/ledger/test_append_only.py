"""I1: the database refuses UPDATE and DELETE on events and entries, on both databases."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import DatabaseError, connection, transaction

from ledger.models import InventoryEvent, LedgerEntry

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def recorded(sku, warehouse, receive):
    return receive(sku, warehouse, 5)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_ledgerentry SET delta = delta + 1",
        "DELETE FROM ledger_ledgerentry",
        "UPDATE ledger_inventoryevent SET reason = 'edited'",
        "DELETE FROM ledger_inventoryevent",
    ],
)
def test_postgres_refuses_changes_to_history(recorded, statement):
    with (
        pytest.raises(DatabaseError, match="ledger is append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    assert LedgerEntry.objects.get().delta == 5
    assert InventoryEvent.objects.get().reason == ""


@pytest.mark.django_db
def test_orm_update_of_an_entry_is_refused_too(recorded):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.update(delta=0)
    assert LedgerEntry.objects.get().delta == 5


SQLITE_SCRIPT = """
import django, sqlite3
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from ledger import services
from ledger.models import Location, Sku
from ledger.rules import EventLine
Sku.objects.create(code="A")
Location.objects.create(code="WH", name="WH")
services.record_event(kind="receipt", lines=[EventLine("A", "WH", 5)], idempotency_key="k", source="t")
from django.db import connection
for statement in ("UPDATE ledger_ledgerentry SET delta = 9", "DELETE FROM ledger_ledgerentry",
                  "UPDATE ledger_inventoryevent SET reason = 'x'", "DELETE FROM ledger_inventoryevent"):
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
    except Exception as error:
        print("refused:", error)
    else:
        print("ALLOWED:", statement)
with connection.cursor() as cursor:
    cursor.execute("SELECT delta FROM ledger_ledgerentry")
    print("delta", cursor.fetchone()[0])
"""


def test_sqlite_refuses_changes_to_history(tmp_path):
    """The embedded demo database carries the same triggers (a real process on a real file)."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "INVENTORY_SYNC_VAR_DIR": str(tmp_path),
        "INVENTORY_SYNC_DEMO": "1",
        "DJANGO_SETTINGS_MODULE": "inventory_sync.settings",
        "CELERY_BROKER_URL": "memory://",
    }
    result = subprocess.run(
        [sys.executable, "-c", SQLITE_SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert sum(line.startswith("refused: ledger is append-only") for line in lines) == 4, lines
    assert not any(line.startswith("ALLOWED") for line in lines)
    assert lines[-1] == "delta 5"
