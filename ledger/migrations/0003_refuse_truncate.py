"""I1: the database also refuses TRUNCATE on events and ledger entries.

The row triggers of 0002 never see a TRUNCATE (it removes no row one by one), so it needs a
statement-level trigger of its own. It also fires when the tables are reached through
`TRUNCATE ... CASCADE` from a table they reference (SKUs, locations).

SQLite has no TRUNCATE: its `DELETE FROM` without WHERE stays a row delete while the 0002
triggers exist, and they refuse it. Nothing to add there.

Emptying the database between transactional tests truncates every table: the test suite does
that with `session_replication_role = replica` (tests/conftest.py), under which ordinary
triggers do not fire and which only a superuser may set.
"""

from django.db import migrations

APPEND_ONLY_TABLES = ("ledger_inventoryevent", "ledger_ledgerentry")


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in APPEND_ONLY_TABLES:
        # ledger_refuse_change() comes from 0002; it names TG_OP, so the message says TRUNCATE.
        schema_editor.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()"
        )


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in APPEND_ONLY_TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")


class Migration(migrations.Migration):
    dependencies = [("ledger", "0002_append_only_triggers")]

    operations = [migrations.RunPython(install, uninstall)]
