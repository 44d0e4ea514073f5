"""The audit trail, the three capabilities, the viewer / operator / admin groups, and the
triggers that keep the trail append-only (UPDATE and DELETE are refused)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations, models

TABLE = "access_auditentry"

POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION access_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
"""


def create_roles(apps, schema_editor):
    from access.roles import sync_roles

    # Permissions are normally created after the last migration; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    sync_roles(apps)


def drop_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(
        name__in=["viewer", "operator", "admin"]
    ).delete()


def install_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_FUNCTION, params=None)
        schema_editor.execute(
            f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION access_refuse_change()"
        )
    elif vendor == "sqlite":
        for operation in ("UPDATE", "DELETE"):
            schema_editor.execute(
                f"CREATE TRIGGER {TABLE}_no_{operation.lower()} BEFORE {operation} ON {TABLE} "
                f"BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: {operation} is "
                "refused'); END"
            )
    else:
        raise NotImplementedError(f"append-only triggers are not written for {vendor}")


def uninstall_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}")
        schema_editor.execute("DROP FUNCTION IF EXISTS access_refuse_change()")
    elif vendor == "sqlite":
        for operation in ("update", "delete"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_{operation}")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.CreateModel(
            name="Capability",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
            ],
            options={
                "managed": False,
                "default_permissions": (),
                "permissions": [
                    ("view_console", "Can read every page and API list"),
                    ("operate", "Can run the day: stock, halts, drift, returns, incidents, orders"),
                    ("administer", "Can change channels, credentials, rules, reservations and users"),
                ],
            },
        ),
        migrations.CreateModel(
            name="AuditEntry",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("at", models.DateTimeField(auto_now_add=True, db_index=True)),
                ("actor", models.CharField(help_text="Username, or 'system'.", max_length=150)),
                ("actor_id", models.BigIntegerField(blank=True, null=True)),
                ("via", models.CharField(choices=[("api", "API"), ("console", "Console"), ("admin", "Admin"), ("command", "Command"), ("system", "System")], max_length=10)),
                ("action", models.CharField(db_index=True, help_text="e.g. halt.release", max_length=64)),
                ("target_type", models.CharField(help_text="app_label.model", max_length=100)),
                ("target_id", models.CharField(blank=True, max_length=100)),
                ("target_repr", models.CharField(blank=True, max_length=200)),
                ("before", models.JSONField(blank=True, null=True)),
                ("after", models.JSONField(blank=True, null=True)),
                ("reason", models.TextField(blank=True)),
                ("remote_addr", models.GenericIPAddressField(blank=True, null=True)),
            ],
            options={
                "verbose_name": "audit entry",
                "verbose_name_plural": "audit trail",
                "ordering": ["-at", "-id"],
                "indexes": [models.Index(fields=["target_type", "target_id", "-at"], name="access_audi_target__a68ba6_idx")],
            },
        ),
        migrations.RunPython(install_triggers, uninstall_triggers),
        migrations.RunPython(create_roles, drop_roles),
    ]
