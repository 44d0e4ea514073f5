"""The Shopify client over real HTTP against canned answers (Shopify's own sample bodies)."""

from __future__ import annotations

import json
import random
import socket
from datetime import UTC, datetime

import pytest

from channels.lanes.shopify.client import (
    Level,
    SetQuantity,
    ShopifyAuthError,
    ShopifyQueryError,
    ShopifyThrottled,
    ShopifyUnavailable,
    ShopifyUserError,
    Tracking,
    UserError,
)
from channels.lanes.throttle import LocalThrottle
from tests.channels.lanes.conftest import Reply, sample

ITEM = "gid://shopify/InventoryItem/30322695"
LOCATION = "gid://shopify/Location/124656943"
ORDER = "gid://shopify/Order/820982911946154508"
PUSH = [SetQuantity(ITEM, LOCATION, quantity=11, change_from=1)]


def _push(client, key="push-42"):
    return client.set_available(
        PUSH, idempotency_key=key, reference_uri="gid://inventory-sync/PushAttempt/42"
    )


# --- set_available -----------------------------------------------------------------------------


def test_set_available_posts_a_compare_and_set_with_the_idempotency_key(
    shopify_server, make_client
):
    shopify_server.queue(Reply.sample("inventory_set_quantities.success.json"))

    result = _push(make_client())

    [request] = shopify_server.received
    assert request.path == "/admin/api/2026-04/graphql.json"
    assert request.headers["X-Shopify-Access-Token"] == "shpat_test_token"
    assert request.json["operationName"] == "InventorySetQuantities"
    assert "@idempotent(key: $idempotencyKey)" in request.json["query"]
    assert request.variables == {
        "idempotencyKey": "push-42",
        "input": {
            "name": "available",
            "reason": "correction",
            "referenceDocumentUri": "gid://inventory-sync/PushAttempt/42",
            "quantities": [
                {
                    "inventoryItemId": ITEM,
                    "locationId": LOCATION,
                    "quantity": 11,
                    "changeFromQuantity": 1,
                }
            ],
        },
    }
    assert result.applied is True
    assert result.stale is False
    assert result.user_errors == ()
    assert [(c.name, c.delta, c.inventory_item_id) for c in result.changes] == [
        ("available", 10, ITEM),
        ("on_hand", 10, ITEM),
    ]
    assert result.adjustment_group_id == "gid://shopify/InventoryAdjustmentGroup/97854922889"
    assert result.attempts == 1
    assert (result.cost.requested, result.cost.actual) == (10, 10)
    assert result.cost.throttle_status.currently_available == 1990
    # The caller stores exactly what went over the wire.
    assert result.call.request_body == request.body
    assert json.loads(result.call.response_body) == sample("inventory_set_quantities.success.json")
    assert result.call.http_status == 200


def test_change_from_none_is_sent_as_an_explicit_null(shopify_server, make_client):
    shopify_server.queue(Reply.sample("inventory_set_quantities.success.json"))

    make_client().set_available(
        [SetQuantity(ITEM, LOCATION, quantity=5, change_from=None)],
        idempotency_key="k",
        reference_uri="gid://inventory-sync/PushAttempt/1",
    )

    [quantity] = shopify_server.received[0].variables["input"]["quantities"]
    assert "changeFromQuantity" in quantity
    assert quantity["changeFromQuantity"] is None


def test_stale_compare_and_set_is_reported_and_not_retried(shopify_server, make_client, clock):
    shopify_server.queue(Reply.sample("inventory_set_quantities.stale.json"))

    result = _push(make_client())

    assert result.applied is False
    assert result.stale is True
    assert result.user_errors == (
        UserError(
            code="CHANGE_FROM_QUANTITY_STALE",
            field=("input", "quantities", "0", "changeFromQuantity"),
            message="The changeFromQuantity value does not match persisted value.",
        ),
    )
    assert result.changes == ()
    assert len(shopify_server.received) == 1
    assert clock.sleeps == []


def test_other_user_errors_are_returned_not_retried(shopify_server, make_client):
    shopify_server.queue(Reply.sample("inventory_set_quantities.other_user_errors.json"))

    result = _push(make_client())

    assert (result.applied, result.stale) == (False, False)
    assert [(e.code, e.field) for e in result.user_errors] == [
        ("ITEM_NOT_STOCKED_AT_LOCATION", ("input", "quantities", "0", "locationId")),
        ("IDEMPOTENCY_KEY_PARAMETER_MISMATCH", None),
    ]
    assert len(shopify_server.received) == 1


def test_retry_after_a_500_resends_identical_bytes_and_key(shopify_server, make_client, clock):
    shopify_server.queue(
        Reply(500, b'{"errors":"Internal Server Error"}'),
        Reply.sample("inventory_set_quantities.success.json"),
    )

    result = _push(make_client(rng=random.Random(7)))

    first, second = shopify_server.received
    assert first.body == second.body
    assert second.variables["idempotencyKey"] == "push-42"
    assert result.applied is True
    assert result.attempts == 2
    assert [a.outcome for a in result.call.attempts] == ["server_error", "ok"]
    assert [a.http_status for a in result.call.attempts] == [500, 200]
    assert len(clock.sleeps) == 1
    assert 0.25 <= clock.sleeps[0] <= 0.5  # first backoff step 0.5 s, equal jitter
    assert result.call.attempts[1].waited_s == clock.sleeps[0]


def test_retry_after_a_timeout_resends_identical_bytes_and_key(shopify_server, make_client):
    shopify_server.queue(
        Reply.sample("inventory_set_quantities.success.json", delay=1.0),
        Reply.sample("inventory_set_quantities.success.json"),
    )

    result = _push(make_client(timeout=0.3))

    first, second = shopify_server.received
    assert first.body == second.body
    assert json.loads(second.body)["variables"]["idempotencyKey"] == "push-42"
    assert [a.outcome for a in result.call.attempts] == ["timeout", "ok"]
    assert result.call.attempts[0].http_status is None
    assert result.applied is True


def test_concurrent_request_with_the_same_key_is_retried_with_that_key(shopify_server, make_client):
    concurrent = sample("inventory_set_quantities.stale.json")
    concurrent["data"]["inventorySetQuantities"]["userErrors"] = [
        {"code": "IDEMPOTENCY_CONCURRENT_REQUEST", "field": None, "message": "in progress"}
    ]
    shopify_server.queue(
        Reply.json(concurrent), Reply.sample("inventory_set_quantities.success.json")
    )

    result = _push(make_client())

    first, second = shopify_server.received
    assert first.body == second.body
    assert result.applied is True
    assert [a.outcome for a in result.call.attempts] == ["user_error_retry", "ok"]


def test_more_than_250_quantities_are_refused_before_sending(shopify_server, make_client):
    quantities = [
        SetQuantity(f"gid://shopify/InventoryItem/{i}", LOCATION, quantity=1, change_from=0)
        for i in range(251)
    ]

    with pytest.raises(ValueError, match="at most 250"):
        make_client().set_available(
            quantities, idempotency_key="k", reference_uri="gid://inventory-sync/PushAttempt/1"
        )

    assert shopify_server.received == []


def test_duplicate_pairs_and_blank_keys_are_refused_before_sending(shopify_server, make_client):
    client = make_client()

    with pytest.raises(ValueError, match="duplicate"):
        client.set_available(PUSH * 2, idempotency_key="k", reference_uri="gid://x/Push/1")
    with pytest.raises(ValueError, match="idempotency_key"):
        client.set_available(PUSH, idempotency_key="  ", reference_uri="gid://x/Push/1")

    assert shopify_server.received == []


# --- throttling --------------------------------------------------------------------------------


def test_throttled_then_success_waits_the_computed_time(shopify_server, make_client, clock):
    shopify_server.queue(
        Reply.sample("throttled.json"), Reply.sample("inventory_set_quantities.success.json")
    )

    result = _push(make_client())

    # (requestedQueryCost 752 - currentlyAvailable 666) / restoreRate 100
    assert clock.sleeps == [pytest.approx(0.86)]
    assert result.applied is True
    assert [a.outcome for a in result.call.attempts] == ["throttled", "ok"]
    assert shopify_server.received[0].body == shopify_server.received[1].body


def test_shared_bucket_adopts_shopifys_numbers_without_waiting_twice(
    shopify_server, make_client, clock
):
    bucket = LocalThrottle(capacity=2000, restore_rate=100, clock=clock)
    shopify_server.queue(
        Reply.sample("throttled.json"), Reply.sample("inventory_set_quantities.success.json")
    )

    _push(make_client(throttle=bucket))

    assert clock.sleeps == [pytest.approx(0.86)]
    assert bucket.available == pytest.approx(1990)


def test_local_bucket_makes_the_client_wait_before_sending(shopify_server, make_client, clock):
    bucket = LocalThrottle(capacity=2000, restore_rate=100, clock=clock)
    bucket.observe(sample_status(currently_available=5))
    shopify_server.queue(Reply.sample("inventory_set_quantities.success.json"))

    _push(make_client(throttle=bucket))

    # The set mutation is estimated at 15 points: (15 - 5) / 100 s before it may go.
    assert clock.sleeps == [pytest.approx(0.10)]
    assert len(shopify_server.received) == 1


def test_429_retry_after_is_honoured(shopify_server, make_client, clock):
    shopify_server.queue(
        Reply.json(
            {"errors": "Exceeded 2 calls per second for api client."},
            status=429,
            headers=(("Retry-After", "2.5"),),
        ),
        Reply.sample("inventory_set_quantities.success.json"),
    )

    result = _push(make_client())

    assert clock.sleeps == [2.5]
    assert [a.outcome for a in result.call.attempts] == ["rate_limited", "ok"]


def test_wait_longer_than_max_wait_raises_for_the_task_to_reschedule(
    shopify_server, make_client, clock
):
    shopify_server.queue(Reply(429, b"{}", headers=(("Retry-After", "120"),)))

    with pytest.raises(ShopifyThrottled) as caught:
        _push(make_client(max_wait=60))

    assert caught.value.retry_after == 120
    assert caught.value.retryable is True
    assert clock.sleeps == []
    assert len(shopify_server.received) == 1


def test_throttled_on_every_attempt_raises_typed_error(shopify_server, make_client, clock):
    shopify_server.queue(*[Reply.sample("throttled.json")] * 4)

    with pytest.raises(ShopifyThrottled) as caught:
        _push(make_client(max_attempts=4))

    assert len(shopify_server.received) == 4
    assert len(caught.value.call.attempts) == 4
    assert caught.value.retry_after == pytest.approx(0.86)
    assert clock.sleeps == [pytest.approx(0.86)] * 3


# --- failures that are not retried, and exhaustion ----------------------------------------------


def test_5xx_on_every_attempt_backs_off_exponentially_then_raises(
    shopify_server, make_client, clock
):
    shopify_server.queue(*[Reply(503, b"unavailable")] * 6)

    with pytest.raises(ShopifyUnavailable) as caught:
        _push(make_client(max_attempts=6, backoff_base=0.5, backoff_cap=3.0))

    assert len(shopify_server.received) == 6
    steps = [0.5, 1.0, 2.0, 3.0, 3.0]  # doubled, capped at 3
    assert len(clock.sleeps) == 5
    for slept, step in zip(clock.sleeps, steps, strict=True):
        assert step / 2 <= slept <= step
    assert caught.value.maybe_applied is True  # a 5xx mutation might have run
    assert caught.value.call.request_body == shopify_server.received[0].body


@pytest.mark.parametrize("status", [400, 404, 422])
def test_4xx_is_not_retried(shopify_server, make_client, clock, status):
    shopify_server.queue(Reply(status, b'{"errors":"Not Found"}'))

    with pytest.raises(ShopifyQueryError) as caught:
        _push(make_client())

    assert caught.value.code == f"HTTP_{status}"
    assert len(shopify_server.received) == 1
    assert clock.sleeps == []


@pytest.mark.parametrize("status", [401, 403])
def test_bad_token_is_an_auth_error(shopify_server, make_client, status):
    shopify_server.queue(Reply(status, b'{"errors":"[API] Invalid API key or access token"}'))

    with pytest.raises(ShopifyAuthError):
        _push(make_client())

    assert len(shopify_server.received) == 1


def test_access_denied_is_an_auth_error_not_retried(shopify_server, make_client):
    shopify_server.queue(Reply.sample("access_denied.json"))

    with pytest.raises(ShopifyAuthError) as caught:
        make_client().read_levels([ITEM], LOCATION)

    assert caught.value.code == "ACCESS_DENIED"
    assert "read_inventory" in caught.value.message
    assert len(shopify_server.received) == 1


def test_graphql_validation_error_is_not_retried(shopify_server, make_client):
    shopify_server.queue(
        Reply.json(
            {
                "errors": [
                    {
                        "message": "Field 'bogus' doesn't exist on type 'QueryRoot'",
                        "extensions": {"code": "undefinedField", "typeName": "QueryRoot"},
                    }
                ]
            }
        )
    )

    with pytest.raises(ShopifyQueryError) as caught:
        make_client().locations()

    assert caught.value.code == "undefinedField"
    assert len(shopify_server.received) == 1


def test_max_cost_exceeded_is_not_retried_as_is(shopify_server, make_client):
    shopify_server.queue(Reply.sample("max_cost_exceeded.json"))

    with pytest.raises(ShopifyQueryError) as caught:
        _push(make_client())

    assert caught.value.code == "MAX_COST_EXCEEDED"
    assert len(shopify_server.received) == 1


def test_paged_read_halves_its_page_when_shopify_finds_it_too_dear(shopify_server, make_client):
    shopify_server.queue(
        Reply.sample("max_cost_exceeded.json"), Reply.sample("locations.response.json")
    )

    make_client().locations()

    first, second = shopify_server.received
    assert second.variables["first"] == first.variables["first"] // 2


def test_connection_refused_is_retried_then_unavailable_and_never_applied(make_client, clock):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    client = make_client(max_attempts=3)
    client.url = f"http://127.0.0.1:{closed_port}/admin/api/2026-04/graphql.json"

    with pytest.raises(ShopifyUnavailable) as caught:
        _push(client)

    assert [a.outcome for a in caught.value.call.attempts] == ["connect_error"] * 3
    assert caught.value.maybe_applied is False
    assert len(clock.sleeps) == 2


def test_non_idempotent_mutation_is_not_retried_after_a_500(shopify_server, make_client):
    shopify_server.queue(Reply(500, b"oops"), Reply(500, b"oops"))

    with pytest.raises(ShopifyUnavailable) as caught:
        make_client().cancel_order(ORDER)

    assert caught.value.maybe_applied is True
    assert len(shopify_server.received) == 1


def test_non_idempotent_mutation_is_retried_when_throttled(shopify_server, make_client, clock):
    shopify_server.queue(
        Reply.sample("throttled.json"),
        Reply.json(
            {
                "data": {
                    "orderCancel": {
                        "job": {"id": "gid://shopify/Job/1", "done": False},
                        "orderCancelUserErrors": [],
                    }
                }
            }
        ),
    )

    result = make_client().cancel_order(ORDER)

    assert result.job_id == "gid://shopify/Job/1"
    assert len(shopify_server.received) == 2
    assert clock.sleeps == [pytest.approx(0.86)]


def test_every_call_is_reported_to_the_hook_including_failures(shopify_server, make_client):
    seen = []
    shopify_server.queue(
        Reply.sample("inventory_set_quantities.success.json"), Reply(400, b"bad request")
    )
    client = make_client(on_call=seen.append)

    _push(client)
    with pytest.raises(ShopifyQueryError):
        _push(client, key="push-43")

    assert [(c.operation, c.http_status) for c in seen] == [
        ("InventorySetQuantities", 200),
        ("InventorySetQuantities", 400),
    ]
    assert seen[1].response_body == b"bad request"


# --- reads -------------------------------------------------------------------------------------


def _levels_answer(item_ids, names=("available", "on_hand", "committed")):
    level = sample("inventory_item_levels.response.json")["data"]["inventoryItem"]
    quantities = [
        q for q in level["inventoryLevels"]["nodes"][0]["quantities"] if q["name"] in names
    ]
    nodes = [
        {
            "id": item,
            "inventoryLevel": {"updatedAt": "2026-11-22T08:16:02Z", "quantities": quantities},
        }
        for item in item_ids
    ]
    return {"data": {"nodes": nodes}, "extensions": sample("locations.response.json")["extensions"]}


def test_read_levels_in_bulk(shopify_server, make_client):
    answer = _levels_answer([ITEM])
    answer["data"]["nodes"] += [
        None,
        {"id": "gid://shopify/InventoryItem/2", "inventoryLevel": None},
    ]
    shopify_server.queue(Reply.json(answer))

    levels = make_client().read_levels(
        [ITEM, "gid://shopify/InventoryItem/404", "gid://shopify/InventoryItem/2"], LOCATION
    )

    assert levels == {
        ITEM: Level(
            available=9,
            on_hand=12,
            committed=2,
            updated_at=datetime(2026, 11, 22, 8, 16, 2, tzinfo=UTC),
        )
    }
    [request] = shopify_server.received
    assert request.variables["locationId"] == LOCATION
    assert request.variables["names"] == ["available", "on_hand", "committed"]


def test_read_levels_chunks_big_reads(shopify_server, make_client):
    items = [f"gid://shopify/InventoryItem/{i}" for i in range(1, 301)]
    shopify_server.queue(
        Reply.json(_levels_answer(items[:250])), Reply.json(_levels_answer(items[250:]))
    )

    levels = make_client().read_levels(items, LOCATION)

    assert [len(r.variables["ids"]) for r in shopify_server.received] == [250, 50]
    assert set(levels) == set(items)


def test_variants_by_sku_compares_skus_exactly(shopify_server, make_client):
    shopify_server.queue(Reply.sample("variants_by_sku.response.json"))

    found = make_client().variants_by_sku(["SKU2006-001", "sku2006-001"])

    [request] = shopify_server.received
    assert request.variables["query"] == 'sku:"SKU2006-001" OR sku:"sku2006-001"'
    assert found["sku2006-001"] == []
    [variant] = found["SKU2006-001"]
    assert variant.variant_gid == "gid://shopify/ProductVariant/43729076"
    assert variant.variant_id == "43729076"
    assert variant.inventory_item_gid == ITEM
    assert variant.sku == "SKU2006-001"
    assert variant.title == "Aviator sunglasses"


def test_iter_variants_follows_the_cursor(shopify_server, make_client):
    page_one = sample("variants_by_sku.response.json")
    page_one["data"]["productVariants"]["pageInfo"] = {"hasNextPage": True, "endCursor": "c1"}
    page_two = sample("variants_by_sku.response.json")
    node = page_two["data"]["productVariants"]["nodes"][0]
    node.update(id="gid://shopify/ProductVariant/2", legacyResourceId="2", sku="B", barcode="0042")
    page_two["data"]["productVariants"]["pageInfo"] = {"hasNextPage": False, "endCursor": "c2"}
    shopify_server.queue(Reply.json(page_one), Reply.json(page_two))

    variants = list(make_client().iter_variants())

    assert [(v.variant_id, v.sku, v.barcode) for v in variants] == [
        ("43729076", "SKU2006-001", None),
        ("2", "B", "0042"),
    ]
    assert [r.variables["after"] for r in shopify_server.received] == [None, "c1"]


def test_locations(shopify_server, make_client):
    shopify_server.queue(Reply.sample("locations.response.json"))

    locations = make_client().locations()

    assert [
        (loc.gid, loc.legacy_id, loc.name, loc.fulfills_online_orders) for loc in locations
    ] == [
        (LOCATION, "124656943", "Main warehouse", True),
        ("gid://shopify/Location/346779380", "346779380", "Retail store", False),
    ]


def _order_node(order_id, updated_at, lines, has_more_lines=False):
    return {
        "id": f"gid://shopify/Order/{order_id}",
        "legacyResourceId": str(order_id),
        "name": f"#{order_id}",
        "createdAt": "2026-11-22T08:00:00Z",
        "updatedAt": updated_at,
        "cancelledAt": None,
        "cancelReason": None,
        "test": False,
        "retailLocation": None,
        "lineItems": {
            "nodes": lines,
            "pageInfo": {"hasNextPage": has_more_lines, "endCursor": "lines-1"},
        },
    }


def _line(line_id, sku, quantity=1):
    return {
        "id": f"gid://shopify/LineItem/{line_id}",
        "sku": sku,
        "title": sku,
        "quantity": quantity,
        "currentQuantity": quantity,
        "fulfillableQuantity": quantity,
        "variant": {"legacyResourceId": "43729076"},
    }


def test_iter_orders_updated_since_pages_and_normalises(shopify_server, make_client):
    since = datetime(2026, 11, 22, 8, 0, 30, 123456, tzinfo=UTC)
    page = {
        "data": {
            "orders": {
                "nodes": [
                    _order_node(
                        1001, "2026-11-22T08:01:00Z", [_line(11, "A")], has_more_lines=True
                    ),
                    _order_node(1002, "2026-11-22T08:02:00Z", [_line(21, "B", 2)]),
                ],
                "pageInfo": {"hasNextPage": False, "endCursor": "o2"},
            }
        }
    }
    more_lines = {
        "data": {
            "order": {
                "id": "gid://shopify/Order/1001",
                "lineItems": {
                    "nodes": [_line(12, "C")],
                    "pageInfo": {"hasNextPage": False, "endCursor": "lines-2"},
                },
            }
        }
    }
    shopify_server.queue(Reply.json(page), Reply.json(more_lines))

    orders = list(make_client().iter_orders_updated_since(since))

    orders_request, lines_request = shopify_server.received
    assert orders_request.variables["query"] == "updated_at:>'2026-11-22T08:00:30Z'"
    assert "sortKey: UPDATED_AT" in orders_request.json["query"]
    assert lines_request.variables["id"] == "gid://shopify/Order/1001"
    assert lines_request.variables["after"] == "lines-1"
    assert [o["id"] for o in orders] == [1001, 1002]
    assert [li["sku"] for li in orders[0]["line_items"]] == ["A", "C"]
    assert orders[1]["line_items"][0]["quantity"] == 2


def test_get_order_returns_the_webhook_shape_or_none(shopify_server, make_client):
    node = _order_node(1001, "2026-11-22T08:01:00Z", [_line(11, "A", 3)])
    shopify_server.queue(
        Reply.json({"data": {"order": node}}), Reply.json({"data": {"order": None}})
    )
    client = make_client()

    order = client.get_order("gid://shopify/Order/1001")
    missing = client.get_order("gid://shopify/Order/404")

    assert order["id"] == 1001
    assert order["line_items"][0]["current_quantity"] == 3
    assert missing is None
    assert shopify_server.received[0].variables["id"] == "gid://shopify/Order/1001"


def test_iter_orders_refuses_a_naive_datetime(make_client):
    with pytest.raises(ValueError, match="timezone"):
        next(make_client().iter_orders_updated_since(datetime(2026, 1, 1)))  # noqa: DTZ001


# --- fulfilment and cancellation ----------------------------------------------------------------


def test_create_fulfillment_fulfils_the_open_fulfillment_orders(shopify_server, make_client):
    shopify_server.queue(
        Reply.sample("order_fulfillment_orders.response.json"),
        Reply.sample("fulfillment_create.response.json"),
    )
    tracking = Tracking("UPS", "1Z999AA10123456784", "https://www.ups.com/track?tracknum=1Z9")

    result = make_client().create_fulfillment(ORDER, tracking)

    read, create = shopify_server.received
    assert read.variables["id"] == ORDER
    assert create.variables == {
        "fulfillment": {
            "lineItemsByFulfillmentOrder": [
                {"fulfillmentOrderId": "gid://shopify/FulfillmentOrder/1046000778"}
            ],
            "notifyCustomer": False,
            "trackingInfo": {
                "company": "UPS",
                "number": "1Z999AA10123456784",
                "url": "https://www.ups.com/track?tracknum=1Z9",
            },
        }
    }
    assert result.fulfillment_id == "gid://shopify/Fulfillment/1069019883"
    assert result.status == "SUCCESS"
    assert result.fulfillments[0].location_id == LOCATION
    assert len(result.calls) == 2


def test_create_fulfillment_with_nothing_open_sends_no_mutation(shopify_server, make_client):
    answer = sample("order_fulfillment_orders.response.json")
    answer["data"]["order"]["fulfillmentOrders"]["nodes"][0]["status"] = "CLOSED"
    shopify_server.queue(Reply.json(answer))

    result = make_client().create_fulfillment(ORDER, Tracking("UPS", "1Z"))

    assert result.fulfillments == ()
    assert result.fulfillment_id is None
    assert len(shopify_server.received) == 1


def test_create_fulfillment_user_errors_are_raised(shopify_server, make_client):
    rejected = {
        "data": {
            "fulfillmentCreate": {
                "fulfillment": None,
                "userErrors": [{"field": ["fulfillment"], "message": "Invalid fulfillment order"}],
            }
        }
    }
    shopify_server.queue(
        Reply.sample("order_fulfillment_orders.response.json"), Reply.json(rejected)
    )

    with pytest.raises(ShopifyUserError) as caught:
        make_client().create_fulfillment(ORDER, None)

    assert caught.value.user_errors == (
        UserError(code=None, field=("fulfillment",), message="Invalid fulfillment order"),
    )
    assert len(shopify_server.received) == 2


def test_cancel_order_sends_the_2026_04_arguments(shopify_server, make_client):
    shopify_server.queue(
        Reply.json(
            {
                "data": {
                    "orderCancel": {
                        "job": {"id": "gid://shopify/Job/7", "done": True},
                        "orderCancelUserErrors": [],
                    }
                }
            }
        )
    )

    result = make_client().cancel_order(ORDER, reason="INVENTORY", staff_note="oversell #12")

    assert shopify_server.received[0].variables == {
        "orderId": ORDER,
        "reason": "INVENTORY",
        "restock": True,
        "notifyCustomer": False,
        "staffNote": "oversell #12",
    }
    assert (result.job_id, result.job_done) == ("gid://shopify/Job/7", True)


def test_cancel_order_user_errors_are_raised(shopify_server, make_client):
    shopify_server.queue(
        Reply.json(
            {
                "data": {
                    "orderCancel": {
                        "job": None,
                        "orderCancelUserErrors": [
                            {
                                "code": "INVALID",
                                "field": ["orderId"],
                                "message": "Already cancelled",
                            }
                        ],
                    }
                }
            }
        )
    )

    with pytest.raises(ShopifyUserError) as caught:
        make_client().cancel_order(ORDER)

    assert caught.value.code == "INVALID"
    assert caught.value.retryable is False


def test_cancel_order_refuses_an_unknown_reason(shopify_server, make_client):
    with pytest.raises(ValueError, match="reason"):
        make_client().cancel_order(ORDER, reason="customer")

    assert shopify_server.received == []


def sample_status(currently_available):
    from channels.lanes.throttle import ThrottleStatus

    return ThrottleStatus(
        maximum_available=2000.0, currently_available=currently_available, restore_rate=100.0
    )
