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


def test_the_audit_page_refuses_control_characters_and_survives_a_bad_page(client, viewer):
    client.force_login(viewer)
    assert client.get("/audit/", {"actor": "a\x00b"}).status_code == 400
    assert client.get("/audit/", {"actor": "vera", "page": "x"}).status_code == 200


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


def test_a_control_character_in_a_reason_is_refused_and_changes_nothing(api_client, sku):
    answer = api_client.patch(
        f"/api/v1/skus/{sku.code}/", {"title": "Renamed", "reason": "typo\x00"}, format="json"
    )
    assert answer.status_code == 400
    assert answer.json()["errors"] == {"reason": "Control characters are not allowed."}
    sku.refresh_from_db()
    assert sku.title != "Renamed"
    assert AuditEntry.objects.count() == 0


def test_a_change_that_changes_nothing_leaves_no_second_signature(api_client, sku):
    opened = api_client.post(
        "/api/v1/halts/", {"sku": sku.code, "reason": "odd count"}, format="json"
    )
    assert opened.status_code == 201, opened.json()
    halt_id = opened.json()["id"]
    assert (
        api_client.post(
            f"/api/v1/halts/{halt_id}/release/", {"reason": "ok"}, format="json"
        ).status_code
        == 200
    )
    again = api_client.post(f"/api/v1/halts/{halt_id}/release/", {"reason": "twice"}, format="json")
    assert again.status_code == 200
    actions = list(AuditEntry.objects.order_by("id").values_list("action", "reason"))
    assert actions == [("halt.open", "odd count"), ("halt.release", "ok")]
