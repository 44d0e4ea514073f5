"""Usage plans: a token bucket per (seller, operation), 429 QuotaExceeded, and injected faults."""

from __future__ import annotations

import requests

from tests.channels.sandbox.amazon.support import US, SpApi


def _get(api: SpApi, sku: str = "TEE-M", **kwargs) -> requests.Response:
    return api.call("GET", api.listing_path(sku), {"marketplaceIds": US}, **kwargs)


def test_a_burst_is_allowed_then_429_without_the_rate_header(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=1)
    # getListingsItem: rate 5/s, burst 10.
    statuses = [_get(api).status_code for _ in range(10)]
    throttled = _get(api)

    assert statuses == [200] * 10
    assert throttled.status_code == 429
    assert throttled.json() == {
        "errors": [
            {
                "code": "QuotaExceeded",
                "message": "You exceeded your quota for the requested resource.",
                "details": "",
            }
        ]
    }
    assert "x-amzn-RateLimit-Limit" not in throttled.headers
    assert throttled.headers["x-amzn-RequestId"]
    assert sandbox.request_log.counters()["throttled"] == 1


def test_successes_carry_the_operations_rate(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=1)

    listing = _get(api)
    orders = api.call("GET", "/orders/2026-01-01/orders", {"createdAfter": "2020-01-01T00:00:00Z"})

    assert listing.headers["x-amzn-RateLimit-Limit"] == "5.0"
    assert orders.headers["x-amzn-RateLimit-Limit"] == "0.0056"
    assert listing.headers["x-amzn-RequestId"] != orders.headers["x-amzn-RequestId"]


def test_the_bucket_refills_at_the_rate(api: SpApi, sandbox, clock):
    sandbox.add_listing("TEE-M", quantity=1)
    for _ in range(10):
        _get(api)
    assert _get(api).status_code == 429

    clock.advance(0.2)  # 5/s: one token
    assert _get(api).status_code == 200
    assert _get(api).status_code == 429


def test_buckets_are_per_seller_and_per_operation(api: SpApi, sandbox):
    sandbox.add_seller("A2OTHERSELLER")
    sandbox.add_listing("TEE-M", quantity=1)
    sandbox.add_listing("TEE-M", quantity=1, seller_id="A2OTHERSELLER")
    for _ in range(10):
        _get(api)

    other_seller = api.call(
        "GET",
        api.listing_path("TEE-M", "A2OTHERSELLER"),
        {"marketplaceIds": US},
        seller_id="A2OTHERSELLER",
    )
    other_operation = api.call(
        "GET", f"/listings/2021-08-01/items/{api.seller_id}", {"marketplaceIds": US}
    )

    assert _get(api).status_code == 429
    assert other_seller.status_code == 200
    assert other_operation.status_code == 200


def test_rate_scale_and_switching_limits_off(api: SpApi, sandbox, clock):
    sandbox.add_listing("TEE-M", quantity=1)
    sandbox.set_rate_limits(scale=10.0)
    for _ in range(10):
        _get(api)
    clock.advance(0.02)  # 50/s now
    scaled = _get(api)
    sandbox.set_rate_limits(enabled=False)

    assert scaled.status_code == 200
    assert scaled.headers["x-amzn-RateLimit-Limit"] == "50.0"
    assert all(_get(api).status_code == 200 for _ in range(30))


def test_a_429_storm_for_one_operation(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=1)
    sandbox.throttle("getListingsItem", count=3)

    storm = [_get(api).status_code for _ in range(4)]
    other = api.call("GET", f"/listings/2021-08-01/items/{api.seller_id}", {"marketplaceIds": US})

    assert storm == [429, 429, 429, 200]
    assert other.status_code == 200
    assert sandbox.request_log.counters()["by_fault"] == {"throttle": 3}


def test_5xx_faults_answer_with_an_errors_body_and_change_nothing(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=7)
    sandbox.fail("patchListingsItem", 500)
    sandbox.fail("patchListingsItem", 503)

    first = api.call(
        "PATCH",
        api.listing_path("TEE-M"),
        {"marketplaceIds": US},
        {
            "productType": "PRODUCT",
            "patches": [
                {
                    "op": "merge",
                    "path": "/attributes/fulfillment_availability",
                    "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 1}],
                }
            ],
        },
    )
    sandbox.advance(60)

    assert first.status_code in (500, 503)
    assert first.json()["errors"][0]["code"] in ("InternalFailure", "ServiceUnavailable")
    assert sandbox.listing("TEE-M")["quantity"] == 7


def test_a_504_after_executing_leaves_the_change_in_place(api: SpApi, sandbox):
    # The dangerous kind of failure: the client sees an error, the server applied the change.
    sandbox.add_listing("TEE-M", quantity=7)
    sandbox.fail("patchListingsItem", 504)

    response = api.call(
        "PATCH",
        api.listing_path("TEE-M"),
        {"marketplaceIds": US},
        {
            "productType": "PRODUCT",
            "patches": [
                {
                    "op": "merge",
                    "path": "/attributes/fulfillment_availability",
                    "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 1}],
                }
            ],
        },
    )
    sandbox.advance(sandbox.config.patch_apply_delay)

    assert response.status_code == 504
    assert sandbox.listing("TEE-M")["quantity"] == 1


def test_slow_and_dropped_connections(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=7)
    sandbox.slow("getListingsItem", seconds=0.3)

    slow = _get(api)
    sandbox.add_fault("drop_connection", match="getListingsItem")
    try:
        dropped = requests.get(
            api.handle.url + api.listing_path("TEE-M"),
            params={"marketplaceIds": US},
            headers={"x-amz-access-token": api.token()},
            timeout=5,
        )
        outcome = dropped.status_code
    except requests.ConnectionError:
        outcome = "dropped"

    assert slow.status_code == 200
    assert slow.elapsed.total_seconds() >= 0.3
    assert outcome == "dropped"


def test_the_html_503_is_not_json(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=7)
    sandbox.add_fault("http_503_html", match="getListingsItem")

    response = _get(api)

    assert response.status_code == 503
    assert response.headers["Content-Type"].startswith("text/html")
