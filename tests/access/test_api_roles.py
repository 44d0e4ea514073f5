"""The role matrix over the API: each role against each write, and a refusal stores nothing."""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from access.models import AuditEntry
from access.permissions import api_capability
from access.roles import Capability, Role
from allocation.models import AllocationRule, Reservation, SalesHalt
from ledger.models import Balance, InventoryEvent, Location, Sku
from tests.access.urlwalk import WRITE_METHODS, project_views

OUR_APPS = ("access", "ledger", "allocation", "channels", "reconciliation")


def api_writes():
    """(method, concrete path, capability) for every write the API offers."""
    found = []
    for route, view in project_views():
        if not hasattr(view, "cls") or "format" in route:
            continue
        path = "/" + route.replace("^", "").replace("$", "")
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: "X1" if m[1] == "code" else "1", path)
        path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: "X1" if m[1] == "code" else "1", path)
        actions = getattr(view, "actions", None) or {
            m: None for m in WRITE_METHODS if hasattr(view.cls, m)
        }
        for method, action in actions.items():
            if method in WRITE_METHODS:
                probe = object.__new__(view.cls)
                probe.action = action
                found.append((method, path, api_capability(probe, method.upper())))
    return sorted(set(found))


WRITES = api_writes()


def row_counts() -> dict[str, int]:
    return {
        model._meta.label: model.objects.count()
        for model in apps.get_models()
        if model._meta.app_label in OUR_APPS and model._meta.managed
    }


def client_for(django_user_model, role: Role | None) -> APIClient:
    person = django_user_model.objects.create_user(f"person-{role or 'none'}")
    if role is not None:
        person.groups.add(Group.objects.get(name=role))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=person).key}")
    return client


ALLOWED = {
    None: set(),
    Role.VIEWER: set(),
    Role.OPERATOR: {Capability.OPERATE},
    Role.ADMIN: {Capability.OPERATE, Capability.ADMINISTER},
}


def test_the_api_offers_writes_of_both_capabilities():
    capabilities = {capability for _, _, capability in WRITES}
    assert {Capability.OPERATE, Capability.ADMINISTER} <= capabilities
    assert len(WRITES) >= 15


@pytest.mark.parametrize("role", [None, Role.VIEWER, Role.OPERATOR])
def test_a_role_is_refused_every_write_beyond_it_and_nothing_is_stored(
    db, django_user_model, sku, warehouse, role
):
    client = client_for(django_user_model, role)
    refused = [(m, p) for m, p, capability in WRITES if capability not in ALLOWED[role]]
    assert refused
    before = row_counts()
    answers = {
        f"{method.upper()} {path}": getattr(client, method)(
            path,
            {"kind": "receipt", "reason": "x", "sku": sku.code, "quantity": 1},
            format="json",
            HTTP_IDEMPOTENCY_KEY="role-test",
        ).status_code
        for method, path in refused
    }
    assert {call: status for call, status in answers.items() if status != 403} == {}
    assert row_counts() == before


def test_no_token_is_a_401_not_a_403(db):
    method, path, _ = WRITES[0]
    assert getattr(APIClient(), method)(path, {}, format="json").status_code == 401


def test_a_viewer_still_reads_everything(db, django_user_model, sku, warehouse, receive):
    receive(sku, warehouse, 5)
    client = client_for(django_user_model, Role.VIEWER)
    for path in (
        "/api/v1/skus/",
        "/api/v1/balances/",
        "/api/v1/events/",
        "/api/v1/halts/",
        "/api/v1/drift/",
        "/api/v1/audit/",
        f"/api/v1/skus/{sku.code}/allocation/",
    ):
        assert client.get(path).status_code == 200, path


def test_an_operator_records_stock_and_the_trail_signs_it(
    db, django_user_model, sku, warehouse, receive
):
    receive(sku, warehouse, 3)
    client = client_for(django_user_model, Role.OPERATOR)
    answer = client.post(
        "/api/v1/events/",
        {
            "kind": "write_off",
            "reason": "dropped in the aisle",
            "lines": [{"sku": sku.code, "location": warehouse.code, "quantity": 1}],
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="wo-1",
    )
    assert answer.status_code == 201, answer.json()
    entry = AuditEntry.objects.get(action="event.write_off")
    assert (entry.actor, entry.via, entry.reason) == (
        "person-operator",
        "api",
        "dropped in the aisle",
    )
    assert entry.target_id == str(InventoryEvent.objects.get(kind="write_off").pk)


def test_a_write_off_without_a_reason_is_refused(db, django_user_model, sku, warehouse):
    client = client_for(django_user_model, Role.OPERATOR)
    answer = client.post(
        "/api/v1/events/",
        {
            "kind": "write_off",
            "lines": [{"sku": sku.code, "location": warehouse.code, "quantity": 0}],
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="wo-2",
    )
    assert answer.status_code == 400
    assert "reason" in answer.json()["errors"]
    assert InventoryEvent.objects.count() == 0


def test_an_operator_halts_and_releases_with_reasons_signed(db, django_user_model, sku):
    client = client_for(django_user_model, Role.OPERATOR)
    opened = client.post(
        "/api/v1/halts/", {"sku": sku.code, "reason": "count looks wrong"}, format="json"
    )
    assert opened.status_code == 201, opened.json()
    released = client.post(
        f"/api/v1/halts/{opened.json()['id']}/release/", {"reason": "recounted"}, format="json"
    )
    assert released.status_code == 200
    trail = list(AuditEntry.objects.order_by("id").values_list("action", "actor", "reason"))
    assert trail == [
        ("halt.open", "person-operator", "count looks wrong"),
        ("halt.release", "person-operator", "recounted"),
    ]
    release = AuditEntry.objects.get(action="halt.release")
    assert release.before["released_at"] is None
    assert release.after["released_at"] is not None
    assert SalesHalt.objects.get().released_by == "person-operator"


def test_an_operator_may_not_change_rules_or_locations(db, django_user_model):
    client = client_for(django_user_model, Role.OPERATOR)
    rule = client.post(
        "/api/v1/rules/", {"kind": "buffer_units", "scope": "all", "value": 2}, format="json"
    )
    location = client.post("/api/v1/locations/", {"code": "WH-NEW", "name": "New"}, format="json")
    assert (rule.status_code, location.status_code) == (403, 403)
    assert AllocationRule.objects.count() == 0
    assert not Location.objects.filter(code="WH-NEW").exists()


def test_an_admin_changes_a_rule_and_the_trail_keeps_before_and_after(db, django_user_model):
    client = client_for(django_user_model, Role.ADMIN)
    created = client.post(
        "/api/v1/rules/",
        {"name": "Keep two", "kind": "buffer_units", "scope": "all", "value": 2, "priority": 10},
        format="json",
    )
    assert created.status_code == 201, created.json()
    rule_id = created.json()["id"]
    changed = client.patch(
        f"/api/v1/rules/{rule_id}/", {"value": 5, "reason": "peak week"}, format="json"
    )
    assert changed.status_code == 200
    deleted = client.delete(f"/api/v1/rules/{rule_id}/")
    assert deleted.status_code == 204
    update = AuditEntry.objects.get(action="rule.update")
    assert (update.before["value"], update.after["value"], update.reason) == (
        "2.00",
        "5.00",
        "peak week",
    )
    assert AuditEntry.objects.get(action="rule.delete").before["value"] == "5.00"
    assert AuditEntry.objects.filter(action="rule.create", actor="person-admin").count() == 1


def test_an_admin_reservation_is_signed(db, django_user_model, sku, warehouse, receive):
    receive(sku, warehouse, 10)
    client = client_for(django_user_model, Role.ADMIN)
    held = client.post(
        "/api/v1/reservations/",
        {"sku": sku.code, "location": warehouse.code, "quantity": 3, "partner": "Wholesale Co"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="hold-1",
    )
    assert held.status_code == 201, held.json()
    assert client.delete(f"/api/v1/reservations/{held.json()['id']}/").status_code == 204
    assert Reservation.objects.get().status == Reservation.Status.RELEASED
    ended = AuditEntry.objects.get(action="reservation.end")
    assert (ended.before["status"], ended.after["status"]) == ("active", "released")
    assert Balance.objects.filter(sku=sku, bucket="reserved").get().quantity == 0
    assert Sku.objects.count() == 1
