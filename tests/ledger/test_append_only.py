"""I1: the database refuses UPDATE and DELETE on events and entries, on both databases."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

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


def _truncate(statement: str) -> None:
    """Run a TRUNCATE in a savepoint. The receipt was written in this test's transaction, so
    its deferred foreign-key checks are pending and PostgreSQL would refuse any TRUNCATE for
    that alone: they run first."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(statement)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    [
        "TRUNCATE ledger_ledgerentry",
        "TRUNCATE ledger_inventoryevent CASCADE",
        "TRUNCATE ledger_ledgerentry, ledger_inventoryevent RESTART IDENTITY CASCADE",
        # Reached through a table they reference: CASCADE takes the history along.
        "TRUNCATE ledger_sku CASCADE",
    ],
)
def test_postgres_refuses_truncate_of_history(recorded, statement):
    with pytest.raises(DatabaseError, match="ledger is append-only: TRUNCATE on ledger_"):
        _truncate(statement)
    assert LedgerEntry.objects.get().delta == 5
    assert InventoryEvent.objects.count() == 1


def _truncate_triggers() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE %s",
            ["ledger_%_no_truncate"],
        )
        return {name for (name,) in cursor.fetchall()}


@pytest.mark.django_db
def test_the_truncate_migration_is_reversible(recorded):
    """Backwards to 0002 drops the statement triggers (TRUNCATE passes again), forwards puts
    them back. DDL is transactional on PostgreSQL: the test's rollback undoes both moves."""
    with connection.cursor() as cursor:
        # The receipt's deferred checks run now: a later migration's ALTER TABLE on the
        # entries cannot run while they are pending.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    executor = MigrationExecutor(connection)
    executor.migrate([("ledger", "0002_append_only_triggers")])
    assert _truncate_triggers() == set()
    with transaction.atomic():
        _truncate("TRUNCATE ledger_ledgerentry")
        assert not LedgerEntry.objects.exists()
        transaction.set_rollback(True)

    executor.loader.build_graph()
    executor.migrate([("ledger", "0003_refuse_truncate")])
    assert _truncate_triggers() == {
        "ledger_inventoryevent_no_truncate",
        "ledger_ledgerentry_no_truncate",
    }
    with pytest.raises(DatabaseError, match="TRUNCATE on ledger_ledgerentry"):
        _truncate("TRUNCATE ledger_ledgerentry")


@pytest.mark.django_db(transaction=True)
def test_the_test_suite_flush_empties_history_between_transactional_tests(recorded):
    """Django's flush (what ends every transactional test) is one TRUNCATE of all tables: the
    suite runs it past the triggers (tests/conftest.py), and only it."""
    with pytest.raises(DatabaseError, match="append-only"):
        _truncate("TRUNCATE ledger_ledgerentry, ledger_inventoryevent CASCADE")

    call_command("flush", verbosity=0, interactive=False)

    assert not LedgerEntry.objects.exists()
    assert not InventoryEvent.objects.exists()
    with connection.cursor() as cursor:
        cursor.execute("SHOW session_replication_role")
        assert cursor.fetchone()[0] == "origin"
