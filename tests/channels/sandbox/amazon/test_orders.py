"""Orders 2026-01-01 (searchOrders, getOrder) and v0 confirmShipment, with simulated buyers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from channels.sandbox.amazon import OutOfStock
from channels.sandbox.amazon.clock import iso, parse_iso
from tests.channels.sandbox.amazon.support import US, SpApi

EPOCH = "2020-01-01T00:00:00Z"


def _ship(
    api: SpApi,
    order: dict,
    quantity: int | None = None,
    reference: str = "1",
    carrier: dict | None = None,
):
    item = order["orderItems"][0]
    return api.call(
        "POST",
        f"/orders/v0/orders/{order['orderId']}/shipmentConfirmation",
        body={
            "marketplaceId": US,
            "packageDetail": {
                "packageReferenceId": reference,
                **(carrier or {"carrierCode": "UPS"}),
                "trackingNumber": "1Z999AA10123456784",
                "shipDate": "2026-03-02T10:00:00Z",
                "orderItems": [
                    {
                        "orderItemId": item["orderItemId"],
                        "quantity": quantity or item["quantityOrdered"],
                    }
                ],
            },
        },
    )


def test_search_orders_pages_with_a_pagination_token(api: SpApi, sandbox, clock):
    sandbox.add_listing("TEE-M", quantity=20)
    placed = []
    for _ in range(5):
        placed.append(sandbox.place_order("TEE-M", 1)["orderId"])
        clock.advance(1)

    seen, token, pages = [], None, 0
    while True:
        params = {"createdAfter": EPOCH, "maxResultsPerPage": "2", "marketplaceIds": US}
        if token:
            params["paginationToken"] = token
        page = api.search_orders(**params)
        pages += 1
        seen += [order["orderId"] for order in page["orders"]]
        assert "createdBefore" in page
        token = page.get("pagination", {}).get("nextToken")
        if not token:
            break

    assert pages == 3
    assert seen == placed  # oldest first, each exactly once


def test_a_pagination_token_needs_the_original_parameters(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=20)
    for _ in range(3):
        sandbox.place_order("TEE-M", 1)
    first = api.search_orders(createdAfter=EPOCH, maxResultsPerPage="1")
    token = first["pagination"]["nextToken"]

    changed = api.call(
        "GET",
        "/orders/2026-01-01/orders",
        {"createdAfter": "2021-01-01T00:00:00Z", "paginationToken": token},
    )
    # maxResultsPerPage and includedData may change between pages.
    same = api.search_orders(
        createdAfter=EPOCH, paginationToken=token, maxResultsPerPage="5", includedData="FULFILLMENT"
    )

    assert changed.status_code == 400
    assert changed.json()["errors"][0]["code"] == "InvalidInput"
    assert len(same["orders"]) == 2
    assert "pagination" not in same


def test_last_updated_after_returns_the_orders_changed_since(api: SpApi, sandbox, clock):
    sandbox.add_listing("TEE-M", quantity=20)
    first = sandbox.place_order("TEE-M", 1)
    second = sandbox.place_order("TEE-M", 1)
    sandbox.advance(5)  # both are released (PENDING -> UNSHIPPED) after a second
    checkpoint = api.search_orders(lastUpdatedAfter=EPOCH)["lastUpdatedBefore"]
    clock.advance(10)

    assert _ship(api, first).status_code == 204
    changed = api.search_orders(lastUpdatedAfter=checkpoint, includedData="FULFILLMENT")

    assert [o["orderId"] for o in changed["orders"]] == [first["orderId"]]
    assert changed["orders"][0]["fulfillment"]["fulfillmentStatus"] == "SHIPPED"
    assert parse_iso(changed["orders"][0]["lastUpdatedTime"]) > parse_iso(checkpoint)
    everything = api.search_orders(lastUpdatedAfter=EPOCH)
    assert {o["orderId"] for o in everything["orders"]} == {first["orderId"], second["orderId"]}


def test_last_updated_after_is_inclusive(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=20)
    order = sandbox.place_order("TEE-M", 1, pending_seconds=60)

    same_second = api.search_orders(lastUpdatedAfter=order["lastUpdatedTime"])
    later = api.search_orders(
        lastUpdatedAfter=iso(parse_iso(order["lastUpdatedTime"]) + timedelta(seconds=1))
    )

    assert [o["orderId"] for o in same_second["orders"]] == [order["orderId"]]
    assert later["orders"] == []


def test_last_update_time_moves_on_every_change(sandbox, clock):
    sandbox.add_listing("TEE-M", quantity=20)
    order = sandbox.place_order("TEE-M", 1)
    times = [order["lastUpdatedTime"]]
    clock.advance(2)
    sandbox.tick()
    times.append(sandbox.order_json(order["orderId"])["lastUpdatedTime"])
    clock.advance(2)
    times.append(sandbox.cancel_order(order["orderId"])["lastUpdatedTime"])

    assert times == sorted(set(times))
    assert len(times) == 3


@pytest.mark.parametrize(
    "params",
    [
        {},  # neither createdAfter nor lastUpdatedAfter
        {"createdAfter": EPOCH, "lastUpdatedAfter": EPOCH},
        {"createdAfter": EPOCH, "lastUpdatedBefore": "2021-01-01T00:00:00Z"},
        {"lastUpdatedAfter": EPOCH, "createdBefore": "2021-01-01T00:00:00Z"},
        {"createdAfter": "2021-01-01T00:00:00Z", "createdBefore": EPOCH},  # Before < After
    ],
)
def test_search_orders_date_rules(api: SpApi, params):
    response = api.call("GET", "/orders/2026-01-01/orders", params)

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "InvalidInput"


def test_a_before_date_must_be_two_minutes_in_the_past(api: SpApi, sandbox):
    now = sandbox.now()

    too_recent = api.call(
        "GET",
        "/orders/2026-01-01/orders",
        {"lastUpdatedAfter": EPOCH, "lastUpdatedBefore": iso(now - timedelta(seconds=60))},
    )
    fine = api.search_orders(
        lastUpdatedAfter=EPOCH, lastUpdatedBefore=iso(now - timedelta(minutes=3))
    )

    assert too_recent.status_code == 400
    assert "two minutes" in too_recent.json()["errors"][0]["message"]
    assert fine["lastUpdatedBefore"] == iso(now - timedelta(minutes=3))


def test_fulfillment_status_comes_only_with_included_data(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=20)
    sandbox.place_order("TEE-M", 1, buyer={"service_level": "EXPEDITED"})

    bare = api.search_orders(createdAfter=EPOCH)["orders"][0]
    full = api.search_orders(createdAfter=EPOCH, includedData="FULFILLMENT,BUYER")["orders"][0]

    assert "fulfillment" not in bare
    assert "buyer" not in bare
    assert bare["orderItems"][0]["product"]["sellerSku"] == "TEE-M"  # items always included
    assert full["fulfillment"] == {
        "fulfillmentStatus": "PENDING",
        "fulfilledBy": "MERCHANT",
        "fulfillmentServiceLevel": "EXPEDITED",
        "shipByWindow": full["fulfillment"]["shipByWindow"],
    }
    assert full["buyer"]["buyerEmail"].endswith("@marketplace.amazon.com")


def test_search_filters_by_fulfillment_status_and_channel(api: SpApi, sandbox, clock):
    sandbox.add_listing("TEE-M", quantity=20)
    sandbox.add_listing("HOODIE", channel="AFN", fba={"fulfillable": 5})
    mfn = sandbox.place_order("TEE-M", 1)
    afn = sandbox.place_order("HOODIE", 1)
    sandbox.advance(2)

    unshipped = api.search_orders(createdAfter=EPOCH, fulfillmentStatuses="UNSHIPPED")
    by_amazon = api.search_orders(createdAfter=EPOCH, fulfilledBy="AMAZON")

    assert {o["orderId"] for o in unshipped["orders"]} == {mfn["orderId"], afn["orderId"]}
    assert [o["orderId"] for o in by_amazon["orders"]] == [afn["orderId"]]


def test_get_order_returns_one_order_and_404_for_others(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=20)
    order = sandbox.place_order("TEE-M", 2)

    found = api.ok(
        "GET",
        f"/orders/2026-01-01/orders/{order['orderId']}",
        {"includedData": "FULFILLMENT"},
        operation="getOrder",
    )
    missing = api.call("GET", "/orders/2026-01-01/orders/111-0000000-0000000")

    assert found["order"]["orderId"] == order["orderId"]
    assert found["order"]["orderItems"][0]["quantityOrdered"] == 2
    assert found["order"]["orderItems"][0]["fulfillment"] == {
        "quantityFulfilled": 0,
        "quantityUnfulfilled": 2,
    }
    assert missing.status_code == 404


def test_confirm_shipment_answers_204_and_ships_the_order(api: SpApi, sandbox, clock):
    sandbox.add_listing("TEE-M", quantity=20)
    order = sandbox.place_order("TEE-M", 2)
    sandbox.advance(2)

    response = _ship(api, order)

    assert response.status_code == 204
    assert response.content == b""
    assert "x-amzn-RateLimit-Limit" in response.headers
    shipped = sandbox.order_json(order["orderId"])
    assert shipped["fulfillment"]["fulfillmentStatus"] == "SHIPPED"
    assert shipped["packages"][0]["trackingNumber"] == "1Z999AA10123456784"
    assert shipped["orderItems"][0]["fulfillment"]["quantityFulfilled"] == 2


def test_partial_shipment_then_the_rest(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=20)
    order = sandbox.place_order("TEE-M", 3)
    sandbox.advance(2)

    assert _ship(api, order, 1, "1").status_code == 204
    assert sandbox.order_json(order["orderId"])["fulfillment"]["fulfillmentStatus"] == (
        "PARTIALLY_SHIPPED"
    )
    too_many = _ship(api, order, 3, "2")
    assert too_many.status_code == 400
    assert _ship(api, order, 2, "2").status_code == 204
    assert sandbox.order_json(order["orderId"])["fulfillment"]["fulfillmentStatus"] == "SHIPPED"


def test_confirm_shipment_keeps_amazons_package_rules(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=20)
    order = sandbox.place_order("TEE-M", 1)
    sandbox.advance(2)

    # "Other" names its carrier; a package reference is a positive number
    assert _ship(api, order, carrier={"carrierCode": "Other"}).status_code == 400
    assert _ship(api, order, reference="PKG-1").status_code == 400
    assert _ship(api, order, reference="0").status_code == 400
    named = {"carrierCode": "Other", "carrierName": "Parcelforce"}
    assert _ship(api, order, carrier=named).status_code == 204
    assert sandbox.order_json(order["orderId"])["fulfillment"]["fulfillmentStatus"] == "SHIPPED"


def test_confirm_shipment_refuses_pending_afn_and_unknown_orders(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=20)
    sandbox.add_listing("HOODIE", channel="AFN", fba={"fulfillable": 5})
    pending = sandbox.place_order("TEE-M", 1, pending_seconds=60)
    afn = sandbox.place_order("HOODIE", 1, pending_seconds=0)

    assert _ship(api, pending).status_code == 400
    assert _ship(api, afn).status_code == 400
    unknown = dict(pending, orderId="111-0000000-0000000")
    assert _ship(api, unknown).status_code == 404
    assert sandbox.order_json(pending["orderId"])["fulfillment"]["fulfillmentStatus"] == "PENDING"


def test_mfn_orders_take_the_merchant_quantity_and_stop_at_zero(sandbox):
    sandbox.add_listing("TEE-M", quantity=2)

    sandbox.place_order("TEE-M", 2)

    assert sandbox.listing("TEE-M")["quantity"] == 0
    with pytest.raises(OutOfStock):
        sandbox.place_order("TEE-M", 1)
    assert len(sandbox.orders) == 1


def test_the_control_api_answers_409_when_a_buyer_finds_it_sold_out(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=1)

    placed = api.session.post(f"{api.handle.control_url}/orders", json={"sku": "TEE-M"})
    refused = api.session.post(f"{api.handle.control_url}/orders", json={"sku": "TEE-M"})

    assert placed.status_code == 201
    assert refused.status_code == 409
    assert refused.json()["error"] == "out_of_stock"


def test_afn_orders_reserve_fba_stock_and_ship_by_themselves(sandbox):
    sandbox.add_listing("HOODIE", channel="AFN", fba={"fulfillable": 5})

    order = sandbox.place_order("HOODIE", 2)
    fba = sandbox.listing("HOODIE")["fba"]
    assert (fba["fulfillable"], fba["pending_customer_order"]) == (3, 2)

    sandbox.advance(sandbox.config.order_pending_seconds + sandbox.config.afn_ship_seconds)

    shipped = sandbox.order_json(order["orderId"])
    assert shipped["fulfillment"]["fulfillmentStatus"] == "SHIPPED"
    assert shipped["fulfillment"]["fulfilledBy"] == "AMAZON"
    fba = sandbox.listing("HOODIE")["fba"]
    assert (fba["fulfillable"], fba["pending_customer_order"]) == (3, 0)


def test_afn_orders_refuse_beyond_fulfillable(sandbox):
    sandbox.add_listing("HOODIE", channel="AFN", fba={"fulfillable": 1, "inbound_shipped": 10})

    with pytest.raises(OutOfStock):
        sandbox.place_order("HOODIE", 2)


def test_a_buyer_cancellation_gives_the_units_back(sandbox):
    sandbox.add_listing("TEE-M", quantity=5)
    sandbox.add_listing("HOODIE", channel="AFN", fba={"fulfillable": 5})
    mfn = sandbox.place_order("TEE-M", 2)
    afn = sandbox.place_order("HOODIE", 2)

    sandbox.cancel_order(mfn["orderId"])
    sandbox.cancel_order(afn["orderId"])

    assert sandbox.listing("TEE-M")["quantity"] == 5
    assert sandbox.listing("HOODIE")["fba"]["fulfillable"] == 5
    assert sandbox.order_json(afn["orderId"])["fulfillment"]["fulfillmentStatus"] == "CANCELLED"


def test_a_buyer_cancellation_request_marks_the_items(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=5)
    order = sandbox.place_order("TEE-M", 1)
    sandbox.advance(2)

    sandbox.cancel_order(order["orderId"], request_only=True, reason="Ordered by mistake")

    found = api.search_orders(createdAfter=EPOCH, includedData="CANCELLATION,FULFILLMENT")
    item = found["orders"][0]["orderItems"][0]
    assert item["cancellation"]["cancellationRequest"] == {
        "requester": "BUYER",
        "cancelReason": "Ordered by mistake",
    }
    assert found["orders"][0]["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED"
