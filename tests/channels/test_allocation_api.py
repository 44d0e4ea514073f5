"""GET /api/v1/skus/<code>/allocation/, channels and listings, and rules CRUD."""

import pytest

from channels.planner import plan_dirty_skus
from ledger.models import Sku
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
