"""A SKU's ledger history by its own index; the entries' location index gives way to it.

The SKU page reads a SKU's entries newest first. With only entry_account_idx (sku, location,
bucket), PostgreSQL walked the whole entries table backwards by id for a SKU whose entries are
all old, looking for its few rows (97 ms at a million entries for a never-sold SKU, growing with
the ledger). The location index goes so every recorded entry still writes as many indexes as
before (the batch path's pace): nothing reads entries by location alone.

The location index is dropped by name rather than by altering the field: on SQLite (the demo)
altering a field rebuilds the table, and the rebuilt table would lose the append-only triggers.
Building the new index reads the whole entries table and blocks ledger writes meanwhile: on a
large ledger, apply this migration in a quiet hour. Reversible.
"""

import django.db.models.deletion
from django.db import migrations, models

_LOCATION_INDEX = "ledger_ledgerentry_location_id_baccc112"


def _drop_location_index(apps, schema_editor):
    schema_editor.execute(f"DROP INDEX IF EXISTS {_LOCATION_INDEX}")


def _restore_location_index(apps, schema_editor):
    schema_editor.execute(f"CREATE INDEX {_LOCATION_INDEX} ON ledger_ledgerentry (location_id)")


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0006_event_indexes_without_like"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="ledgerentry",
                    name="location",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="ledger.location",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunPython(_drop_location_index, _restore_location_index),
            ],
        ),
        migrations.AddIndex(
            model_name="ledgerentry",
            index=models.Index(fields=["sku", "-id"], name="entry_sku_history_idx"),
        ),
    ]
