"""Two fewer indexes to write per event: the LIKE-prefix copies of the key and reference.

unique=True and db_index=True on a CharField give PostgreSQL a second, varchar_pattern_ops
index for `LIKE 'prefix%'`. Nothing looks events up by a prefix of their key or reference
(the admin's search is a contains, which no b-tree serves), yet every recorded event inserted
into both: about 5 % of the batch path's time. The unique key and the reference index stay,
now declared in Meta, where Django makes no pattern copy.

The database keeps the existing unique constraint (same name) and renames the reference
index, so no index is rebuilt on a large ledger. Reversing re-creates the two pattern indexes.
"""

from django.db import migrations, models

_LIKE_INDEXES = {
    "ledger_inventoryevent_idempotency_key_c29f1920_like": "idempotency_key",
    "ledger_inventoryevent_reference_7709114a_like": "reference",
}
_OLD_REFERENCE_INDEX = "ledger_inventoryevent_reference_7709114a"
_REFERENCE_INDEX = "event_reference_idx"


def _drop_pattern_indexes(apps, schema_editor):
    run = schema_editor.execute
    if schema_editor.connection.vendor == "postgresql":
        for name in _LIKE_INDEXES:
            run(f"DROP INDEX IF EXISTS {name}")
        run(f"ALTER INDEX {_OLD_REFERENCE_INDEX} RENAME TO {_REFERENCE_INDEX}")
    else:  # SQLite keeps no pattern copies and cannot rename an index
        run(f"DROP INDEX {_OLD_REFERENCE_INDEX}")
        run(f"CREATE INDEX {_REFERENCE_INDEX} ON ledger_inventoryevent (reference)")


def _restore_pattern_indexes(apps, schema_editor):
    run = schema_editor.execute
    if schema_editor.connection.vendor == "postgresql":
        run(f"ALTER INDEX {_REFERENCE_INDEX} RENAME TO {_OLD_REFERENCE_INDEX}")
        for name, column in _LIKE_INDEXES.items():
            run(f"CREATE INDEX {name} ON ledger_inventoryevent ({column} varchar_pattern_ops)")
    else:
        run(f"DROP INDEX {_REFERENCE_INDEX}")
        run(f"CREATE INDEX {_OLD_REFERENCE_INDEX} ON ledger_inventoryevent (reference)")


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0005_reroute_kind"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="inventoryevent",
                    name="idempotency_key",
                    field=models.CharField(max_length=255),
                ),
                migrations.AlterField(
                    model_name="inventoryevent",
                    name="reference",
                    field=models.CharField(blank=True, max_length=255),
                ),
                migrations.AddIndex(
                    model_name="inventoryevent",
                    index=models.Index(fields=["reference"], name=_REFERENCE_INDEX),
                ),
                migrations.AddConstraint(
                    model_name="inventoryevent",
                    constraint=models.UniqueConstraint(
                        fields=("idempotency_key",),
                        name="ledger_inventoryevent_idempotency_key_key",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunPython(_drop_pattern_indexes, _restore_pattern_indexes),
            ],
        ),
    ]
