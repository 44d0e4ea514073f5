"""The `/_sandbox/` control API and the request log, over HTTP."""

from __future__ import annotations

from tests.channels.sandbox.amazon.support import US, NotificationReceiver, SpApi


def test_an_invalid_request_is_answered_400_and_logged(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=7)

    response = api.call(
        "PATCH",
        api.listing_path("TEE-M"),
        {"marketplaceIds": US},
        {"productType": "PRODUCT", "patches": [{"op": "set", "path": "/attributes/x"}]},
    )

    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == "InvalidInput"
    assert "'set' is not one of" in error["message"]
    assert error["details"] == ""
    [logged] = sandbox.invalid_requests()
    assert logged["operation_id"] == "patchListingsItem"
    assert logged["status"] == 400
    assert any("'set' is not one of" in p for p in logged["problems"])
    sandbox.advance(60)
    assert sandbox.listing("TEE-M")["quantity"] == 7


def test_an_unknown_path_is_404_with_an_errors_body(api: SpApi):
    response = api.call("GET", "/catalog/2099-01-01/items")

    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "NotFound"


def test_an_operation_the_sandbox_does_not_serve_is_501(api: SpApi):
    response = api.call("GET", "/orders/v0/orders", {"MarketplaceIds": US, "CreatedAfter": "x"})

    assert response.status_code == 501
    assert response.json()["errors"][0]["code"] == "NotImplemented"


def test_index_lists_routes_operations_and_fault_kinds(api: SpApi):
    index = api.session.get(f"{api.handle.control_url}/").json()

    assert "listingsItems_2021-08-01.patchListingsItem" in index["operations"]
    assert "lost_patch" in index["fault_kinds"]
    assert index["sellers"][0]["seller_id"] == api.seller_id
    assert index["token_url"].endswith("/auth/o2/token")


def test_seed_listings_and_orders_through_http(api: SpApi, sandbox):
    control = api.handle.control_url

    created = api.session.post(
        f"{control}/listings",
        json={
            "listings": [
                {"sku": "TEE-M", "quantity": 4},
                {"sku": "HOODIE", "channel": "AFN", "fba": {"fulfillable": 3}},
            ]
        },
    )
    order = api.session.post(f"{control}/orders", json={"sku": "HOODIE", "quantity": 2})
    cancelled = api.session.post(
        f"{control}/orders/{order.json()['order']['orderId']}/cancel", json={}
    )

    assert created.status_code == 201
    assert [row["afn"] for row in created.json()["listings"]] == [False, True]
    assert order.status_code == 201
    assert cancelled.json()["order"]["fulfillment"]["fulfillmentStatus"] == "CANCELLED"
    assert sandbox.listing("HOODIE")["fba"]["fulfillable"] == 3


def test_faults_and_clock_through_http(api: SpApi, sandbox):
    control = api.handle.control_url
    sandbox.add_listing("TEE-M", quantity=7)

    added = api.session.post(
        f"{control}/faults", json={"kind": "throttle", "match": "getListingsItem", "count": 1}
    )
    throttled = api.call("GET", api.listing_path("TEE-M"), {"marketplaceIds": US})
    api.patch_quantity("TEE-M", 2)
    advanced = api.session.post(f"{control}/clock", json={"advance": 5})

    assert added.status_code == 201
    assert throttled.status_code == 429
    assert advanced.json()["ran"] == 1
    assert sandbox.listing("TEE-M")["quantity"] == 2
    log = api.session.get(f"{control}/requests", params={"operation": "getListingsItem"}).json()
    assert [entry["status"] for entry in log["log"]] == [429]


def test_notifications_through_http(api: SpApi, sandbox, receiver: NotificationReceiver):
    control = api.handle.control_url
    subscribed = api.session.post(
        f"{control}/notifications",
        json={"url": receiver.url, "api_key": "k", "notification_types": ["ORDER_CHANGE"]},
    )
    sandbox.add_listing("TEE-M", quantity=4)
    api.session.post(f"{control}/orders", json={"sku": "TEE-M"})

    flushed = api.session.post(f"{control}/notifications/flush", json={"timeout": 5})

    assert subscribed.status_code == 201
    assert flushed.status_code == 200
    assert flushed.json()["delivered"] == 1
    assert len(receiver.of("ORDER_CHANGE")) == 1
    published = api.session.get(f"{control}/notifications/published").json()
    assert len(published["notifications"]) == 1


def test_returns_through_http(api: SpApi, sandbox):
    sandbox.add_listing("HOODIE", channel="AFN", fba={"fulfillable": 3})

    created = api.session.post(
        f"{api.handle.control_url}/returns",
        json={"sku": "HOODIE", "quantity": 2, "disposition": "DEFECTIVE"},
    )

    assert created.status_code == 201
    assert created.json()["return"]["detailed-disposition"] == "DEFECTIVE"
    assert sandbox.listing("HOODIE")["fba"]["defective"] == 2
