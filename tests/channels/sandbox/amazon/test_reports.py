"""Reports 2021-06-30: the FBA customer returns report and the merchant listings report."""

from __future__ import annotations

import csv
import gzip
import io
from datetime import timedelta

from channels.sandbox.amazon.clock import iso
from channels.sandbox.amazon.reports import RETURNS_COLUMNS
from tests.channels.sandbox.amazon.support import US, SpApi

RETURNS = "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA"


def _create(api: SpApi, report_type: str, **body) -> str:
    answer = api.ok(
        "POST",
        "/reports/2021-06-30/reports",
        body={"reportType": report_type, "marketplaceIds": [US], **body},
        operation="createReport",
        status=202,
    )
    return answer["reportId"]


def _get(api: SpApi, report_id: str) -> dict:
    return api.ok("GET", f"/reports/2021-06-30/reports/{report_id}", operation="getReport")


def _download(api: SpApi, document_id: str) -> list[dict]:
    info = api.ok(
        "GET", f"/reports/2021-06-30/documents/{document_id}", operation="getReportDocument"
    )
    raw = api.download(info["url"]).content
    if info.get("compressionAlgorithm") == "GZIP":
        raw = gzip.decompress(raw)
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8")), delimiter="\t"))


def _finish(sandbox) -> None:
    sandbox.advance(sandbox.config.report_queue_seconds + sandbox.config.report_processing_seconds)


def test_returns_report_lists_returns_with_their_dispositions(api: SpApi, sandbox, clock):
    sandbox.add_listing("HOODIE", channel="AFN", fba={"fulfillable": 5})
    sandbox.add_return("HOODIE", 1, disposition="SELLABLE", license_plate_number="LPNRR1")
    sandbox.add_return(
        "HOODIE",
        2,
        disposition="CUSTOMER_DAMAGED",
        reason="DEFECTIVE",
        customer_comments="Arrived cracked",
        license_plate_number="LPNRR2",
    )
    sandbox.add_return("HOODIE", 1, disposition="CARRIER_DAMAGED", license_plate_number="LPNRR3")
    report_id = _create(api, RETURNS)

    assert _get(api, report_id)["processingStatus"] == "IN_QUEUE"
    clock.advance(sandbox.config.report_queue_seconds)
    assert _get(api, report_id)["processingStatus"] == "IN_PROGRESS"
    clock.advance(sandbox.config.report_processing_seconds)
    report = _get(api, report_id)
    assert report["processingStatus"] == "DONE"

    rows = _download(api, report["reportDocumentId"])
    assert list(rows[0]) == list(RETURNS_COLUMNS)
    assert [
        (r["license-plate-number"], r["detailed-disposition"], r["quantity"]) for r in rows
    ] == [
        ("LPNRR1", "SELLABLE", "1"),
        ("LPNRR2", "CUSTOMER_DAMAGED", "2"),
        ("LPNRR3", "CARRIER_DAMAGED", "1"),
    ]
    assert rows[1]["customer-comments"] == "Arrived cracked"
    assert rows[2]["status"] == "Reimbursed"
    assert rows[0]["return-date"].endswith("+00:00")
    # The units landed in their FBA buckets; the carrier-damaged one became Amazon's.
    fba = sandbox.listing("HOODIE")["fba"]
    assert (fba["fulfillable"], fba["customer_damaged"], fba["carrier_damaged"]) == (6, 2, 0)


def test_returns_outside_the_data_range_are_left_out(api: SpApi, sandbox):
    sandbox.add_listing("HOODIE", channel="AFN", fba={"fulfillable": 5})
    old = sandbox.now() - timedelta(days=90)
    sandbox.add_return("HOODIE", 1, return_date=old, license_plate_number="OLD")
    sandbox.add_return("HOODIE", 1, license_plate_number="NEW")

    report_id = _create(
        api,
        RETURNS,
        dataStartTime=iso(sandbox.now() - timedelta(days=7)),
        dataEndTime=iso(sandbox.now()),
    )
    _finish(sandbox)

    rows = _download(api, _get(api, report_id)["reportDocumentId"])
    assert [r["license-plate-number"] for r in rows] == ["NEW"]


def test_a_returns_report_without_rows_is_cancelled(api: SpApi, sandbox):
    report_id = _create(api, RETURNS)
    _finish(sandbox)

    report = _get(api, report_id)

    assert report["processingStatus"] == "CANCELLED"
    assert "reportDocumentId" not in report


def test_merchant_listings_report_covers_mfn_and_afn(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=7, title="Tee M")
    sandbox.add_listing("HOODIE", channel="AFN", fba={"fulfillable": 3})
    sandbox.add_listing("SOLD-OUT", quantity=0)

    report_id = _create(api, "GET_MERCHANT_LISTINGS_ALL_DATA")
    _finish(sandbox)
    rows = {r["seller-sku"]: r for r in _download(api, _get(api, report_id)["reportDocumentId"])}

    assert rows["TEE-M"]["quantity"] == "7"
    assert rows["TEE-M"]["fulfillment-channel"] == "DEFAULT"
    assert rows["TEE-M"]["item-name"] == "Tee M"
    assert rows["HOODIE"]["quantity"] == ""  # Amazon owns FBA quantity
    assert rows["HOODIE"]["fulfillment-channel"] == "AMAZON_NA"
    assert rows["SOLD-OUT"]["status"] == "Inactive"
    assert rows["TEE-M"]["asin1"] == sandbox.listing("TEE-M")["asin"]


def test_an_unsupported_report_type_ends_fatal(api: SpApi, sandbox):
    report_id = _create(api, "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE")
    _finish(sandbox)

    assert _get(api, report_id)["processingStatus"] == "FATAL"


def test_get_reports_lists_the_newest_first(api: SpApi, sandbox, clock):
    first = _create(api, RETURNS)
    clock.advance(5)
    second = _create(api, RETURNS)

    listed = api.ok(
        "GET", "/reports/2021-06-30/reports", {"reportTypes": RETURNS}, operation="getReports"
    )

    assert [r["reportId"] for r in listed["reports"]] == [second, first]
