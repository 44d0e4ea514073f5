import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from ledger import services
from ledger.models import Balance, InventoryEvent, LedgerEntry, Location, Sku
from tests.concurrency import run_concurrently

EVENTS = "/api/v1/events/"


def post_event(client, body, *, key="key-1"):
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post(EVENTS, body, format="json", headers=headers)


def post_raw(client, raw, *, key="key-1"):
    return client.generic(
        "POST", EVENTS, raw, content_type="application/json", headers={"Idempotency-Key": key}
    )


def receipt(quantity=5, *, sku="TEE-M", location="WH-EAST"):
    return {"kind": "receipt", "lines": [{"sku": sku, "location": location, "quantity": quantity}]}


def balances(sku):
    return {
        (b.location.code, b.bucket): b.quantity
        for b in Balance.objects.filter(sku=sku).select_related("location")
    }


# --- events ---------------------------------------------------------------------------------


def test_post_event_records_it_and_balances_show_it(api_client, sku, warehouse):
    # given another SKU with stock of its own
    other = Sku.objects.create(code="MUG-WHT")
    post_event(api_client, receipt(9, sku="MUG-WHT"), key="other")
    # when
    response = post_event(api_client, receipt(5) | {"reference": "PO-17"}, key="po-17")
    # then
    assert response.status_code == 201
    body = response.json()
    event = InventoryEvent.objects.get(idempotency_key="api:po-17")
    assert body["id"] == event.pk
    assert body["kind"] == "receipt"
    assert body["source"] == "api"
    assert body["actor"] == "ops"
    assert body["reference"] == "PO-17"
    assert body["lines"] == [{"sku": "TEE-M", "location": "WH-EAST", "quantity": 5}]
    assert body["entries"] == [
        {"sku": "TEE-M", "location": "WH-EAST", "bucket": "on_hand", "delta": 5}
    ]
    assert "Idempotent-Replayed" not in response.headers

    listed = api_client.get("/api/v1/balances/", {"sku": "TEE-M", "location": "WH-EAST"})
    assert listed.status_code == 200
    assert [
        (r["sku"], r["location"], r["bucket"], r["quantity"]) for r in listed.json()["results"]
    ] == [("TEE-M", "WH-EAST", "on_hand", 5)]
    everything = api_client.get("/api/v1/balances/").json()["results"]
    assert {(r["sku"], r["quantity"]) for r in everything} == {("TEE-M", 5), ("MUG-WHT", 9)}
    assert balances(other) == {("WH-EAST", "on_hand"): 9}


def test_events_list_filters_by_sku(api_client, sku, warehouse):
    Sku.objects.create(code="MUG-WHT")
    post_event(api_client, receipt(5), key="a")
    post_event(api_client, receipt(2, sku="MUG-WHT"), key="b")

    response = api_client.get(EVENTS, {"sku": "MUG-WHT"})

    assert response.status_code == 200
    assert [e["idempotency_key"] for e in response.json()["results"]] == ["api:b"]


def test_idempotency_key_header_is_required_and_nothing_is_recorded(api_client, sku, warehouse):
    for key in (None, "", "   ", "k" * 201):
        response = post_event(api_client, receipt(5), key=key)
        assert response.status_code == 400
        assert response.json()["code"] == "invalid"
        assert "Idempotency-Key" in response.json()["errors"]
    assert InventoryEvent.objects.count() == 0
    assert Balance.objects.count() == 0
    assert Sku.objects.get(code="TEE-M").allocation_dirty_since is None


def test_same_key_same_body_replays_the_original(api_client, sku, warehouse):
    first = post_event(api_client, receipt(5), key="retry-me")

    again = post_event(api_client, receipt(5), key="retry-me")

    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert InventoryEvent.objects.count() == 1
    assert LedgerEntry.objects.count() == 1
    assert balances(sku) == {("WH-EAST", "on_hand"): 5}


def test_same_key_different_body_is_a_conflict_and_changes_nothing(api_client, sku, warehouse):
    first = post_event(api_client, receipt(5), key="once")

    response = post_event(api_client, receipt(6), key="once")

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_conflict"
    assert response.json()["event_id"] == first.json()["id"]
    assert InventoryEvent.objects.count() == 1
    assert LedgerEntry.objects.count() == 1
    assert balances(sku) == {("WH-EAST", "on_hand"): 5}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_one_key_posted_concurrently_records_one_event(user, sku, warehouse):
    # given one token and 20 clients that will all send the same request at once
    token = Token.objects.create(user=user)

    def send(_):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        response = post_event(client, receipt(3), key="burst")
        return response.status_code, response.json(), response.headers.get("Idempotent-Replayed")

    # when
    outcomes = run_concurrently(send, [(n,) for n in range(20)])

    # then
    assert [o.error for o in outcomes] == [None] * 20
    statuses, bodies, replayed = zip(*(o.value for o in outcomes), strict=True)
    event = InventoryEvent.objects.get()
    assert statuses == (201,) * 20
    assert {body["id"] for body in bodies} == {event.pk}
    assert all(body == bodies[0] for body in bodies)
    assert sorted(replayed, key=str) == [None] + ["true"] * 19  # one recorded, 19 replays
    assert LedgerEntry.objects.count() == 1
    assert balances(sku) == {("WH-EAST", "on_hand"): 3}


def _line(**changes):
    return {"sku": "TEE-M", "location": "WH-EAST", "quantity": 1} | changes


def _event(kind="receipt", **changes):
    return {"kind": kind, "lines": [_line(**changes)]}


# (body, status, code, field in errors or None); a str body is sent as raw bytes.
BAD_INPUTS = {
    "unknown sku": (_event(sku="NOPE"), 400, "invalid_event", "lines[0].sku"),
    "sku with a slash": (_event(sku="TEE/M"), 400, "invalid", "lines[0].sku"),
    "unknown location": (_event(location="MARS"), 400, "invalid_event", "lines[0].location"),
    "unknown to_location": (
        _event("transfer_out", to_location="MARS"),
        400,
        "invalid_event",
        "lines[0].to_location",
    ),
    "negative receipt": (_event(quantity=-3), 400, "invalid", "lines[0].quantity"),
    "zero quantity": (_event(quantity=0), 400, "invalid_event", "lines[0].quantity"),
    "no kind": ({"lines": [_line()]}, 400, "invalid", "kind"),
    "no lines": ({"kind": "receipt"}, 400, "invalid", "lines"),
    "empty lines": ({"kind": "receipt", "lines": []}, 400, "invalid", "lines"),
    "line without sku": (
        {"kind": "receipt", "lines": [{"location": "WH-EAST", "quantity": 1}]},
        400,
        "invalid",
        "lines[0].sku",
    ),
    "line not an object": ({"kind": "receipt", "lines": [5]}, 400, "invalid", "lines[0]"),
    "unknown kind": (_event("teleport"), 400, "invalid", "kind"),
    "quantity 10**12": (_event(quantity=10**12), 400, "invalid", "lines[0].quantity"),
    "quantity 10**30": (_event(quantity=10**30), 400, "invalid", "lines[0].quantity"),
    "501 lines": (
        {"kind": "receipt", "lines": [_line()] * 501},
        400,
        "invalid",
        "lines",
    ),
    "quantity as a string": (_event(quantity="5"), 400, "invalid", "lines[0].quantity"),
    "quantity as a decimal": (_event(quantity=5.5), 400, "invalid", "lines[0].quantity"),
    "quantity 5.0": (_event(quantity=5.0), 400, "invalid", "lines[0].quantity"),
    "quantity true": (_event(quantity=True), 400, "invalid", "lines[0].quantity"),
    "quantity null": (_event(quantity=None), 400, "invalid", "lines[0].quantity"),
    "lines as a dict": ({"kind": "receipt", "lines": _line()}, 400, "invalid", "lines"),
    "kind as a number": ({"kind": 5, "lines": [_line()]}, 400, "invalid", "kind"),
    "kind as a list": ({"kind": ["receipt"], "lines": [_line()]}, 400, "invalid", "kind"),
    "reason too long": (_event() | {"reason": "x" * 501}, 400, "invalid", "reason"),
    "occurred_at not a time": (
        _event() | {"occurred_at": "yesterday"},
        400,
        "invalid",
        "occurred_at",
    ),
    "occurred_at out of range": (
        _event() | {"occurred_at": "0001-01-01T00:00:00+14:00"},
        400,
        "invalid",
        "occurred_at",
    ),
    "bucket not allowed for a receipt": (
        _event(bucket="reserved"),
        400,
        "invalid_event",
        "lines[0].bucket",
    ),
    "bucket unknown": (_event("write_off", bucket="lost"), 400, "invalid", "lines[0].bucket"),
    "stage on a receipt": (_event(stage="announced"), 400, "invalid_event", "lines[0].stage"),
    "fba snapshot at a warehouse": (
        _event("fba_snapshot", bucket="on_hand"),
        400,
        "invalid_event",
        "lines[0].location",
    ),
    "shipment beyond on hand": (
        _event("shipment", quantity=4),
        409,
        "insufficient_stock",
        "lines[0].quantity",
    ),
    # Holds have their own door: a raw reserve or release would leave a Reservation disagreeing
    # with the reserved bucket.
    "reserve through the events API": (_event("reserve"), 400, "recorded_elsewhere", "kind"),
    "release through the events API": (_event("release"), 400, "recorded_elsewhere", "kind"),
    "body a JSON list": ("[]", 400, "invalid", "non_field_errors"),
    "body a JSON string": ('"receipt"', 400, "invalid", "non_field_errors"),
    "body not JSON": ("kind=receipt", 400, "parse_error", None),
    "body NaN": ('{"kind": "receipt", "lines": NaN}', 400, "parse_error", None),
    "body truncated": ('{"kind": "receipt", "lines": [', 400, "parse_error", None),
    "body not UTF-8": (b'{"kind": "\xff"}', 400, "parse_error", None),
    "body deeply nested": ("[" * 100_000 + "]" * 100_000, 400, "parse_error", None),
    "lone surrogate in a string": (
        '{"kind": "receipt", "reason": "\\ud800", "lines": [{"sku": "TEE-M", "location": "WH-EAST", "quantity": 1}]}',
        400,
        "invalid",
        "reason",
    ),
    "NUL in reason": (_event() | {"reason": "a\x00b"}, 400, "invalid", "reason"),
    "10 MB body": (
        json.dumps(_event() | {"reason": "x" * 10_000_000}),
        413,
        "payload_too_large",
        None,
    ),
}


@pytest.mark.parametrize(("body", "status", "code", "field"), BAD_INPUTS.values(), ids=BAD_INPUTS)
def test_bad_input_is_refused_with_a_json_error_and_records_nothing(
    api_client, sku, warehouse, receive, body, status, code, field
):
    # given 3 on hand, so only the shipment case breaks a stock rule
    receive(sku, warehouse, 3)
    events_before = InventoryEvent.objects.count()
    # when
    if isinstance(body, str | bytes):
        response = post_raw(api_client, body)
    else:
        response = post_event(api_client, body)
    # then
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == "application/json"
    answer = response.json()
    assert answer["code"] == code
    assert answer["detail"]
    if field is not None:
        assert field in answer["errors"], answer["errors"]
    assert InventoryEvent.objects.count() == events_before
    assert not InventoryEvent.objects.filter(idempotency_key="api:key-1").exists()
    assert balances(sku) == {("WH-EAST", "on_hand"): 3}


@pytest.mark.parametrize("kind", ["reserve", "release"])
def test_holds_are_refused_with_the_door_to_use_and_nothing_is_stored(
    api_client, sku, warehouse, receive, kind
):
    # given stock, and a partner's hold made through the reservations service
    receive(sku, warehouse, 5)
    hold = api_client.post(
        "/api/v1/reservations/",
        {"sku": "TEE-M", "location": "WH-EAST", "quantity": 2, "partner": "Wholesale Co"},
        format="json",
        headers={"Idempotency-Key": "po-7"},
    )
    assert hold.status_code == 201
    events = InventoryEvent.objects.count()
    # when a raw hold or release comes through the events API
    response = post_event(api_client, _event(kind, quantity=2), key="raw")
    # then it is refused, pointing at the reservations API, and the hold is untouched
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "recorded_elsewhere"
    assert body["use"] == "/api/v1/reservations/"
    assert "/api/v1/reservations/" in body["errors"]["kind"]
    assert InventoryEvent.objects.count() == events
    assert not InventoryEvent.objects.filter(idempotency_key="api:raw").exists()
    assert balances(sku) == {("WH-EAST", "on_hand"): 5, ("WH-EAST", "reserved"): 2}
    assert Sku.objects.get(code="TEE-M").allocation_dirty_since is not None  # from the hold


def test_a_retry_of_a_hold_recorded_before_the_door_closed_still_replays(
    api_client, sku, warehouse, receive
):
    # given a reserve event the events API recorded before holds had a door of their own
    receive(sku, warehouse, 5)
    old = services.reserve(
        sku="TEE-M", location="WH-EAST", quantity=2, idempotency_key="api:old", source="api"
    )
    # when its client retries it, and when another body comes under the same key
    again = post_event(api_client, _event("reserve", quantity=2), key="old")
    other = post_event(api_client, _event("reserve", quantity=3), key="old")
    # then the retry answers the original event and the other body is a conflict
    assert again.status_code == 201
    assert again.json()["id"] == old.event.pk
    assert again.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_conflict"
    assert balances(sku) == {("WH-EAST", "on_hand"): 5, ("WH-EAST", "reserved"): 2}


def test_a_non_ascii_idempotency_key_is_refused_not_stored_garbled(api_client, sku, warehouse):
    # WSGI passes header bytes on as latin-1 (PEP 3333): this is "clé-1" sent as UTF-8.
    as_received = "clé-1".encode().decode("latin-1")
    for key in (as_received, "clé-1", "tab\there", "bell\x07"):
        response = post_event(api_client, receipt(5), key=key)
        assert response.status_code == 400, key
        assert response.json()["code"] == "invalid"
        assert "ASCII" in response.json()["errors"]["Idempotency-Key"]
    assert InventoryEvent.objects.count() == 0
    assert Balance.objects.count() == 0
    # a printable ASCII key with inner spaces is still a key
    assert post_event(api_client, receipt(5), key="PO 17/2").status_code == 201
    assert InventoryEvent.objects.get().idempotency_key == "api:PO 17/2"


_json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["receipt", "shipment", "reserve", "TEE-M", "WH-EAST", "on_hand", 1, 0])
)
_json = st.recursive(
    _json_leaf,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(["kind", "lines", "sku", "location", "quantity", "bucket", "stage"])
            | st.text(max_size=8),
            children,
            max_size=6,
        )
    ),
    max_leaves=25,
)
_event_like = st.fixed_dictionaries(
    {},
    optional={
        "kind": st.sampled_from(["receipt", "sale", "shipment", "reserve", "write_off"]) | _json,
        "lines": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "sku": st.sampled_from(["TEE-M", "NOPE", ""]) | _json,
                    "location": st.sampled_from(["WH-EAST", "MARS"]) | _json,
                    "quantity": st.integers(min_value=-5, max_value=10) | _json,
                    "bucket": st.sampled_from(["on_hand", "reserved", "x"]) | _json,
                },
            ),
            max_size=4,
        )
        | _json,
        "reason": _json,
        "occurred_at": st.sampled_from(["2026-01-31T12:00:00Z", "2026-01-31"]) | _json,
    },
)


@pytest.mark.slow
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=_event_like | _json)
def test_fuzzed_bodies_never_cause_a_server_error(api_client, sku, warehouse, body):
    response = post_event(api_client, body, key="fuzz")
    assert response.status_code < 500, (body, response.content[:500])
    if response.status_code >= 400:  # a fuzzed body is sometimes a valid event
        assert "code" in response.json()
    else:
        assert response.status_code == 201
        assert response.json()["kind"] == body["kind"]


# --- authentication, catalog, schema ---------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/skus/"),
        ("get", "/api/v1/balances/"),
        ("get", EVENTS),
        ("post", EVENTS),
        ("get", "/api/v1/locations/"),
    ],
)
def test_unauthenticated_requests_are_refused(method, path):
    client = APIClient()
    response = (
        client.post(path, receipt(5), format="json") if method == "post" else client.get(path)
    )
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert InventoryEvent.objects.count() == 0


@pytest.mark.django_db
def test_a_wrong_token_is_refused():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = client.get("/api/v1/skus/")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_sku_create_read_and_duplicate(api_client):
    created = api_client.post(
        "/api/v1/skus/",
        {"code": "CAP-OS", "title": "Canvas cap", "tags": ["accessories"], "weight_grams": 120},
        format="json",
    )
    assert created.status_code == 201
    assert created.json() == {
        "code": "CAP-OS",
        "title": "Canvas cap",
        "barcode": "",
        "weight_grams": 120,
        "is_bundle": False,
        "tags": ["accessories"],
        "velocity_tier": "slow",
        "supplier": "",
    }

    read = api_client.get("/api/v1/skus/CAP-OS/")
    assert read.status_code == 200
    assert read.json() == created.json()

    duplicate = api_client.post("/api/v1/skus/", {"code": "CAP-OS"}, format="json")
    assert duplicate.status_code == 400
    assert duplicate.json()["code"] == "invalid"
    assert "code" in duplicate.json()["errors"]
    assert Sku.objects.filter(code="CAP-OS").count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"code": "CAP/OS"}, "code"),
        ({"code": "CA\tP"}, "code"),
        ({"code": "CA\x00P"}, "code"),
        ({"code": ""}, "code"),
        ({"code": "x" * 65}, "code"),
        ({}, "code"),
        ({"code": "CAP", "weight_grams": "120"}, "weight_grams"),
        ({"code": "CAP", "weight_grams": -1}, "weight_grams"),
        ({"code": "CAP", "tags": "accessories"}, "tags"),
        ({"code": "CAP", "velocity_tier": "warp"}, "velocity_tier"),
    ],
)
def test_sku_create_refuses_bad_fields(api_client, body, field):
    response = api_client.post("/api/v1/skus/", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert field in response.json()["errors"]
    assert Sku.objects.count() == 0


def test_unknown_sku_is_404(api_client):
    response = api_client.get("/api/v1/skus/NOPE/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_delete_sku_without_history_works(api_client):
    Sku.objects.create(code="CAP-OS")
    response = api_client.delete("/api/v1/skus/CAP-OS/")
    assert response.status_code == 204
    assert not Sku.objects.filter(code="CAP-OS").exists()


def test_delete_sku_with_ledger_history_is_a_conflict(api_client, sku, warehouse, receive):
    receive(sku, warehouse, 5)

    response = api_client.delete("/api/v1/skus/TEE-M/")

    assert response.status_code == 409
    assert response.json()["code"] == "protected"
    assert Sku.objects.filter(code="TEE-M").exists()
    assert balances(sku) == {("WH-EAST", "on_hand"): 5}


def test_delete_location_with_ledger_history_is_a_conflict(api_client, sku, warehouse, receive):
    receive(sku, warehouse, 5)
    response = api_client.delete("/api/v1/locations/WH-EAST/")
    assert response.status_code == 409
    assert response.json()["code"] == "protected"


def test_locations_list(api_client, warehouse, store):
    response = api_client.get("/api/v1/locations/")
    assert response.status_code == 200
    assert [(r["code"], r["kind"]) for r in response.json()["results"]] == [
        ("STORE-SOHO", "store"),
        ("WH-EAST", "warehouse"),
    ]
    filtered = api_client.get("/api/v1/locations/", {"kind": "store"})
    assert [r["code"] for r in filtered.json()["results"]] == ["STORE-SOHO"]


def test_openapi_schema_lists_the_events_endpoint(api_client):
    response = api_client.get("/api/v1/schema/")
    assert response.status_code == 200
    text = response.content.decode()
    assert text.startswith("openapi: 3")
    assert "/api/v1/events/" in text
    assert "Idempotency-Key" in text


def test_swagger_docs_are_served_without_a_cdn(api_client):
    response = api_client.get("/api/v1/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    for cdn in ("cdn.jsdelivr.net", "unpkg.com", "cdnjs", "googleapis"):
        assert cdn not in html


@pytest.mark.parametrize("path", ["/api/v1/skus/A%20/", "/api/v1/locations/%20x/"])
def test_a_code_that_cannot_exist_is_404_not_a_database_error(api_client, path):
    response = api_client.get(path)
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Not found."}


@pytest.mark.parametrize("path", ["/api/v1/skus/A%00B/", "/api/v1/locations/%00/"])
def test_a_code_with_a_nul_is_refused_before_the_database(api_client, path):
    response = api_client.get(path)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_a_sku_code_cannot_be_renamed(api_client, sku, warehouse, receive):
    receive(sku, warehouse, 5)

    response = api_client.patch("/api/v1/skus/TEE-M/", {"code": "TEE-X"}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"code": "A code cannot change once created."}
    assert list(Sku.objects.values_list("code", flat=True)) == ["TEE-M"]


def test_a_sku_title_can_be_changed(api_client, sku):
    response = api_client.patch(
        "/api/v1/skus/TEE-M/", {"code": "TEE-M", "title": "Tee (M)"}, format="json"
    )
    assert response.status_code == 200
    assert Sku.objects.get(code="TEE-M").title == "Tee (M)"


@pytest.mark.parametrize("time_zone", ["Mars/Base", "America", "../etc/passwd", ""])
def test_a_location_needs_a_real_time_zone(api_client, time_zone):
    response = api_client.post(
        "/api/v1/locations/",
        {"code": "WH-MARS", "name": "Mars", "time_zone": time_zone},
        format="json",
    )
    assert response.status_code == 400
    assert "time_zone" in response.json()["errors"]
    assert not Location.objects.exists()


def test_a_location_is_created_with_its_time_zone(api_client):
    response = api_client.post(
        "/api/v1/locations/",
        {
            "code": "STORE-LA",
            "name": "LA store",
            "kind": "store",
            "time_zone": "America/Los_Angeles",
        },
        format="json",
    )
    assert response.status_code == 201
    assert Location.objects.get(code="STORE-LA").time_zone == "America/Los_Angeles"
