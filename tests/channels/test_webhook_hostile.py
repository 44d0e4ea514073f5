"""Hostile deliveries to both webhook endpoints, through the WSGI application as a server runs
it (the Shopify fast path, Django for Amazon): every validly signed delivery that cannot be
stored answers 4xx with a JSON reason and stores nothing; the signature or API key is checked
before anything else the sender could get wrong; a chunked body is read and stored."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from django.db import connection
from werkzeug.test import Client, EnvironBuilder, run_wsgi_app

from channels.lanes.amazon import inbound as amazon_inbound
from channels.lanes.amazon import notifications
from channels.lanes.shopify import webhooks as shopify_webhooks
from channels.models import InboundEvent
from inventory_sync.lib.inputs import holds_nul
from inventory_sync.wsgi import application
from tests.contracts import AMAZON
from tests.factories import ChannelFactory, notified_amazon_channel

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "shpss_hostile"
KEY = "notification-key-hostile"
ORDER = json.dumps({"id": 1, "created_at": "2026-11-30T10:00:00Z"}).encode()


@pytest.fixture
def shop(db):
    channel = ChannelFactory(code="hostile-shop")
    channel.credentials = {"access_token": "shpat_x", "webhook_secret": SECRET}
    channel.save()
    return channel


@pytest.fixture
def amazon(db):
    return notified_amazon_channel("hostile-amazon", KEY)


@pytest.fixture
def small_bodies(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    return 4096


def shopify_headers(body: bytes, *, secret: str = SECRET, **changes: str) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Hmac-Sha256": shopify_webhooks.sign(secret, body),
        "X-Shopify-Shop-Domain": "hostile.myshopify.com",
        "X-Shopify-API-Version": "2026-04",
        "X-Shopify-Event-Id": "e-1",
        "X-Shopify-Webhook-Id": "w-1",
        "X-Shopify-Triggered-At": "2026-11-30T10:00:00.123Z",
    }
    headers.update({name.replace("_", "-"): value for name, value in changes.items()})
    return headers


def post_shopify(channel_id: int, body: bytes, **changes: str):
    return Client(application).post(
        f"/webhooks/shopify/{channel_id}/", data=body, headers=shopify_headers(body, **changes)
    )


def order_change(notification_id: str = "n-1") -> dict:
    schema = AMAZON / "schemas" / "notifications" / "OrderChangeNotification.json"
    raw = json.loads(schema.read_text())["examples"][0]
    raw["NotificationMetadata"]["NotificationId"] = notification_id
    return raw


def post_amazon(channel_id: int, body: dict | bytes, *, key: str = KEY):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Client(application).post(
        f"/webhooks/amazon/{channel_id}/",
        data=data,
        headers={"Content-Type": "application/json", "X-Api-Key": key},
    )


def post_chunked(path: str, body: bytes, headers: dict[str, str], *, terminated: bool = True):
    """A chunked request as a WSGI server hands it over: no CONTENT_LENGTH, the de-chunked body
    on wsgi.input, and `wsgi.input_terminated` when the server ends the stream there."""
    environ = EnvironBuilder(path=path, method="POST", headers=headers).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    environ["wsgi.input"] = io.BytesIO(body)
    if terminated:
        environ["wsgi.input_terminated"] = True
    answer, status, response_headers = run_wsgi_app(application, environ)
    return int(status.split()[0]), response_headers, b"".join(answer)


def refused(response, status: int) -> str:
    assert response.status_code == status, response.get_data()
    assert response.headers["Content-Type"] == "application/json"
    assert not InboundEvent.objects.exists()
    return response.json["detail"]


# --- Shopify ------------------------------------------------------------------------------------


def test_a_signed_delivery_with_every_header_in_order_is_stored(shop):
    response = post_shopify(shop.pk, ORDER)
    assert (response.status_code, response.json) == (200, {"status": "received"})
    event = InboundEvent.objects.get()
    assert event.occurred_at.isoformat() == "2026-11-30T10:00:00.123000+00:00"
    assert event.headers["X-Shopify-Shop-Domain"] == "hostile.myshopify.com"


@pytest.mark.parametrize(
    ("header", "value", "reason"),
    [
        ("X-Shopify-Topic", "orders/" + "x" * 63, "topic is longer than 64"),
        ("X-Shopify-Topic", "ORDERS CREATE", "not a Shopify topic"),
        ("X-Shopify-Topic", "orders/create\x00", "not a Shopify topic"),
        ("X-Shopify-Event-Id", "e" * 300, "event id (with its topic) is longer than 255"),
        ("X-Shopify-Event-Id", "e\x00", "control character"),
        ("X-Shopify-Webhook-Id", "w" * 300, "delivery id is longer than 255"),
        ("X-Shopify-Shop-Domain", "s" * 300, "longer than 255"),
        ("X-Shopify-Shop-Domain", "shop/../etc", "not a domain name"),
        ("X-Shopify-API-Version", "2026-04" * 50, "longer than 255"),
        ("X-Shopify-Triggered-At", "2026-02-30T10:00:00Z", "not a real date"),
        ("X-Shopify-Triggered-At", "2026-11-30T10:00:00+16:00", "UTC offset"),
        ("X-Shopify-Triggered-At", "0001-01-01T00:00:00+01:00", "out of range"),
        ("X-Shopify-Triggered-At", "yesterday", "not an ISO 8601"),
    ],
)
def test_a_signed_delivery_with_a_header_that_cannot_be_stored_is_a_bad_request(
    shop, header, value, reason
):
    detail = refused(post_shopify(shop.pk, ORDER, **{header: value}), 400)
    assert reason in detail


@pytest.mark.parametrize(
    "body", [b"{not json", b"[1, 2]", b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000]
)
def test_a_signed_body_that_is_not_a_json_object_is_a_bad_request(shop, body, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000_000
    assert "JSON" in refused(post_shopify(shop.pk, body), 400)


NUL_REFUSED = "The body holds a NUL character (\\u0000), which cannot be stored."


@pytest.mark.parametrize(
    "payload",
    [
        {"id": 1, "created_at": "2026-11-30T10:00:00Z", "note": "gift\x00wrap"},
        {"id": 1, "line_items": [{"id": 7, "properties": [{"name": "x", "value": "\x00"}]}]},
        {"id": 1, "note_attributes": {"gift\x00": "yes"}},
    ],
    ids=["string", "nested string", "key"],
)
def test_a_signed_body_holding_a_nul_character_is_a_bad_request(shop, payload):
    """PostgreSQL stores no NUL in text or jsonb: stored, it would fail at ingest for ever."""
    body = json.dumps(payload).encode()
    assert b"\\u0000" in body
    assert refused(post_shopify(shop.pk, body), 400) == NUL_REFUSED


def test_the_django_view_refuses_a_nul_body_like_the_fast_path(shop, client):
    """The same receiver behind Django (a server without the WSGI intake in front)."""
    body = json.dumps({"id": 1, "note": "\x00"}).encode()
    headers = shopify_headers(body)
    del headers["Content-Type"]
    response = client.post(
        f"/webhooks/shopify/{shop.pk}/", body, content_type="application/json", headers=headers
    )
    assert (response.status_code, response.json()) == (400, {"detail": NUL_REFUSED})
    assert not InboundEvent.objects.exists()


def test_an_escaped_backslash_before_u0000_is_no_nul_and_is_stored(shop):
    body = json.dumps({"id": 1, "created_at": "2026-11-30T10:00:00Z", "note": "C:\\u0000"})
    assert post_shopify(shop.pk, body.encode()).status_code == 200
    assert InboundEvent.objects.count() == 1


def test_a_nul_is_found_at_any_depth_without_recursion():
    deep: object = "\x00"
    for level in range(50_000):
        deep = [deep] if level % 2 else {"k": deep}
    assert holds_nul(deep)
    assert not holds_nul({"a": [1, 2.5, None, True, {"b": "\\u0000"}]})


def test_the_signature_is_checked_before_anything_else_the_sender_may_get_wrong(shop):
    unsigned = post_shopify(
        shop.pk,
        b"{not json",
        secret="wrong",
        X_Shopify_Topic="x" * 70,
        X_Shopify_Event_Id="e" * 300,
        X_Shopify_Triggered_At="2026-02-30T10:00:00Z",
    )
    assert refused(unsigned, 401) == "Invalid webhook signature."


def test_an_unknown_channel_or_one_of_another_kind_is_not_found(shop, amazon):
    assert refused(post_shopify(424242, ORDER), 404) == "No such Shopify channel."
    assert refused(post_shopify(amazon.pk, ORDER), 404) == "No such Shopify channel."


def test_an_oversized_body_is_a_json_413_before_it_is_read(shop, small_bodies):
    body = json.dumps({"id": 1, "note": "x" * small_bodies}).encode()
    assert "larger than 4096" in refused(post_shopify(shop.pk, body), 413)


def test_a_content_length_that_is_not_a_number_is_a_bad_request(shop):
    environ = EnvironBuilder(
        path=f"/webhooks/shopify/{shop.pk}/", method="POST", headers=shopify_headers(ORDER)
    ).get_environ()
    environ["CONTENT_LENGTH"] = "-5"
    environ["wsgi.input"] = io.BytesIO(ORDER)
    answer, status, _ = run_wsgi_app(application, environ)
    assert status.startswith("400")
    assert json.loads(b"".join(answer)) == {"detail": "Content-Length is not a number."}
    assert not InboundEvent.objects.exists()


def test_a_chunked_signed_delivery_is_read_and_stored(shop):
    status, _, answer = post_chunked(f"/webhooks/shopify/{shop.pk}/", ORDER, shopify_headers(ORDER))
    assert (status, json.loads(answer)) == (200, {"status": "received"})
    assert bytes(InboundEvent.objects.get().body) == ORDER


def test_an_oversized_chunked_body_is_a_json_413(shop, small_bodies):
    body = json.dumps({"id": 1, "note": "x" * small_bodies}).encode()
    status, headers, answer = post_chunked(
        f"/webhooks/shopify/{shop.pk}/", body, shopify_headers(body)
    )
    assert (status, headers["Content-Type"]) == (413, "application/json")
    assert "larger than 4096" in json.loads(answer)["detail"]
    assert not InboundEvent.objects.exists()


def test_a_chunked_body_a_server_does_not_end_is_refused_not_waited_for(shop):
    status, _, answer = post_chunked(
        f"/webhooks/shopify/{shop.pk}/", ORDER, shopify_headers(ORDER), terminated=False
    )
    assert status == 411
    assert "Content-Length" in json.loads(answer)["detail"]
    assert not InboundEvent.objects.exists()


def test_a_redelivery_with_another_body_is_refused_and_not_counted(shop):
    assert post_shopify(shop.pk, ORDER).status_code == 200
    other = json.dumps({"id": 1, "created_at": "2026-11-30T11:00:00Z"}).encode()
    assert post_shopify(shop.pk, other).status_code == 409
    assert InboundEvent.objects.get().deliveries == 1
    assert post_shopify(shop.pk, ORDER).json == {"status": "duplicate"}
    assert InboundEvent.objects.get().deliveries == 2


# --- Amazon -------------------------------------------------------------------------------------


def test_the_notification_types_refused_are_the_ones_the_lane_has_no_handler_for():
    assert set(notifications.TYPES) <= set(amazon_inbound.HANDLERS)


def with_changes(notification: dict, **changes) -> dict:
    for path, value in changes.items():
        target = notification
        *parents, leaf = path.split("__")
        for name in parents:
            target = target[name]
        target[leaf] = value
    return notification


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"NotificationType": "ANY_OFFER_CHANGED"}, "NotificationType must be one of"),
        ({"NotificationType": "X" * 70}, "NotificationType must be one of"),
        ({"NotificationType": {"kind": "ORDER_CHANGE"}}, "NotificationType must be one of"),
        ({"NotificationMetadata__NotificationId": "n" * 300}, "longer than 255"),
        ({"NotificationMetadata__NotificationId": "n\x01"}, "control character"),
        ({"NotificationMetadata__NotificationId": {"id": 1}}, "NotificationId missing"),
        ({"NotificationMetadata": "n-1"}, "NotificationId missing"),
        ({"EventTime": "2026-02-30T10:00:00Z"}, "not a real date"),
        ({"EventTime": "2026-11-30T10:00:00-16:00"}, "UTC offset"),
        ({"EventTime": "soon"}, "not an ISO 8601"),
        (
            {"Payload__OrderChangeNotification__Summary__MarketplaceId": "ATV\x01PDK"},
            "not a marketplace id",
        ),
        (
            {"Payload__OrderChangeNotification__Summary__MarketplaceId": "M" * 100},
            "not a marketplace id",
        ),
    ],
)
def test_an_authentic_notification_that_cannot_be_stored_is_a_bad_request(amazon, changes, reason):
    detail = refused(post_amazon(amazon.pk, with_changes(order_change(), **changes)), 400)
    assert reason in detail


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2026-11-30T10:00:00+16:00", "{} has a UTC offset outside -14:00 to +14:00."),
        ("0001-01-01T00:00:00+01:00", "{} is out of range once moved to UTC."),
        ("2026-02-30T10:00:00Z", "{} is not a real date and time (day is out of range for month)."),
        ("yesterday", "{} is not an ISO 8601 date and time."),
    ],
)
def test_a_time_that_cannot_be_stored_is_refused_in_a_sentence_that_names_it(
    shop, amazon, value, reason
):
    shopify = refused(post_shopify(shop.pk, ORDER, X_Shopify_Triggered_At=value), 400)
    assert shopify == reason.format("X-Shopify-Triggered-At")
    notification = with_changes(order_change(), EventTime=value)
    assert refused(post_amazon(amazon.pk, notification), 400) == reason.format("EventTime")


@pytest.mark.parametrize(
    "changes",
    [
        {"Payload__OrderChangeNotification__SellerId": "A3TH\x00"},
        {"Payload__OrderChangeNotification__Summary__Notes": ["ok", {"x": "\x00"}]},
        {"NotificationMetadata__Extra\x00": "x"},
    ],
    ids=["string", "nested string", "key"],
)
def test_an_authentic_notification_holding_a_nul_character_is_a_bad_request(amazon, changes):
    detail = refused(post_amazon(amazon.pk, with_changes(order_change(), **changes)), 400)
    assert detail == "body holds a NUL character (\\u0000), which cannot be stored"


def test_an_eventbridge_envelope_holding_a_nul_character_is_a_bad_request(amazon):
    event = {"version": "0", "id": "eb-1", "detail-type": "ORDER_CHANGE", "time": "now"}
    event |= {"resources": ["arn\x00"], "detail": order_change()}
    assert "NUL character" in refused(post_amazon(amazon.pk, event), 400)


@pytest.mark.parametrize(
    "envelope",
    [
        {"source": "aws.partner/sellingpartnerapi\x01"},
        {"id": "i" * 300},
        {"time": "t" * 300},
    ],
)
def test_an_eventbridge_envelope_that_cannot_be_stored_is_a_bad_request(amazon, envelope):
    event = {"version": "0", "id": "eb-1", "detail-type": "ORDER_CHANGE", "time": "now"}
    event |= envelope | {"detail": order_change()}
    refused(post_amazon(amazon.pk, event), 400)


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'"x"', b"[" * 100_000])
def test_an_authentic_body_that_is_not_a_notification_is_a_bad_request(amazon, body, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000_000
    refused(post_amazon(amazon.pk, body), 400)


def test_the_api_key_is_checked_before_anything_else_the_sender_may_get_wrong(amazon):
    broken = with_changes(order_change("n" * 300), NotificationType="X" * 70, EventTime="x")
    assert "X-Api-Key" in refused(post_amazon(amazon.pk, broken, key="wrong"), 401)


def test_an_unknown_amazon_channel_or_one_of_another_kind_is_not_found(amazon, shop):
    assert refused(post_amazon(424242, order_change()), 404) == "No such Amazon channel."
    assert refused(post_amazon(shop.pk, order_change()), 404) == "No such Amazon channel."


def test_an_oversized_notification_is_a_json_413(amazon, small_bodies):
    body = order_change()
    body["padding"] = "x" * small_bodies
    assert "larger than 4096" in refused(post_amazon(amazon.pk, body), 413)


def test_a_chunked_notification_is_read_and_stored(amazon):
    body = json.dumps(order_change("n-chunked")).encode()
    headers = {"Content-Type": "application/json", "X-Api-Key": KEY}
    status, _, answer = post_chunked(f"/webhooks/amazon/{amazon.pk}/", body, headers)
    assert (status, json.loads(answer)) == (200, {"status": "received"})
    assert InboundEvent.objects.get().dedupe_key == "notification:n-chunked"


def test_an_oversized_chunked_notification_is_a_json_413(amazon, small_bodies):
    body = json.dumps(order_change() | {"padding": "x" * small_bodies}).encode()
    headers = {"Content-Type": "application/json", "X-Api-Key": KEY}
    status, _, answer = post_chunked(f"/webhooks/amazon/{amazon.pk}/", body, headers)
    assert status == 413
    assert "larger than 4096" in json.loads(answer)["detail"]
    assert not InboundEvent.objects.exists()


# --- over real HTTP -----------------------------------------------------------------------------


@pytest.fixture
def gunicorn(shop, amazon, tmp_path):
    """gunicorn serving the project's WSGI application on the test database, on a socket this
    test bound and listens on (so requests queue until it accepts: nothing to wait for)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    database = connection.settings_dict
    env = os.environ | {
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}"
        f"/{database['NAME']}",
        "DJANGO_SETTINGS_MODULE": "inventory_sync.settings_test",
    }
    log = open(tmp_path / "gunicorn.log", "wb")  # noqa: SIM115 — the child keeps it
    child = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"fd://{listener.fileno()}",
         "--workers", "1", "--log-level", "warning", "inventory_sync.wsgi:application"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        pass_fds=[listener.fileno()],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    log.close()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        child.terminate()
        child.wait(timeout=30)
        listener.close()


def chunks(body: bytes, size: int = 7):
    for start in range(0, len(body), size):
        yield body[start : start + size]


@pytest.mark.slow
def test_chunked_deliveries_over_real_http_are_stored_and_an_oversized_one_refused(
    gunicorn, shop, amazon
):
    shopify = requests.post(
        f"{gunicorn}/webhooks/shopify/{shop.pk}/",
        data=chunks(ORDER),
        headers=shopify_headers(ORDER),
        timeout=30,
    )
    assert (shopify.status_code, shopify.json()) == (200, {"status": "received"})
    notification = json.dumps(order_change("n-http")).encode()
    amazon_answer = requests.post(
        f"{gunicorn}/webhooks/amazon/{amazon.pk}/",
        data=chunks(notification, 512),
        headers={"Content-Type": "application/json", "X-Api-Key": KEY},
        timeout=30,
    )
    assert (amazon_answer.status_code, amazon_answer.json()) == (200, {"status": "received"})
    huge = b'{"id": 2, "note": "' + b"x" * 3_000_000 + b'"}'
    oversized = requests.post(
        f"{gunicorn}/webhooks/shopify/{shop.pk}/",
        data=chunks(huge, 64 * 1024),
        headers=shopify_headers(huge, X_Shopify_Event_Id="e-2"),
        timeout=30,
    )
    assert oversized.status_code == 413
    assert oversized.headers["Content-Type"] == "application/json"
    stored = dict(InboundEvent.objects.values_list("channel__code", "body"))
    assert {code: bytes(body) for code, body in stored.items()} == {
        "hostile-shop": ORDER,
        "hostile-amazon": json.dumps(
            order_change("n-http"), sort_keys=True, separators=(",", ":")
        ).encode(),
    }
