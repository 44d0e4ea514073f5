"""The audit trail is append-only, readable by every role, and filterable by object."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import DatabaseError, connection, transaction

from access import audit
from access.models import AuditEntry
from access.roles import Role


@pytest.fixture
def viewer(db, django_user_model):
    person = django_user_model.objects.create_user("vera", password="pw-vera-1234")
    person.groups.add(Group.objects.get(name=Role.VIEWER))
    return person


def test_the_database_refuses_to_change_or_delete_an_entry(db, sku):
    entry = audit.record(None, "sku.update", sku, before={"title": "a"}, after={"title": "b"})
    assert entry.actor == audit.SYSTEM_ACTOR
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(reason="edited")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
    assert AuditEntry.objects.get(pk=entry.pk).reason == ""


def test_secrets_never_reach_the_trail(db):
    snapshot = audit.snapshot_values({"credentials": "shpat_123", "name": "Shop"})
    assert snapshot == {"credentials": "(redacted)", "name": "Shop"}


def test_a_viewer_reads_the_audit_page_filtered_by_object(client, viewer, sku):
    audit.record(None, "sku.update", sku, reason="renamed")
    audit.record(None, "location.update", target_type="ledger.location", target_id=9)
    client.force_login(viewer)
    page = client.get("/audit/", {"target_type": "ledger.sku", "target_id": sku.pk})
    assert page.status_code == 200
    assert b"renamed" in page.content
    assert b"location.update" not in page.content


def test_the_audit_page_ignores_control_characters_in_filters(client, viewer):
    client.force_login(viewer)
    assert client.get("/audit/", {"actor": "a\x00b", "page": "x"}).status_code in (200, 400)


def test_a_viewer_may_not_post_to_the_audit_page(client, viewer):
    client.force_login(viewer)
    assert client.post("/audit/").status_code == 405
    assert AuditEntry.objects.count() == 0


def test_the_database_refuses_to_truncate_the_trail(db, sku):
    audit.record(None, "sku.update", sku)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("TRUNCATE access_auditentry")
    assert AuditEntry.objects.count() == 1
