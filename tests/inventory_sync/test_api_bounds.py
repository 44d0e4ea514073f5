"""Hostile input at the REST API answers 4xx with a JSON reason, never 500: bounded pages,
validated date filters, no control characters in URLs, codes, keys or references."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from ledger import services
from ledger.models import InventoryEvent
from ledger.rules import EventLine
from tests.factories import ChannelFactory, SkuFactory

SKUS = "/api/v1/skus/"
EVENTS = "/api/v1/events/"
ORDERS = "/api/v1/orders/"


def refused(response, field: str | None = None) -> dict:
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == "invalid"
    if field is not None:
        assert field in body["errors"], body
    return body


# --- pages ------------------------------------------------------------------------------------


@pytest.fixture
def catalog(db):
    return [SkuFactory(code=f"SKU-{n:03d}") for n in range(7)]


def test_a_page_is_at_most_500_rows_and_the_default_is_100(api_client, catalog):
    assert len(api_client.get(SKUS).json()["results"]) == 7
    page = api_client.get(SKUS, {"limit": 500, "offset": 2}).json()
    assert (page["count"], [row["code"] for row in page["results"]][:1]) == (7, ["SKU-002"])
    assert len(api_client.get(SKUS, {"limit": 3}).json()["results"]) == 3


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("limit", "501"),
        ("limit", "1000000"),
        ("limit", "99999999999999999999"),
        ("limit", "0"),
        ("limit", "-1"),
        ("limit", "1.5"),
        ("limit", "ten"),
        ("limit", "1e3"),
        ("limit", "٣"),  # an Arabic-Indic three: a digit to Python, not to us
        ("offset", "-1"),
        ("offset", "99999999999999999999"),
        ("offset", "1000000001"),
        ("offset", "x"),
    ],
)
def test_a_limit_or_offset_that_is_not_a_sane_whole_number_is_refused(
    api_client, catalog, param, value
):
    body = refused(api_client.get(SKUS, {param: value}), param)
    assert "whole number" in body["errors"][param]


def test_the_schema_documents_the_page_bounds_and_the_error_answers(api_client):
    schema = api_client.get("/api/v1/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/skus/"]["get"]
    params = {p["name"]: p["schema"] for p in operation["parameters"]}
    assert (params["limit"]["minimum"], params["limit"]["maximum"]) == (1, 500)
    assert params["offset"]["minimum"] == 0
    assert {"400", "401", "403", "429"} <= set(operation["responses"])
    detail = schema["paths"]["/api/v1/skus/{code}/"]
    assert "404" in detail["get"]["responses"]
    assert {"409", "413", "415"} <= set(detail["put"]["responses"])
    assert schema["components"]["schemas"]["Error"]["required"] == ["code", "detail"]


# --- date filters -----------------------------------------------------------------------------


@pytest.mark.parametrize("url", [EVENTS, ORDERS])
@pytest.mark.parametrize(
    "value",
    [
        "2026-11-30T10:00:00+16:00",
        "2026-11-30T10:00:00-23:59",
        "2026-11-30T10:00:00+14:01",
        "2026-02-30T10:00:00Z",
        "2026-11-30T25:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "yesterday",
    ],
)
def test_a_date_filter_refuses_what_postgresql_would_with_a_reason(api_client, url, value):
    name = "occurred_after" if url == EVENTS else "placed_before"
    body = refused(api_client.get(url, {name: value}), name)
    assert body["errors"][name]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2026-11-30T10:00:00+16:00", "The time has a UTC offset outside -14:00 to +14:00."),
        ("0001-01-01T00:00:00+01:00", "The time is out of range once moved to UTC."),
        ("2026-02-30T10:00:00Z", "Enter an ISO 8601 date and time, e.g. 2026-11-30T10:00:00Z."),
    ],
)
def test_a_refused_date_filter_says_why_in_a_sentence(api_client, value, reason):
    body = refused(api_client.get(EVENTS, {"occurred_after": value}), "occurred_after")
    assert body["errors"]["occurred_after"] == reason


def test_a_date_filter_takes_every_real_zone_and_compares_in_utc(api_client, sku, warehouse):
    services.record_event(
        kind="receipt",
        lines=[EventLine(sku=sku.code, location=warehouse.code, quantity=1)],
        idempotency_key="test:ten",
        source="test",
        occurred_at=datetime(2026, 11, 30, 10, 0, tzinfo=UTC),
    )

    def count(**filters) -> int:
        response = api_client.get(EVENTS, filters)
        assert response.status_code == 200, response.content
        return response.json()["count"]

    # 23:30 at +14:00 is 09:30 UTC, before ten; 23:30 at -12:00 the next day's 11:30 UTC
    assert count(occurred_after="2026-11-30T23:30:00+14:00") == 1
    assert count(occurred_after="2026-11-29T23:30:00-12:00") == 0
    assert count(occurred_before="2026-11-30T10:00:00Z") == 0
    assert count(occurred_before="2026-11-30T10:00:01") == 1  # no zone: UTC


# --- control characters -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/skus/A%00B/allocation/",
        "/api/v1/skus/A%00B/",
        "/api/v1/channels/web%00shop/",
        "/api/v1/events/?sku=TEE%00M",
        "/api/v1/balances/?location=WH%01EAST",
        "/api/v1/listings/?channel=web%1Fshop",
        "/api/v1/orders/?sku%00=x",
        "/webhooks/shopify/1/?x=%00",
    ],
)
def test_a_control_character_in_an_api_url_is_a_json_400(api_client, url):
    response = api_client.get(url)
    assert response.status_code == 400
    assert response.json()["detail"] == "The path or query string contains a control character."


def test_a_control_character_in_a_console_url_is_a_plain_400(client, user):
    client.force_login(user)
    response = client.get("/skus/TEE%00M/listings/")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")


def test_an_api_url_that_matches_no_route_is_a_json_404(api_client):
    response = api_client.get("/api/v1/rules/0.5/")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Not found."}


@pytest.mark.parametrize("code", ["A\x00B", "A\x01B", "TEE\tM"])
def test_a_sku_or_location_code_with_a_control_character_is_refused(api_client, code):
    refused(api_client.post(SKUS, {"code": code, "title": "x"}, format="json"), "code")
    location = {"code": code, "name": "x", "kind": "warehouse"}
    refused(api_client.post("/api/v1/locations/", location, format="json"), "code")


@pytest.mark.parametrize("value", ["PO\x0017", "PO\x0717"])
def test_an_event_reference_with_a_control_character_is_refused(api_client, sku, warehouse, value):
    body = {
        "kind": "receipt",
        "lines": [{"sku": "TEE-M", "location": "WH-EAST", "quantity": 1}],
        "reference": value,
    }
    response = api_client.post(EVENTS, body, format="json", headers={"Idempotency-Key": "k-1"})
    refused(response, "reference")
    assert not InventoryEvent.objects.exists()


@pytest.mark.parametrize("code", ["TEE\x00M", "TEE\x02M"])
def test_a_reservation_or_halt_naming_a_code_with_a_control_character_is_refused(
    api_client, sku, warehouse, code
):
    reservation = {"sku": code, "location": "WH-EAST", "quantity": 1, "partner": "p"}
    response = api_client.post(
        "/api/v1/reservations/", reservation, format="json", headers={"Idempotency-Key": "r-1"}
    )
    refused(response, "sku")
    channel = ChannelFactory(code="web-shop")
    halt = {"sku": "TEE-M", "channel": f"{channel.code}{code[3]}", "reason": "checking"}
    refused(api_client.post("/api/v1/halts/", halt, format="json"), "channel")
    run = {"channel": "web\x00shop"}
    refused(api_client.post("/api/v1/reconciliation-runs/", run, format="json"), "channel")


# --- console ids ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "form"),
    [
        ("channels:incident-list", {"action": "close", "incident": "abc"}),
        ("channels:incident-list", {"action": "close", "incident": "1.5"}),
        ("channels:incident-list", {"action": "close", "incident": "99999999999999999999"}),
        ("channels:incident-list", {"action": "close", "incident": "424242"}),
        ("channels:incident-list", {"action": "close", "incident": "x"}),
        ("channels:incident-list", {"action": "close"}),
        ("channels:quarantine", {"channel": "web\x00shop"}),
        ("channels:quarantine", {"channel": "no-such-channel"}),
    ],
)
def test_a_console_post_naming_a_row_that_cannot_exist_is_404(client, user, url, form):
    client.force_login(user)
    assert client.post(reverse(url), form).status_code == 404


@pytest.mark.django_db
def test_the_api_root_lists_every_collection(api_client):
    response = api_client.get("/api/v1/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    listed = response.json()
    # DESIGN's public interfaces, and every other collection the apps register
    for name in (
        "skus", "locations", "events", "balances", "channels", "listings", "orders",
        "reservations", "drift", "halts", "incidents", "rules", "returns", "customers",
        "shipments", "fulfilment-requests", "reconciliation-runs", "audit",
    ):  # fmt: skip
        assert listed[name] == f"http://testserver/api/v1/{name}/"
    for url in listed.values():
        assert api_client.get(url, HTTP_ACCEPT="application/json").status_code == 200, url
