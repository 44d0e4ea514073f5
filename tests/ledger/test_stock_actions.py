"""The console's stock actions (/stock/): a scanned barcode, a quantity, Enter."""

import re

import pytest
from django.contrib.auth.models import Group

from access.models import AuditEntry
from access.roles import Role
from ledger import selectors
from ledger.models import InventoryEvent, Location
from tests.factories import SkuFactory


@pytest.fixture
def operator(client, django_user_model):
    person = django_user_model.objects.create_user("floor", password="pw-for-tests")
    person.groups.add(Group.objects.get(name=Role.OPERATOR))
    client.force_login(person)
    return person


@pytest.fixture
def mug(db):
    return SkuFactory(code="MUG-WHT", barcode="4006381333931")


def on_hand(sku, location):
    rows = {row.location.code: row for row in selectors.sku_balances_by_location(sku=sku)}
    return rows[location].quantities["on_hand"] if location in rows else 0


def token_of(page: str) -> str:
    return re.search(r'name="token" value="(\w+)"', page).group(1)


def test_a_scanned_barcode_records_a_receipt_once_however_often_it_is_sent(
    client, operator, mug, warehouse
):
    page = client.get("/stock/").content.decode()
    token = token_of(page)
    assert 'value="WH-EAST" selected' in page  # the warehouse, ready for the first scan
    form = {"kind": "receipt", "sku": "4006381333931", "location": warehouse.code,
            "quantity": 6, "token": token}  # fmt: skip

    first = client.post("/stock/", form, HTTP_HX_REQUEST="true")
    again = client.post("/stock/", form, HTTP_HX_REQUEST="true")  # the double click

    assert "Recorded: receipt of 6 × MUG-WHT at WH-EAST" in first.content.decode()
    assert "Already recorded: receipt of 6 × MUG-WHT" in again.content.decode()
    assert on_hand(mug, warehouse.code) == 6
    event = InventoryEvent.objects.get(kind="receipt")
    assert (event.actor, event.source) == ("floor", "console")
    assert AuditEntry.objects.filter(action="event.receipt").count() == 1
    # the next form is ready for the next scan: a fresh token, the same action and location
    assert token_of(first.content.decode()) != token
    assert 'value="WH-EAST" selected' in first.content.decode()


def test_a_write_off_needs_a_reason_and_cannot_take_more_than_is_there(
    client, operator, mug, warehouse, receive
):
    receive(mug, warehouse, 2)
    form = {"kind": "write_off", "sku": "MUG-WHT", "location": warehouse.code, "quantity": 1,
            "token": "t-1"}  # fmt: skip
    missing = client.post("/stock/", form)
    assert missing.status_code == 400
    assert "Say why the stock changes" in missing.content.decode()

    too_many = client.post("/stock/", {**form, "quantity": 5, "reason": "crushed"})
    assert too_many.status_code == 400
    assert on_hand(mug, warehouse.code) == 2

    done = client.post("/stock/", {**form, "reason": "crushed"})
    assert done.status_code == 302
    assert on_hand(mug, warehouse.code) == 1


def test_a_cycle_count_sets_the_shelf_and_a_transfer_moves_units(
    client, operator, mug, warehouse, receive
):
    store = Location.objects.create(code="STORE-1", name="Store", kind=Location.Kind.STORE)
    receive(mug, warehouse, 10)
    count = {"kind": "cycle_count", "sku": "MUG-WHT", "location": warehouse.code,
             "quantity": 8, "reason": "counted aisle 4", "token": "c-1"}  # fmt: skip
    assert client.post("/stock/", count).status_code == 302
    assert on_hand(mug, warehouse.code) == 8

    out = {"kind": "transfer_out", "sku": "MUG-WHT", "location": warehouse.code, "quantity": 3,
           "token": "t-out"}  # fmt: skip
    assert "Say where the units go" in client.post("/stock/", out).content.decode()
    assert client.post("/stock/", {**out, "to_location": "STORE-1"}).status_code == 302
    arrive = {"kind": "transfer_in", "sku": "MUG-WHT", "location": "STORE-1", "quantity": 3,
              "token": "t-in"}  # fmt: skip
    assert client.post("/stock/", arrive).status_code == 302
    assert (on_hand(mug, warehouse.code), on_hand(mug, store.code)) == (5, 3)


def test_an_unknown_code_is_named(client, operator, mug, warehouse):
    form = {"kind": "receipt", "sku": "NOPE-1", "location": warehouse.code, "quantity": 1,
            "token": "u-1"}  # fmt: skip
    response = client.post("/stock/", form)
    assert response.status_code == 400
    assert "No SKU has the code or barcode &#x27;NOPE-1&#x27;" in response.content.decode()
    assert not InventoryEvent.objects.exists()
