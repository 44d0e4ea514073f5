"""Injected faults: the failures a client has to survive, and the request counters."""

from __future__ import annotations

import pytest
import requests

from tests.channels.sandbox.shopify.support import Shop, WebhookReceiver

SET = """
mutation PushAvailable($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { id changes { name delta } }
    userErrors { code field message }
  }
}
"""


@pytest.fixture
def push(shop: Shop):
    seeded = shop.seed({"sku": "MUG", "quantities": {"Main warehouse": 10}})
    item = seeded["products"][0]["inventory_item_gid"]
    location = seeded["locations"][0]["gid"]

    def variables(quantity: int, key: str, change_from: int | None = 10) -> dict:
        return {
            "key": key,
            "input": {
                "name": "available",
                "reason": "correction",
                "quantities": [
                    {
                        "inventoryItemId": item,
                        "locationId": location,
                        "quantity": quantity,
                        "changeFromQuantity": change_from,
                    }
                ],
            },
        }

    return variables


def test_lost_write_answers_success_but_keeps_the_old_level(
    shop: Shop, push, subscribed: WebhookReceiver
):
    shop.control("POST", "faults", {"kind": "lost_write", "count": 1}, expect=201)

    body = shop.gql(SET, push(4, "lost-1"))

    assert body["data"]["inventorySetQuantities"]["userErrors"] == []
    assert body["data"]["inventorySetQuantities"]["inventoryAdjustmentGroup"]["changes"][0] == {
        "name": "available",
        "delta": -6,
    }
    assert shop.level("MUG")["available"] == 10
    shop.flush()
    assert subscribed.of("inventory_levels/update") == []
    # The fault was used up: the next push persists.
    shop.gql(SET, push(4, "lost-2"))
    assert shop.level("MUG")["available"] == 4


def test_http_429_fault_has_retry_after_and_runs_nothing(shop: Shop, push):
    shop.control(
        "POST",
        "faults",
        {"kind": "http_429", "count": 1, "match": "inventorySetQuantities", "retry_after": 2},
        expect=201,
    )

    response = shop.post_graphql(SET, push(3, "rate-1"))

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2.0"
    assert response.json()["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert shop.level("MUG")["available"] == 10
    assert shop.post_graphql(SET, push(3, "rate-1")).status_code == 200
    assert shop.level("MUG")["available"] == 3


def test_throttled_fault_is_http_200(shop: Shop, push):
    shop.control("POST", "faults", {"kind": "throttled"}, expect=201)

    response = shop.post_graphql(SET, push(3, "throttled-1"))

    assert response.status_code == 200
    assert response.json()["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert shop.level("MUG")["available"] == 10


@pytest.mark.parametrize(
    ("kind", "status"), [("http_500", 500), ("http_502", 502), ("http_503", 503)]
)
def test_server_errors(shop: Shop, push, kind: str, status: int):
    shop.control("POST", "faults", {"kind": kind}, expect=201)

    response = shop.post_graphql(SET, push(3, f"{kind}-1"))

    assert response.status_code == status
    assert shop.level("MUG")["available"] == 10


def test_a_502_after_the_write_applied_hides_the_success(shop: Shop, push):
    shop.control("POST", "faults", {"kind": "http_502", "apply": True}, expect=201)

    response = shop.post_graphql(SET, push(3, "applied-502"))

    assert response.status_code == 502
    assert shop.level("MUG")["available"] == 3
    # The client's retry with the same key replays instead of failing the compare.
    retry = shop.post_graphql(SET, push(3, "applied-502")).json()
    assert retry["data"]["inventorySetQuantities"]["userErrors"] == []


def test_slow_answer_makes_the_client_time_out_after_the_write(shop: Shop, push):
    shop.control("POST", "faults", {"kind": "slow", "seconds": 0.5}, expect=201)

    with pytest.raises(requests.Timeout):
        shop.post_graphql(SET, push(2, "slow-1"), timeout=0.1)

    assert shop.level("MUG")["available"] == 2


def test_dropped_connection(shop: Shop, push):
    shop.control("POST", "faults", {"kind": "drop_connection", "apply": False}, expect=201)

    with pytest.raises(requests.ConnectionError):
        shop.post_graphql(SET, push(2, "drop-1"))

    assert shop.level("MUG")["available"] == 10


def test_faults_only_hit_matching_calls_and_expire(shop: Shop, push):
    shop.control(
        "POST",
        "faults",
        {"kind": "http_500", "count": 2, "match": "inventorySetQuantities"},
        expect=201,
    )

    reads = [shop.post_graphql("query Shop { shop { name } }").status_code for _ in range(2)]
    writes = [shop.post_graphql(SET, push(5, f"k{i}", None)).status_code for i in range(3)]

    assert reads == [200, 200]
    assert writes == [500, 500, 200]
    assert shop.control("GET", "faults")["faults"] == []


def test_request_log_counts_calls_per_operation_and_mutation_field(shop: Shop, push):
    shop.gql("query Shop { shop { name } }")
    shop.gql(SET, push(9, "count-1"))
    shop.gql(SET, push(8, "count-2", 9))

    counters = shop.control("GET", "requests")["counters"]

    assert counters["calls"] == 3
    assert counters["by_operation"] == {"Shop": 1, "PushAvailable": 2}
    assert counters["by_mutation_field"] == {"inventorySetQuantities": 2}
    assert counters["by_status"] == {"200": 3}
    assert counters["requested_cost_total"] == 1 + 10 + 10
    assert shop.control("DELETE", "requests")["counters"]["calls"] == 0
