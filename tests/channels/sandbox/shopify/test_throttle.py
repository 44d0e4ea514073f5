"""The calculated-cost leaky bucket, driven by the injected manual clock."""

from __future__ import annotations

from tests.channels.sandbox.shopify.support import Shop

# requested cost 2 + 50 x 1 = 52, actual 2 + number of locations returned (1) = 3
LOCATIONS = "query Locations { locations(first: 50) { nodes { id name } } }"


def test_cost_is_debited_up_front_and_refunded_to_actual(shop: Shop):
    body = shop.gql(LOCATIONS)

    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 52
    assert cost["actualQueryCost"] == 3
    assert cost["throttleStatus"] == {
        "maximumAvailable": 2000.0,
        "currentlyAvailable": 1997,
        "restoreRate": 100.0,
    }


def test_drained_bucket_throttles_then_refills_at_restore_rate(shop: Shop):
    shop.control("POST", "throttle", {"currently_available": 60}, expect=200)
    assert shop.gql(LOCATIONS)["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 57

    throttled = shop.gql(LOCATIONS)  # needs 52, has 57 - ok; then 54 left
    assert "errors" not in throttled
    body = shop.gql(LOCATIONS)  # needs 52, has 54 - ok; then 51 left
    assert "errors" not in body
    throttled = shop.gql(LOCATIONS)  # needs 52, has 51

    assert "data" not in throttled
    assert throttled["errors"] == [
        {
            "message": "Throttled",
            "extensions": {
                "code": "THROTTLED",
                "documentation": "https://shopify.dev/api/usage/rate-limits",
            },
        }
    ]
    assert throttled["extensions"]["cost"]["requestedQueryCost"] == 52
    assert throttled["extensions"]["cost"]["actualQueryCost"] is None
    assert throttled["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 51

    shop.clock.advance(0.01)  # 100 points/s x 0.01 s = 1 point
    refilled = shop.gql(LOCATIONS)

    assert "errors" not in refilled
    assert refilled["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 49
    counters = shop.control("GET", "requests")["counters"]
    assert counters["by_outcome"] == {"ok": 4, "throttled": 1}


def test_bucket_never_fills_beyond_its_maximum(shop: Shop):
    shop.clock.advance(3600)

    body = shop.gql(LOCATIONS)

    assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 1997


def test_throttle_can_answer_429_with_retry_after(shop: Shop):
    shop.control("POST", "throttle", {"currently_available": 2, "http_status": 429}, expect=200)

    response = shop.post_graphql(LOCATIONS)

    assert response.status_code == 429
    # (52 - 2) points at 100 points/s
    assert response.headers["Retry-After"] == "1.0"
    assert response.json()["errors"][0]["extensions"]["code"] == "THROTTLED"


def test_configured_plan_limits_show_in_throttle_status(shop: Shop):
    shop.control("POST", "throttle", {"maximum_available": 20000, "restore_rate": 1000}, expect=200)
    shop.clock.advance(60)

    body = shop.gql(LOCATIONS)

    assert body["extensions"]["cost"]["throttleStatus"] == {
        "maximumAvailable": 20000.0,
        "currentlyAvailable": 19997,
        "restoreRate": 1000.0,
    }
