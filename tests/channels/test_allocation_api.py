"""The allocation side of the REST API (served by channels.apis): GET
/api/v1/skus/<code>/allocation/, channels and listings, rules CRUD, and reservations/,
incidents/ and halts/."""

import pytest

from allocation.models import OversellIncident, Reservation
from channels.models import Listing
from channels.planner import plan_dirty_skus
from ledger import services as ledger
from ledger.models import Sku
from ledger.rules import EventLine
from tests.factories import ChannelFactory, ListingFactory


@pytest.fixture
def listed(sku, warehouse, receive):
    shop = ListingFactory(channel=ChannelFactory(code="shopify", priority=1), sku=sku)
    amazon = ListingFactory(
        channel=ChannelFactory(code="amazon-us", kind="amazon", is_marketplace=True, priority=2),
        sku=sku,
        external_id="TEE-M-US",
    )
    receive(sku, warehouse, 50)
    return shop, amazon


@pytest.mark.django_db
def test_allocation_shows_every_listing_with_its_explanation(api_client, listed):
    # given a 15 % Amazon buffer created through the API
    created = api_client.post(
        "/api/v1/rules/",
        {
            "name": "Amazon buffer",
            "kind": "buffer_percent",
            "value": "15",
            "scope": "channel",
            "target": "amazon-us",
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    # when
    response = api_client.get("/api/v1/skus/TEE-M/allocation/")
    # then
    assert response.status_code == 200
    rows = {row["channel"]: row for row in response.json()["listings"]}
    assert rows["shopify"]["quantity"] == 50
    assert rows["amazon-us"]["quantity"] == 42
    assert rows["amazon-us"]["explanation"] == (
        "pool: WH-EAST 50 → 50; − Amazon buffer (15 % of 50, rounded up) → 42"
    )
    assert rows["amazon-us"]["rules"] == ["Amazon buffer"]


@pytest.mark.django_db
def test_a_rule_change_marks_skus_for_the_planner(api_client, listed, sku):
    plan_dirty_skus()
    assert Sku.objects.get(pk=sku.pk).allocation_dirty_since is None
    response = api_client.post(
        "/api/v1/rules/",
        {"name": "Keep 5 back", "kind": "buffer_units", "value": "5", "scope": "all"},
        format="json",
    )
    assert response.status_code == 201
    assert Sku.objects.get(pk=sku.pk).allocation_dirty_since is not None
    plan_dirty_skus()
    listings = api_client.get("/api/v1/listings/?sku=TEE-M").json()["results"]
    assert {row["channel"]: row["desired_quantity"] for row in listings} == {
        "shopify": 45,
        "amazon-us": 45,
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "kind": "buffer_percent", "value": "150", "scope": "all"}, "value"),
        ({"name": "x", "kind": "buffer_units", "value": "-1", "scope": "all"}, "value"),
        ({"name": "x", "kind": "buffer_units", "value": "1", "scope": "channel"}, "target"),
        ({"name": "x", "kind": "teleport", "value": "1", "scope": "all"}, "kind"),
        ({"name": "x", "kind": "floor", "value": "1", "scope": "all", "target": "etsy"}, "target"),
    ],
)
def test_bad_rules_are_refused_with_a_field_error(api_client, db, body, field):
    response = api_client.post("/api/v1/rules/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]


@pytest.mark.django_db
def test_unknown_sku_allocation_is_404(api_client):
    assert api_client.get("/api/v1/skus/NOPE/allocation/").status_code == 404


@pytest.mark.django_db
def test_channels_are_listed_by_priority(api_client, listed):
    codes = [row["code"] for row in api_client.get("/api/v1/channels/").json()["results"]]
    assert codes == ["shopify", "amazon-us"]


def hold(api_client, key, quantity):
    return api_client.post(
        "/api/v1/reservations/",
        {"sku": "TEE-M", "location": "WH-EAST", "quantity": quantity, "partner": "Wholesale Co"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


@pytest.mark.django_db
def test_a_reservation_is_held_replayed_and_released(api_client, sku, warehouse, receive):
    receive(sku, warehouse, 50)
    created = hold(api_client, "po-1", 40)
    assert created.status_code == 201
    assert hold(api_client, "po-1", 40).json()["id"] == created.json()["id"]
    short = hold(api_client, "po-2", 11)
    assert short.status_code == 409
    assert short.json()["code"] == "insufficient_stock"
    assert short.json()["available"] == 10
    assert api_client.delete(f"/api/v1/reservations/{created.json()['id']}/").status_code == 204
    assert Reservation.objects.get().status == "released"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sku": "NOPE", "location": "WH-EAST", "quantity": 1, "partner": "W"}, "sku"),
        ({"sku": "TEE-M", "location": "WH-EAST", "quantity": 0, "partner": "W"}, "quantity"),
        ({"sku": "TEE-M", "location": "WH-EAST", "quantity": "3", "partner": "W"}, "quantity"),
        ({"sku": "TEE-M", "location": "WH-EAST", "quantity": 1}, "partner"),
    ],
)
def test_bad_reservations_are_refused(api_client, sku, warehouse, body, field):
    response = api_client.post(
        "/api/v1/reservations/", body, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Reservation.objects.exists()


@pytest.mark.django_db
def test_a_reservation_needs_an_idempotency_key(api_client, sku, warehouse, receive):
    receive(sku, warehouse, 5)
    response = api_client.post(
        "/api/v1/reservations/",
        {"sku": "TEE-M", "location": "WH-EAST", "quantity": 1, "partner": "W"},
        format="json",
    )
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["errors"]


@pytest.mark.django_db
def test_a_halt_zeroes_a_channel_until_released(api_client, sku, warehouse, receive):
    listing = ListingFactory(channel=ChannelFactory(code="amazon-us"), sku=sku)
    receive(sku, warehouse, 9)
    plan_dirty_skus()
    created = api_client.post(
        "/api/v1/halts/",
        {"sku": "TEE-M", "channel": "amazon-us", "reason": "drift 5 units"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    plan_dirty_skus()
    assert Listing.objects.get(pk=listing.pk).desired_quantity == 0
    released = api_client.post(
        f"/api/v1/halts/{created.json()['id']}/release/", {"reason": "checked"}, format="json"
    )
    assert released.json()["released_by"] == "ops"
    plan_dirty_skus()
    assert Listing.objects.get(pk=listing.pk).desired_quantity == 9


@pytest.mark.django_db
def test_an_incident_is_listed_and_closed_by_a_person(api_client, sku, warehouse, receive):
    receive(sku, warehouse, 1)
    ledger.record_event(
        kind="sale", lines=[EventLine("TEE-M", "WH-EAST", 3)], idempotency_key="s", source="t"
    )
    plan_dirty_skus()
    rows = api_client.get("/api/v1/incidents/?status=open").json()["results"]
    assert [(row["sku"], row["units_short"]) for row in rows] == [("TEE-M", 2)]
    closed = api_client.post(f"/api/v1/incidents/{rows[0]['id']}/close/")
    assert closed.json()["status"] == "closed"
    assert OversellIncident.objects.get().closed_by == "ops"
