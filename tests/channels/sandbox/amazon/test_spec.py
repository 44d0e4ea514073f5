"""Validation against the official models: the examples Amazon ships pass, bad requests fail,
and what python-amazon-sp-api adds to a request is tolerated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from channels.sandbox.amazon import operation_for, validate_request, validate_response
from channels.sandbox.amazon.api import HANDLERS
from channels.sandbox.amazon.spec import DATA_DIR, validate_json

CONTRACTS = Path("/work/shared/contracts/amazon/examples")
SERVED = set(HANDLERS)


def _examples() -> list[tuple[str, str, str, object]]:
    """(model, operationId, status, body) for every official example of a served operation,
    from the bundled copy and, when present, the contracts folder they came from."""
    found = []
    folders = [DATA_DIR / "examples"] + ([CONTRACTS] if CONTRACTS.is_dir() else [])
    for folder in folders:
        for path in sorted(folder.glob("*.examples.json")):
            model = path.name.removesuffix(".examples.json")
            for operation_id, info in json.loads(path.read_text())["operations"].items():
                if f"{model}.{operation_id}" not in SERVED:
                    continue
                for example in info["examples"]:
                    body = example.get("response")
                    if example["kind"] == "response-example":
                        body = body.get("application/json", body)
                    if example["status"] == "204":
                        body = None
                    found.append((model, operation_id, example["status"], body))
    return found


EXAMPLES = _examples()


def test_there_are_official_examples_for_the_served_operations():
    covered = {f"{model}.{op}" for model, op, _, _ in EXAMPLES}
    # FBA inventory has no static example (its sandbox is dynamic); the rest all do.
    assert covered >= SERVED - {"fbaInventory.getInventorySummaries"}
    assert len(EXAMPLES) >= 40


@pytest.mark.parametrize(("model", "operation_id", "status", "body"), EXAMPLES)
def test_official_example_answers_validate(model, operation_id, status, body):
    assert validate_response(f"{model}.{operation_id}", status, body) == []


def test_constructed_inventory_summaries_example_validates():
    path = DATA_DIR / "examples" / "getInventorySummaries.response.constructed.json"
    body = json.loads(path.read_text())
    body.pop("_note")
    assert validate_response("getInventorySummaries", 200, body) == []


def test_feed_schema_examples_validate():
    example = json.loads((DATA_DIR / "feeds" / "listings-feed-schema-v2.example.json").read_text())
    report = json.loads(
        (DATA_DIR / "feeds" / "listings-feed-processing-report-schema-v2.example.json").read_text()
    )
    assert validate_json("feeds/listings-feed-schema-v2.json", example) == []
    assert validate_json("feeds/listings-feed-processing-report-schema-v2.json", report) == []


def test_a_response_missing_a_required_field_does_not_validate():
    problems = validate_response("getFeed", 200, {"feedId": "1", "feedType": "JSON_LISTINGS_FEED"})
    assert any("createdTime" in p for p in problems)
    assert any("processingStatus" in p for p in problems)


def test_an_undeclared_status_does_not_validate():
    assert validate_response("confirmShipment", 200, {}) == [
        "ordersV0.confirmShipment does not declare HTTP 200"
    ]


def test_a_bare_operation_id_shared_by_two_models_means_the_current_one():
    # getOrder exists in Orders v0 (deprecated) and 2026-01-01.
    v2026 = {
        "order": {
            "orderId": "1",
            "createdTime": "2026-01-01T00:00:00Z",
            "lastUpdatedTime": "2026-01-01T00:00:00Z",
            "salesChannel": {"channelName": "AMAZON"},
            "orderItems": [],
        }
    }
    v0 = {"payload": {"OrderStatus": "Shipped"}}
    assert validate_response("getOrder", 200, v2026) == []
    assert any("'order' is a required" in p for p in validate_response("getOrder", 200, v0))
    assert any(
        "'AmazonOrderId' is a required" in p
        for p in validate_response("ordersV0.getOrder", 200, v0)
    )


def test_operation_for_decodes_path_parameters_after_splitting():
    match = operation_for("PATCH", "/listings/2021-08-01/items/A1SELLER/TEE%2FM%20blue")
    assert match is not None
    assert match.operation_id == "patchListingsItem"
    assert match.path_params == {"sellerId": "A1SELLER", "sku": "TEE/M blue"}
    assert operation_for("GET", "/listings/2021-08-01/items/A1SELLER").operation_id == (
        "searchListingsItems"
    )
    assert operation_for("POST", "/orders/v0/orders/1/shipmentConfirmation").key == (
        "ordersV0.confirmShipment"
    )
    assert operation_for("GET", "/no/such/path") is None


def test_a_valid_patch_passes_with_what_python_amazon_sp_api_adds():
    # The library adds MarketplaceId/marketplace_ids/... to the query of GET/PATCH calls.
    query = {
        "marketplaceIds": ["ATVPDKIKX0DER"],
        "MarketplaceId": ["ATVPDKIKX0DER"],
        "marketplace_ids": ["ATVPDKIKX0DER"],
    }
    body = {
        "productType": "PRODUCT",
        "patches": [
            {
                "op": "merge",
                "path": "/attributes/fulfillment_availability",
                "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 3}],
            }
        ],
    }
    assert validate_request("PATCH", "/listings/2021-08-01/items/S/SKU", query, body) == []


def test_create_feed_body_with_the_librarys_extra_keys_is_valid():
    body = {
        "feedType": "JSON_LISTINGS_FEED",
        "inputFeedDocumentId": "doc",
        "path": "/feeds/2021-06-30/feeds",
        "marketplaceIds": ["ATVPDKIKX0DER"],
        "MarketplaceIds": ["ATVPDKIKX0DER"],
    }
    assert validate_request("POST", "/feeds/2021-06-30/feeds", {}, body) == []


def test_array_parameters_are_accepted_as_csv_and_as_repeated_keys():
    path = "/orders/2026-01-01/orders"
    csv = {"createdAfter": ["2026-01-01T00:00:00Z"], "fulfillmentStatuses": ["PENDING,UNSHIPPED"]}
    repeated = {
        "createdAfter": ["2026-01-01T00:00:00Z"],
        "fulfillmentStatuses": ["PENDING", "UNSHIPPED"],
    }
    assert validate_request("GET", path, csv, None) == []
    assert validate_request("GET", path, repeated, None) == []


@pytest.mark.parametrize(
    ("method", "path", "query", "body", "expected"),
    [
        # a required array parameter missing
        ("GET", "/listings/2021-08-01/items/S/SKU", {}, None, "'marketplaceIds' is required"),
        # an enum value the model does not list
        (
            "GET",
            "/orders/2026-01-01/orders",
            {"createdAfter": ["2026-01-01T00:00:00Z"], "fulfillmentStatuses": ["SHIPPED,Lost"]},
            None,
            "'Lost' is not one of",
        ),
        # not an integer
        (
            "GET",
            "/listings/2021-08-01/items/S",
            {"marketplaceIds": ["X"], "pageSize": ["ten"]},
            None,
            "'ten' is not an integer",
        ),
        # above the model's maximum
        (
            "GET",
            "/listings/2021-08-01/items/S",
            {"marketplaceIds": ["X"], "pageSize": ["50"]},
            None,
            "greater than the maximum of 20",
        ),
        # too many items (FBA inventory takes one marketplace)
        (
            "GET",
            "/fba/inventory/v1/summaries",
            {"granularityType": ["Marketplace"], "granularityId": ["X"], "marketplaceIds": ["X,Y"]},
            None,
            "at most 1 item",
        ),
        # a date that is not ISO 8601
        (
            "GET",
            "/orders/2026-01-01/orders",
            {"createdAfter": ["02/21/2022"]},
            None,
            "not an ISO 8601 date-time",
        ),
        # the body: patches needs at least one operation
        (
            "PATCH",
            "/listings/2021-08-01/items/S/SKU",
            {"marketplaceIds": ["X"]},
            {"productType": "PRODUCT", "patches": []},
            "patches",
        ),
        # the body: a value that is not an array of objects
        (
            "PATCH",
            "/listings/2021-08-01/items/S/SKU",
            {"marketplaceIds": ["X"]},
            {
                "productType": "PRODUCT",
                "patches": [
                    {
                        "op": "replace",
                        "path": "/attributes/fulfillment_availability",
                        "value": {"quantity": 1},
                    }
                ],
            },
            "is not of type 'array'",
        ),
        # confirmShipment with a non-ISO shipDate (Amazon's own 400 example)
        (
            "POST",
            "/orders/v0/orders/1/shipmentConfirmation",
            {},
            {
                "marketplaceId": "ATVPDKIKX0DER",
                "packageDetail": {
                    "packageReferenceId": "1",
                    "carrierCode": "UPS",
                    "trackingNumber": "1Z",
                    "shipDate": "02/21/2022",
                    "orderItems": [{"orderItemId": "1", "quantity": 1}],
                },
            },
            "shipDate",
        ),
        # a required body missing
        ("POST", "/feeds/2021-06-30/documents", {}, None, "body is required"),
    ],
)
def test_invalid_requests_are_refused(method, path, query, body, expected):
    problems = validate_request(method, path, query, body)
    assert any(expected in problem for problem in problems), problems
