"""The audit trail refuses TRUNCATE too: the row triggers of 0001 never see one.

SQLite has no TRUNCATE; its unqualified DELETE is refused by the row triggers already.
"""

from django.db import migrations

TABLE = "access_auditentry"


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # access_refuse_change() comes from 0001; it names TG_OP, so the message says TRUNCATE.
    schema_editor.execute(
        f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
        "FOR EACH STATEMENT EXECUTE FUNCTION access_refuse_change()"
    )


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE}")


class Migration(migrations.Migration):
    dependencies = [("access", "0001_initial")]

    operations = [migrations.RunPython(install, uninstall)]
