"""The Amazon client's pure parts against Amazon's own documents: every official example answer
of an operation the client uses goes through the parser the client applies to it, the request
bodies it builds validate against the models and the feed schema, and the usage-plan table in
code is the one generated from the models."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator, Draft7Validator

from channels.lanes.amazon import client as amazon
from tests.contracts import CONTRACTS

AMAZON = CONTRACTS / "amazon"
EXAMPLES = AMAZON / "examples"
MODELS = AMAZON / "models"

# operation -> (examples file, operationId in that file)
EXAMPLE_SOURCES = {
    "getListingsItem": ("listingsItems_2021-08-01", "getListingsItem"),
    "patchListingsItem": ("listingsItems_2021-08-01", "patchListingsItem"),
    "searchListingsItems": ("listingsItems_2021-08-01", "searchListingsItems"),
    "createFeedDocument": ("feeds_2021-06-30", "createFeedDocument"),
    "createFeed": ("feeds_2021-06-30", "createFeed"),
    "getFeed": ("feeds_2021-06-30", "getFeed"),
    "getFeedDocument": ("feeds_2021-06-30", "getFeedDocument"),
    "searchOrders": ("orders_2026-01-01", "searchOrders"),
    "getOrder": ("orders_2026-01-01", "getOrder"),
    "confirmShipment": ("ordersV0", "confirmShipment"),
    "createReport": ("reports_2021-06-30", "createReport"),
    "getReport": ("reports_2021-06-30", "getReport"),
    "getReportDocument": ("reports_2021-06-30", "getReportDocument"),
}


def _load(path: Path) -> Any:
    body = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(body, dict):
        body.pop("_note", None)
    return body


def _success_examples(operation: str) -> list[tuple[str, Any]]:
    model, operation_id = EXAMPLE_SOURCES[operation]
    document = _load(EXAMPLES / f"{model}.examples.json")
    found = []
    for example in document["operations"][operation_id]["examples"]:
        if not str(example["status"]).startswith("2"):
            continue
        response = example.get("response")
        # Response examples are keyed by media type; sandbox examples are the body itself.
        if isinstance(response, dict) and set(response) == {"application/json"}:
            response = response["application/json"]
        found.append((f"{operation_id} {example['status']} {example['kind']}", response))
    return found


def test_every_operation_the_client_calls_has_a_parser_and_a_usage_plan():
    # given the operations the client sends
    # then each has the parser its answers go through and a row in the usage-plan table
    assert set(amazon.PARSERS) == set(amazon.USAGE_PLANS)
    assert set(EXAMPLE_SOURCES) | {"getInventorySummaries"} == set(amazon.PARSERS)


@pytest.mark.parametrize("operation", sorted(EXAMPLE_SOURCES))
def test_official_example_answers_parse(operation):
    # given every 2xx example answer Amazon's model gives for the operation
    examples = _success_examples(operation)
    assert examples, f"no 2xx example for {operation}"
    for label, body in examples:
        # when the client's parser for that operation reads it
        result = amazon.PARSERS[operation](body)
        # then it parses without error into what the client returns
        if operation == "confirmShipment":
            assert result is None, label
        else:
            assert result is not None, label


def test_example_orders_expose_the_keys_the_ingest_maps():
    # given the 2026-01-01 search example answers
    for label, body in _success_examples("searchOrders"):
        page = amazon.orders_page_from_json(body)
        for order in page.orders:
            # then every order has id, update time, channel, and items with SKU and quantity
            assert order["orderId"], label
            assert order["lastUpdatedTime"], label
            assert order["salesChannel"]["channelName"] in ("AMAZON", "NON_AMAZON"), label
            if "fulfillment" in order:
                assert order["fulfillment"]["fulfillmentStatus"] in {
                    "PENDING_AVAILABILITY",
                    "PENDING",
                    "UNSHIPPED",
                    "PARTIALLY_SHIPPED",
                    "SHIPPED",
                    "CANCELLED",
                    "UNFULFILLABLE",
                }, label
            for item in order["orderItems"]:
                assert item["orderItemId"], label
                assert isinstance(item["quantityOrdered"], int), label


def test_example_answers_give_the_documented_values():
    # given Amazon's examples for patch (ACCEPTED), getFeed and the search pagination
    _, accepted = _success_examples("patchListingsItem")[0]
    submission = amazon.submission_from_json(accepted)
    assert (submission.status, submission.accepted, submission.issues) == ("ACCEPTED", True, [])

    _, listing = _success_examples("getListingsItem")[0]
    assert amazon.mfn_quantity(listing) == 100
    assert amazon.fulfillment_channel(listing) == "MFN"
    summary = amazon.listing_summary(listing, "ATVPDKIKX0DER")
    assert (summary.sku, summary.asin, summary.quantity) == ("GM-ZDPI-9B4E", "B071VG5N9D", 100)

    _, search = _success_examples("searchListingsItems")[0]
    items, token = amazon.listings_page_from_json(search)
    assert len(items) >= 1
    assert token

    _, created = _success_examples("createFeed")[0]
    assert amazon.feed_id_from_json(created)


def test_the_constructed_inventory_answer_parses_with_its_pagination():
    # given the schema-built getInventorySummaries answer (Amazon's sandbox has no static one)
    body = _load(EXAMPLES / "constructed" / "getInventorySummaries.response.constructed.json")
    # when parsed
    summaries, token = amazon.inventory_page_from_json(body)
    # then the summaries come out with their SKUs
    assert summaries
    assert all("sellerSku" in s for s in summaries)
    assert token is None or isinstance(token, str)


def test_constructed_invalid_patch_answer_parses_as_invalid_with_errors():
    body = _load(EXAMPLES / "constructed" / "patchListingsItem.response_invalid.json")
    submission = amazon.submission_from_json(body)
    assert submission.status == "INVALID"
    assert not submission.accepted
    assert [i["code"] for i in submission.errors] == ["90000900"]


def test_processing_report_example_parses_per_message_and_sku():
    # given Amazon's example processing report for a JSON listings feed
    body = _load(
        AMAZON / "schemas" / "feeds" / "listings-feed-processing-report-schema-v2.example.json"
    )
    # when parsed
    report = amazon.feed_report_from_json(body)
    # then the summary and per-message issues come through
    assert (report.messages_processed, report.messages_accepted, report.messages_invalid) == (
        4,
        2,
        2,
    )
    assert report.errors == 3
    assert report.rejected_skus == {"My-SKU-B", "My-SKU-C"}
    assert report.rejected_message_ids == {4, 5}
    assert len(report.issues_for("My-SKU-B")) == 2


def test_processing_report_issue_without_sku_is_mapped_by_message_id():
    body = {
        "header": {"sellerId": "A1", "version": "2.0", "feedId": "9"},
        "issues": [{"messageId": 2, "code": "4000001", "severity": "ERROR", "message": "bad"}],
        "summary": {
            "errors": 1,
            "warnings": 0,
            "messagesProcessed": 2,
            "messagesAccepted": 1,
            "messagesInvalid": 1,
        },
    }
    report = amazon.feed_report_from_json(body, {1: "A", 2: "B"})
    assert report.rejected_skus == {"B"}


# --- request bodies against the models ------------------------------------------------------


def _definitions(model: str) -> dict[str, Any]:
    return _load(MODELS / f"{model}.json")["definitions"]


def _model_validator(model: str, definition: str) -> Draft4Validator:
    root = {"$ref": f"#/definitions/{definition}", "definitions": _definitions(model)}
    return Draft4Validator(root)


def test_patch_body_is_a_valid_listings_item_patch_request_with_a_merge_of_quantity_only():
    body = amazon.listing_patch_body(7)
    errors = list(
        _model_validator("listingsItems_2021-08-01", "ListingsItemPatchRequest").iter_errors(body)
    )
    assert errors == []
    assert body == _load(EXAMPLES / "constructed" / "patchListingsItem_quantity_merge.request.json")


def test_quantity_feed_validates_against_the_listings_feed_schema_v2():
    # given quantities for three SKUs, one with characters a URL would escape
    quantities = [("SKU-1", 12), ("SKU 2/x", 0), ("ÜBER-3", 5)]
    # when the feed document is built
    document = amazon.quantity_feed_document("A1SELLER", quantities)
    # then it validates against Amazon's schema, one PATCH merge message per SKU
    schema = _load(AMAZON / "schemas" / "feeds" / "listings-feed-schema-v2.json")
    errors = list(Draft7Validator(schema).iter_errors(document))
    assert errors == []
    assert [(m["messageId"], m["sku"]) for m in document["messages"]] == [
        (1, "SKU-1"),
        (2, "SKU 2/x"),
        (3, "ÜBER-3"),
    ]
    assert {m["patches"][0]["op"] for m in document["messages"]} == {"merge"}
    assert document["messages"][0]["patches"][0]["value"] == [
        {"fulfillment_channel_code": "DEFAULT", "quantity": 12}
    ]


@pytest.mark.parametrize(
    "quantities",
    [[], [("A", -1)], [("A", 1.5)], [("A", True)], [("", 1)], [("A", 1), ("A", 2)]],
)
def test_quantity_feed_refuses_bad_input(quantities):
    with pytest.raises(ValueError, match="quantity|SKU"):
        amazon.quantity_feed_document("A1", quantities)


def test_confirm_shipment_body_is_a_valid_request():
    body = amazon.confirm_shipment_body(
        "ATVPDKIKX0DER",
        items=[("111", 1), ("222", 2)],
        carrier="UPS",
        tracking_number="1Z999",
        ship_date=datetime(2026, 3, 2, 10, 30, tzinfo=timezone(timedelta(hours=2))),
        shipping_method="Ground",
    )
    errors = list(_model_validator("ordersV0", "ConfirmShipmentRequest").iter_errors(body))
    assert errors == []
    assert body["packageDetail"]["shipDate"] == "2026-03-02T08:30:00Z"
    assert body["packageDetail"]["orderItems"] == [
        {"orderItemId": "111", "quantity": 1},
        {"orderItemId": "222", "quantity": 2},
    ]


def test_confirm_shipment_body_needs_a_carrier_name_for_other():
    with pytest.raises(ValueError, match="carrier_name"):
        amazon.confirm_shipment_body(
            "M", items=[("1", 1)], carrier="Other", tracking_number="T", ship_date=datetime.now(UTC)
        )


# --- usage plans ----------------------------------------------------------------------------


def test_usage_plan_table_matches_the_generated_usage_plans():
    # given usage_plans.json generated from the models' Usage Plan tables
    generated = {
        (row["model"].removesuffix(".json"), row["operationId"]): row
        for row in _load(AMAZON / "usage_plans.json")["operations"]
    }
    # then the table the client carries in code agrees for every operation it uses
    for plan in amazon.USAGE_PLANS.values():
        row = generated[(plan.model, plan.operation)]
        assert (row["method"], row["path"]) == (plan.method, plan.path), plan.operation
        assert (row["rate"], row["burst"]) == (plan.rate, plan.burst), plan.operation
        assert row["successStatus"] == plan.success_status, plan.operation
        assert row["deprecated"] is False, plan.operation


# --- helpers ----------------------------------------------------------------------------------


def test_credentials_from_names_missing_keys_without_leaking_values():
    with pytest.raises(amazon.AmazonCredentialsError) as caught:
        amazon.credentials_from({"refresh_token": "Atzr|secret", "lwa_app_id": "  "})
    message = str(caught.value)
    assert "lwa_client_secret" in message
    assert "lwa_app_id" in message
    assert "Atzr|secret" not in message
    with pytest.raises(amazon.AmazonCredentialsError):
        amazon.credentials_from(None)


def test_credentials_from_ignores_extra_keys_and_hides_secrets_in_repr():
    creds = amazon.credentials_from(
        {"refresh_token": "Atzr|x", "lwa_app_id": "amzn1.app", "lwa_client_secret": "s3", "x": 1}
    )
    assert creds == amazon.AmazonCredentials("Atzr|x", "amzn1.app", "s3")
    assert "Atzr|x" not in repr(creds)
    assert "s3" not in repr(creds)


def test_documents_are_decompressed_only_when_gzip():
    raw = b"sku\tqty\nA\t1\n"
    assert amazon.decompress_document(gzip.compress(raw), "GZIP") == raw
    assert amazon.decompress_document(raw, "GZIP") == raw  # already inflated by the HTTP layer
    assert amazon.decompress_document(raw, None) == raw


def test_afn_listing_has_no_mfn_quantity():
    item = {"sku": "F", "fulfillmentAvailability": [{"fulfillmentChannelCode": "AMAZON_NA"}]}
    assert amazon.mfn_quantity(item) is None
    assert amazon.fulfillment_channel(item) == "AFN"
    assert amazon.fulfillment_channel({"sku": "X"}) is None


def test_iso_datetime_refuses_naive_times():
    with pytest.raises(ValueError, match="timezone-aware"):
        amazon.iso_datetime(datetime(2026, 1, 1))  # noqa: DTZ001


def test_each_feed_message_names_its_own_listings_product_type():
    from channels.lanes.amazon.client import quantity_feed_document

    document = quantity_feed_document(
        "A1SELLER",
        [("MUG", 3), ("TEE", 5)],
        product_types={"TEE": "SHIRT"},
        product_type="PRODUCT",
    )
    assert [m["productType"] for m in document["messages"]] == ["PRODUCT", "SHIRT"]
