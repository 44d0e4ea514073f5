"""The WSGI fast path in front of Django answers Shopify webhooks exactly like the Django view,
and hands every other request to Django."""

import json

import pytest
from werkzeug.test import Client

from channels.lanes.shopify import webhooks as shopify_webhooks
from channels.models import InboundEvent
from inventory_sync.wsgi import application
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "shpss_fast_path"


@pytest.fixture
def shop():
    channel = ChannelFactory(code="fast-shop")
    channel.credentials = {"access_token": "shpat_x", "webhook_secret": SECRET}
    channel.save()
    return channel


def post(shop, body: bytes, *, secret=SECRET, event_id="1"):
    return Client(application).post(
        f"/webhooks/shopify/{shop.pk}/",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Hmac-Sha256": shopify_webhooks.sign(secret, body),
            "X-Shopify-Event-Id": event_id,
            "X-Shopify-Webhook-Id": f"d-{event_id}",
        },
    )


def test_a_signed_webhook_is_stored_once_and_answered(shop):
    body = json.dumps({"id": 1, "created_at": "2026-11-30T10:00:00Z"}).encode()
    first, again = post(shop, body), post(shop, body)
    assert (first.status_code, first.json) == (200, {"status": "received"})
    assert (again.status_code, again.json) == (200, {"status": "duplicate"})
    stored = InboundEvent.objects.get()
    assert bytes(stored.body) == body
    assert stored.headers["X-Shopify-Topic"] == "orders/create"
    assert stored.delivery_id == "d-1"


def test_a_bad_signature_stores_nothing(shop):
    response = post(shop, b'{"id": 1}', secret="wrong")
    assert response.status_code == 401
    assert not InboundEvent.objects.exists()


def test_other_requests_reach_django(shop):
    client = Client(application)
    assert client.get("/accounts/login/").status_code == 200
    assert client.get(f"/webhooks/shopify/{shop.pk}/").status_code == 405  # Django's answer
    assert client.post("/webhooks/shopify/999999/", data=b"{}").status_code == 404
