"""Grading a merchant-fulfilled return (issue 13, item 4): restock or unsellable at a chosen
location, one ledger event, once, signed with who and why; the API and the console answer the
same way, and a viewer changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from access.models import AuditEntry
from access.roles import Role
from channels import returns
from channels.models import Channel, ChannelOrder, ChannelOrderLine, ChannelReturn
from inventory_sync.lib.errors import DomainError
from ledger.models import Balance, InventoryEvent
from tests.concurrency import run_concurrently
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db

RETURNED = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def bucket(sku, location, name):
    row = Balance.objects.filter(sku=sku, location=location, bucket=name).first()
    return row.quantity if row else 0


@pytest.fixture
def amazon(warehouse):
    return ChannelFactory(
        code="amazon-us", kind=Channel.Kind.AMAZON, region="NA", default_location=warehouse
    )


@pytest.fixture
def waiting(amazon, sku, store):
    """Two items of a 3-pack sold from the store, back from the customer."""
    order = ChannelOrder.objects.create(
        channel=amazon,
        external_id="111-0001",
        name="111-0001",
        status=ChannelOrder.Status.OPEN,
        placed_at=RETURNED,
        channel_updated_at=RETURNED,
    )
    ChannelOrderLine.objects.create(
        order=order, external_id="1", sku=sku, location=store, quantity=2, current_quantity=2,
        units_per_item=3,
    )  # fmt: skip
    return ChannelReturn.objects.create(
        channel=amazon,
        dedupe_key="111-0001:TEE-M",
        order=order,
        order_external_id="111-0001",
        sku=sku,
        channel_sku="TEE-M",
        quantity=2,
        fulfilment="merchant",
        returned_at=RETURNED,
        handling=ChannelReturn.Handling.AWAITING_GRADING,
    )


def client_of(django_user_model, role: Role, name: str) -> APIClient:
    person = django_user_model.objects.create_user(name)
    person.groups.add(Group.objects.get(name=role))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=person).key}")
    client.force_login(person)
    return client


def test_restock_puts_the_units_back_on_hand_once(api_client, waiting, sku, warehouse):
    url = f"/api/v1/returns/{waiting.pk}/grade/"
    body = {"outcome": "restock", "location": warehouse.code}

    first = api_client.post(url, body, format="json")
    events = InventoryEvent.objects.count()
    second = api_client.post(url, body, format="json")

    assert first.status_code == 200, first.content
    assert first.json()["handling"] == "restocked"
    assert bucket(sku, warehouse, "on_hand") == 6  # 2 items of a 3-pack
    assert second.status_code == 409
    assert second.json()["code"] == "return_not_waiting"
    assert InventoryEvent.objects.count() == events
    assert bucket(sku, warehouse, "on_hand") == 6
    waiting.refresh_from_db()
    assert waiting.event.kind == "return_restock"
    assert ChannelOrderLine.objects.get(order=waiting.order).restocked_units == 6


def test_unsellable_needs_a_reason_and_fills_the_unsellable_bucket(api_client, waiting, sku, store):
    url = f"/api/v1/returns/{waiting.pk}/grade/"

    refused = api_client.post(url, {"outcome": "unsellable", "location": store.code}, format="json")
    graded = api_client.post(
        url,
        {"outcome": "unsellable", "location": store.code, "reason": "box crushed"},
        format="json",
    )

    assert refused.status_code == 400
    assert "reason" in refused.json()["errors"]
    assert graded.status_code == 200, graded.content
    assert bucket(sku, store, "on_hand") == 6
    assert bucket(sku, store, "unsellable") == 6
    waiting.refresh_from_db()
    assert (waiting.handling, waiting.event.kind) == ("unsellable", "return_unsellable")
    assert waiting.event.reason == "box crushed"


def test_the_grade_is_signed_with_the_actor_and_the_reason(api_client, waiting, store):
    api_client.post(
        f"/api/v1/returns/{waiting.pk}/grade/",
        {"outcome": "unsellable", "location": store.code, "reason": "water damage"},
        format="json",
    )

    entry = AuditEntry.objects.get(action="return.grade")
    assert (entry.actor, entry.reason, entry.via) == ("ops", "water damage", "api")
    assert entry.target_id == str(waiting.pk)
    assert (entry.before["handling"], entry.after["handling"]) == ("to_grade", "unsellable")


def test_a_viewer_can_read_the_queue_but_not_grade(django_user_model, waiting, sku, warehouse):
    viewer = client_of(django_user_model, Role.VIEWER, "watcher")

    listed = viewer.get("/api/v1/returns/", {"handling": "to_grade", "channel": "amazon-us"})
    api = viewer.post(
        f"/api/v1/returns/{waiting.pk}/grade/",
        {"outcome": "restock", "location": warehouse.code},
        format="json",
    )
    console = viewer.post(
        f"/returns/{waiting.pk}/grade/", {"outcome": "restock", "location": warehouse.code}
    )
    page = viewer.get("/returns/").content.decode()

    assert [row["id"] for row in listed.json()["results"]] == [waiting.pk]
    assert (api.status_code, console.status_code) == (403, 403)
    assert f'data-grade="{waiting.pk}"' not in page
    waiting.refresh_from_db()
    assert waiting.handling == "to_grade"
    assert bucket(sku, warehouse, "on_hand") == 0
    assert not AuditEntry.objects.filter(action="return.grade").exists()


def test_the_list_filters_by_handling(api_client, waiting):
    assert api_client.get("/api/v1/returns/", {"handling": "restocked"}).json()["results"] == []
    assert len(api_client.get("/api/v1/returns/").json()["results"]) == 1


def test_the_console_form_suggests_the_line_location_and_grades_once(
    django_user_model, waiting, sku, store, warehouse
):
    operator = client_of(django_user_model, Role.OPERATOR, "grader")

    page = operator.get("/returns/").content.decode()
    graded = operator.post(
        f"/returns/{waiting.pk}/grade/", {"outcome": "restock", "location": store.code}
    )
    again = operator.post(
        f"/returns/{waiting.pk}/grade/", {"outcome": "restock", "location": warehouse.code},
        follow=True,
    )  # fmt: skip

    assert f'data-grade="{waiting.pk}"' in page
    assert f'<option value="{store.code}" selected>' in page
    assert graded.status_code == 302
    assert bucket(sku, store, "on_hand") == 6
    assert "not waiting to be graded" in again.content.decode()
    assert bucket(sku, warehouse, "on_hand") == 0
    entry = AuditEntry.objects.get(action="return.grade")
    assert (entry.actor, entry.via) == ("grader", "console")
    assert f'data-grade="{waiting.pk}"' not in operator.get("/returns/").content.decode()


def test_the_console_refuses_an_unsellable_grade_without_a_reason(
    django_user_model, waiting, sku, store
):
    operator = client_of(django_user_model, Role.OPERATOR, "grader")

    answer = operator.post(
        f"/returns/{waiting.pk}/grade/", {"outcome": "unsellable", "location": store.code},
        follow=True,
    )  # fmt: skip

    assert "Say why" in answer.content.decode()
    waiting.refresh_from_db()
    assert waiting.handling == "to_grade"
    assert bucket(sku, store, "unsellable") == 0


def test_the_service_refuses_a_return_still_waiting_for_a_mapping(waiting, warehouse):
    ChannelReturn.objects.filter(pk=waiting.pk).update(handling="unmapped")

    with pytest.raises(returns.ReturnNotWaiting):
        returns.grade_return(waiting, outcome="restock", location=warehouse, actor="ops")
    with pytest.raises(DomainError):
        returns.grade_return(waiting, outcome="donate", location=warehouse, actor="ops")


@pytest.mark.django_db(transaction=True)
def test_two_people_grading_the_same_return_at_once_record_one_event(waiting, sku, warehouse):
    def grade(outcome: str, reason: str):
        return returns.grade_return(
            waiting, outcome=outcome, location=warehouse, reason=reason, actor="ops"
        )

    outcomes = run_concurrently(grade, [("restock", ""), ("unsellable", "torn"), ("restock", "")])

    assert sum(o.ok for o in outcomes) == 1
    assert all(isinstance(o.error, returns.ReturnNotWaiting) for o in outcomes if not o.ok)
    assert InventoryEvent.objects.filter(kind__startswith="return_").count() == 1
    waiting.refresh_from_db()
    graded = {"restocked": (6, 0), "unsellable": (6, 6)}[waiting.handling]
    assert (bucket(sku, warehouse, "on_hand"), bucket(sku, warehouse, "unsellable")) == graded


def test_a_return_without_its_order_starts_at_the_channel_default_location(
    django_user_model, waiting, warehouse, store
):
    ChannelReturn.objects.filter(pk=waiting.pk).update(order=None)
    operator = client_of(django_user_model, Role.OPERATOR, "grader")

    page = operator.get("/returns/").content.decode()

    assert f'<option value="{warehouse.code}" selected>' in page
    assert f'<option value="{store.code}" selected>' not in page
