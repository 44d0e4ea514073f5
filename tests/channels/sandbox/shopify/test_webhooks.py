"""Signed, at-least-once, unordered webhook delivery."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from channels.sandbox.shopify import sign
from tests.channels.sandbox.shopify.support import WEBHOOK_SECRET, Shop, WebhookReceiver
from tests.contracts import SHOPIFY

DATA = SHOPIFY / "webhooks"


def _hmac(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_sign_matches_the_contract_test_vectors():
    vectors = json.loads((DATA / "hmac_test_vectors.json").read_text())
    secret = vectors["secret"]
    for vector in vectors["vectors"]:
        if "raw_body_utf8" in vector:
            body = vector["raw_body_utf8"].encode()
        else:
            body = (DATA / vector["raw_body_file"]).read_bytes()
            assert hashlib.sha256(body).hexdigest() == vector["raw_body_sha256_hex"]
        assert sign(secret, body) == vector["x_shopify_hmac_sha256"]
    negative = vectors["negative"]
    assert sign(secret, negative["raw_body_utf8"].encode()) != negative["x_shopify_hmac_sha256"]


def test_deliveries_carry_shopify_headers_and_a_valid_hmac(shop: Shop, subscribed: WebhookReceiver):
    shop.seed({"sku": "SOCK", "quantities": {"Main warehouse": 5}})

    order = shop.control("POST", "sell", {"sku": "SOCK", "quantity": 2}, expect=201)["order"]
    shop.flush()

    # Random delays: no ordering promise, as with Shopify.
    assert sorted(subscribed.topics()) == ["inventory_levels/update", "orders/create"]
    for delivery in subscribed.deliveries:
        headers = delivery.headers
        assert headers["X-Shopify-Hmac-Sha256"] == _hmac(WEBHOOK_SECRET, delivery.body)
        assert headers["X-Shopify-Shop-Domain"] == "sandbox-shop.myshopify.com"
        assert headers["X-Shopify-API-Version"] == "2026-04"
        assert headers["X-Shopify-Triggered-At"].endswith("Z")
        assert headers["X-Shopify-Webhook-Id"]
        assert headers["X-Shopify-Event-Id"]
    [created] = subscribed.of("orders/create")
    assert created.payload == order
    assert _hmac("some-other-secret", created.body) != created.headers["X-Shopify-Hmac-Sha256"]


def test_duplicates_keep_the_event_id_and_change_the_webhook_id(
    shop: Shop, receiver: WebhookReceiver
):
    shop.control(
        "POST",
        "webhooks",
        {"url": receiver.url, "secret": WEBHOOK_SECRET, "duplicate_rate": 1.0, "seed": 1},
        expect=200,
    )
    shop.seed({"sku": "SOCK", "quantities": {"Main warehouse": 5}})

    shop.control("POST", "admin_edit", {"sku": "SOCK", "available": 3}, expect=200)
    shop.flush()

    first, second = receiver.deliveries
    assert first.headers["X-Shopify-Event-Id"] == second.headers["X-Shopify-Event-Id"]
    assert first.headers["X-Shopify-Webhook-Id"] != second.headers["X-Shopify-Webhook-Id"]
    assert first.body == second.body
    assert first.headers["X-Shopify-Hmac-Sha256"] == second.headers["X-Shopify-Hmac-Sha256"]


def test_reordering_is_seeded_and_loses_nothing(shop: Shop, receiver: WebhookReceiver):
    shop.control(
        "POST",
        "webhooks",
        {
            "url": receiver.url,
            "secret": WEBHOOK_SECRET,
            "reorder_rate": 0.5,
            "delay_ms": [0, 200],
            "seed": 3,
            "topics": ["inventory_levels/update"],
        },
        expect=200,
    )
    shop.seed({"sku": "SOCK", "quantities": {"Main warehouse": 0}})

    for available in range(1, 11):
        shop.control("POST", "admin_edit", {"sku": "SOCK", "available": available}, expect=200)
    shop.flush()

    seen = [d.payload["available"] for d in receiver.deliveries]
    assert sorted(seen) == list(range(1, 11))
    assert seen != sorted(seen)


def test_failed_deliveries_are_retried_with_the_same_ids(shop: Shop, receiver: WebhookReceiver):
    receiver.statuses = [500, 503]
    shop.control(
        "POST",
        "webhooks",
        {"url": receiver.url, "secret": WEBHOOK_SECRET, "retry_base_ms": 1, "seed": 2},
        expect=200,
    )
    shop.seed({"sku": "SOCK", "quantities": {"Main warehouse": 5}})

    shop.control("POST", "admin_edit", {"sku": "SOCK", "available": 1}, expect=200)
    result = shop.flush()

    assert len(receiver.deliveries) == 3
    assert len({d.headers["X-Shopify-Event-Id"] for d in receiver.deliveries}) == 1
    assert len({d.headers["X-Shopify-Webhook-Id"] for d in receiver.deliveries}) == 1
    assert result["delivered"] == 1
    assert result["failed_attempts"] == 2
    attempts = shop.control("GET", "webhooks/deliveries")["deliveries"]
    assert [a["status"] for a in attempts] == [500, 503, 200]


def test_unreachable_endpoint_gives_up_after_max_retries(shop: Shop):
    shop.control(
        "POST",
        "webhooks",
        {"url": "http://127.0.0.1:9/nowhere", "secret": "s", "max_retries": 2, "retry_base_ms": 1},
        expect=200,
    )
    shop.seed({"sku": "SOCK", "quantities": {"Main warehouse": 5}})

    shop.control("POST", "admin_edit", {"sku": "SOCK", "available": 1}, expect=200)
    result = shop.flush()

    assert result["given_up"] == 1
    assert result["failed_attempts"] == 3
