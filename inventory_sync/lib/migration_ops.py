"""Migration operations for tables that are written while the migration runs.

An index on the ledger or the inbox built with a plain CREATE INDEX holds a lock that blocks
every write until it is built (minutes on a large installation: ingest and pushes stop).
PostgreSQL builds it CONCURRENTLY instead; SQLite (the demo) has no such thing and no traffic
to block. A migration using these sets `atomic = False` (CONCURRENTLY cannot run inside a
transaction).
"""

from __future__ import annotations

from django.db import migrations


def _concurrently(schema_editor) -> dict:
    """CONCURRENTLY where PostgreSQL allows it: not inside a transaction (a caller migrating
    in one, as a test does, builds it the plain way)."""
    connection = schema_editor.connection
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        return {"concurrently": True}
    return {}


class AddIndexWithoutBlockingWrites(migrations.AddIndex):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index, **_concurrently(schema_editor))

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index, **_concurrently(schema_editor))

    def describe(self) -> str:
        return super().describe() + " (without blocking writes)"
