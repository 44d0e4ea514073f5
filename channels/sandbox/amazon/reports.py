"""Reports 2021-06-30: createReport, its processing and the report documents.

Served report types:
- GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA: tab-separated, the columns of CONTRACT.md §4.1,
  rows from `add_return` whose return date falls in [dataStartTime, dataEndTime] (default: the
  last 30 days). With no rows the report ends CANCELLED without a document, which is how Amazon
  cancels a report "if there is no data to return".
- GET_MERCHANT_LISTINGS_ALL_DATA / GET_MERCHANT_LISTINGS_DATA: the seller's listings (all, or
  the active ones), columns as in the "All Listings Report".
- GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE: merchant-fulfilled return requests (a row per
  item, from `return_merchant_order`) whose request date falls in the window, with the columns
  of Amazon's "Returns reports attributes" page in its order and values shaped like a real
  file's; none ends CANCELLED like the FBA one.
Any other type ends FATAL.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

from . import payloads
from .clock import iso, parse_iso
from .world.records import MerchantReturn, Report

if TYPE_CHECKING:
    from .world.base import WorldBase

RETURNS = "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA"
LISTINGS_ALL = "GET_MERCHANT_LISTINGS_ALL_DATA"
LISTINGS_ACTIVE = "GET_MERCHANT_LISTINGS_DATA"
RETURNS_COLUMNS = (
    "return-date",
    "order-id",
    "sku",
    "asin",
    "fnsku",
    "product-name",
    "quantity",
    "fulfillment-center-id",
    "detailed-disposition",
    "reason",
    "status",
    "license-plate-number",
    "customer-comments",
)
LISTINGS_COLUMNS = (
    "item-name",
    "item-description",
    "listing-id",
    "seller-sku",
    "price",
    "quantity",
    "open-date",
    "image-url",
    "item-is-marketplace",
    "product-id-type",
    "zshop-shipping-fee",
    "item-note",
    "item-condition",
    "zshop-category1",
    "zshop-browse-path",
    "zshop-storefront-feature",
    "asin1",
    "asin2",
    "asin3",
    "will-ship-internationally",
    "expedited-shipping",
    "zshop-boldface",
    "product-id",
    "bid-for-featured-placement",
    "add-delete",
    "pending-quantity",
    "fulfillment-channel",
    "merchant-shipping-group",
    "status",
)
MERCHANT_RETURNS = "GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE"
MERCHANT_RETURNS_COLUMNS = (
    "Order ID",
    "Order date",
    "Return request date",
    "Return request status",
    "Amazon RMA ID",
    "Merchant RMA ID",
    "Label type",
    "Label cost",
    "Currency code",
    "Return carrier",
    "Tracking ID",
    "Label to be paid by",
    "A-to-Z Claim",
    "Is prime",
    "ASIN",
    "Merchant SKU",
    "Item Name",
    "Return quantity",
    "Return Reason",
    "In policy",
    "Return type",
    "Resolution",
    "Invoice number",
    "Return delivery date",
    "Order Amount",
    "Order quantity",
    "SafeT Action reason",
    "SafeT claim id",
    "SafeT claim state",
    "SafeT claim creation time",
    "SafeT claim reimbursement amount",
    "Refunded Amount",
)
TSV = "text/tab-separated-values; charset=UTF-8"


def create_report(sandbox: WorldBase, seller_id: str, body: dict) -> tuple[int, dict]:
    start = parse_iso(body["dataStartTime"]) if body.get("dataStartTime") else None
    end = parse_iso(body["dataEndTime"]) if body.get("dataEndTime") else None
    if start and end and end < start:
        return 400, payloads.errors("InvalidInput", "dataEndTime is before dataStartTime.")
    report = Report(
        report_id=str(60_000_000_000 + sandbox._number()),
        seller_id=seller_id,
        report_type=body["reportType"],
        marketplace_ids=list(body["marketplaceIds"]),
        created=sandbox.now(),
        data_start=start,
        data_end=end,
        options=body.get("reportOptions"),
    )
    sandbox.reports[report.report_id] = report

    def start_processing(report: Report = report) -> None:
        if report.status != "IN_QUEUE":
            return
        report.status = "IN_PROGRESS"
        report.started = sandbox.now()
        sandbox.scheduler.at(
            sandbox.config.report_processing_seconds, f"finish report {report.report_id}", finish
        )

    def finish(report: Report = report) -> None:
        process(sandbox, report)

    sandbox.scheduler.at(
        sandbox.config.report_queue_seconds, f"start report {report.report_id}", start_processing
    )
    return 202, {"reportId": report.report_id}


def cancel_report(sandbox: WorldBase, seller_id: str, report_id: str) -> tuple[int, dict | None]:
    report = sandbox.reports.get(report_id)
    if report is None or report.seller_id != seller_id:
        return 404, payloads.errors("NotFound", f"Report {report_id} was not found.")
    if report.status != "IN_QUEUE":
        return 400, payloads.errors(
            "InvalidInput",
            f"The report is {report.status}; only IN_QUEUE reports can be cancelled.",
        )
    report.status = "CANCELLED"
    report.ended = sandbox.now()
    _finished(sandbox, report)
    return 200, None


def process(sandbox: WorldBase, report: Report) -> None:
    report.ended = sandbox.now()
    if report.report_type == RETURNS:
        rows = _returns_rows(sandbox, report)
        if not rows:
            report.status = "CANCELLED"
            _finished(sandbox, report)
            return
        content = _tsv(RETURNS_COLUMNS, rows)
    elif report.report_type == MERCHANT_RETURNS:
        rows = _merchant_return_rows(sandbox, report)
        if not rows:
            report.status = "CANCELLED"
            _finished(sandbox, report)
            return
        content = _tsv(MERCHANT_RETURNS_COLUMNS, rows)
    elif report.report_type in (LISTINGS_ALL, LISTINGS_ACTIVE):
        content = _tsv(LISTINGS_COLUMNS, _listing_rows(sandbox, report))
    else:
        report.status = "FATAL"
        _finished(sandbox, report)
        return
    document = sandbox.new_document(report.seller_id, "report", TSV, content.encode("utf-8"))
    report.document_id = document.document_id
    report.status = "DONE"
    _finished(sandbox, report)


def _finished(sandbox: WorldBase, report: Report) -> None:
    notification = {
        "sellerId": report.seller_id,
        "accountId": f"amzn1.merchant.o.{report.seller_id}",
        "reportId": report.report_id,
        "reportType": report.report_type,
        "processingStatus": report.status,
    }
    if report.document_id:
        notification["reportDocumentId"] = report.document_id
    sandbox._publish(
        "REPORT_PROCESSING_FINISHED", {"reportProcessingFinishedNotification": notification}
    )


def _tsv(columns: tuple[str, ...], rows: list[dict]) -> str:
    def cell(value: object) -> str:
        return "" if value is None else str(value).replace("\t", " ").replace("\n", " ")

    lines = ["\t".join(columns)]
    lines += ["\t".join(cell(row.get(column)) for column in columns) for row in rows]
    return "\n".join(lines) + "\n"


def _returns_rows(sandbox: WorldBase, report: Report) -> list[dict]:
    end = report.data_end or report.created
    start = report.data_start or end - timedelta(days=30)
    rows = []
    for row in sandbox.returns:
        if row.seller_id != report.seller_id or row.marketplace_id not in report.marketplace_ids:
            continue
        if not start <= row.return_date <= end:
            continue
        rows.append(
            {
                "return-date": iso(row.return_date).replace("Z", "+00:00"),
                "order-id": row.order_id,
                "sku": row.sku,
                "asin": row.asin,
                "fnsku": row.fn_sku,
                "product-name": row.product_name,
                "quantity": row.quantity,
                "fulfillment-center-id": row.fulfillment_center_id,
                "detailed-disposition": row.disposition,
                "reason": row.reason,
                "status": row.status,
                "license-plate-number": row.license_plate_number,
                "customer-comments": row.customer_comments,
            }
        )
    return rows


def _merchant_return_rows(sandbox: WorldBase, report: Report) -> list[dict]:
    end = report.data_end or report.created
    start = report.data_start or end - timedelta(days=30)
    rows = []
    for entry in sandbox.merchant_returns:
        if entry.seller_id != report.seller_id:
            continue
        if entry.marketplace_id not in report.marketplace_ids:
            continue
        if not start <= entry.request_date <= end:
            continue
        rows.append(_merchant_return_row(entry))
    return rows


def _merchant_return_row(entry: MerchantReturn) -> dict:
    """One item of a return request as in Amazon's file: dates as 10-Jul-2025, Y/N flags, money
    with two decimals; what Amazon fills in later (the delivery to the seller, the refund, a
    SafeT claim) and the seller's own RMA and invoice are left blank."""
    return {
        "Order ID": entry.order_id,
        "Order date": entry.order_date.strftime("%d-%b-%Y"),
        "Return request date": entry.request_date.strftime("%d-%b-%Y"),
        "Return request status": entry.status,
        "Amazon RMA ID": entry.rma_id,
        "Label type": "AmazonPrePaidLabel",
        "Label cost": f"{entry.label_cost:.2f}",
        "Currency code": entry.currency,
        "Return carrier": entry.carrier,
        "Tracking ID": entry.tracking_id,
        "Label to be paid by": "Seller",
        "A-to-Z Claim": "N",
        "Is prime": "N",  # the sandbox has no Prime orders
        "ASIN": entry.asin,
        "Merchant SKU": entry.sku,
        "Item Name": entry.item_name,
        "Return quantity": entry.quantity,
        "Return Reason": entry.reason,
        "In policy": "Y",
        "Return type": "C-Returns",
        "Resolution": entry.resolution,
        "Order Amount": f"{entry.order_amount:.2f}",
        "Order quantity": entry.order_quantity,
    }


def _listing_rows(sandbox: WorldBase, report: Report) -> list[dict]:
    rows = []
    for listing in sandbox.listings.values():
        if listing.seller_id != report.seller_id:
            continue
        if listing.marketplace_id not in report.marketplace_ids:
            continue
        buyable = sandbox.buyable_quantity(listing)
        status = "Active" if buyable > 0 else "Inactive"
        if listing.incomplete:
            status = "Incomplete"
        if report.report_type == LISTINGS_ACTIVE and status != "Active":
            continue
        rows.append(
            {
                "item-name": listing.item_name,
                "listing-id": f"{uuid.uuid5(uuid.NAMESPACE_URL, '/'.join(listing.key)).int % 10**10:010d}",
                "seller-sku": listing.sku,
                "price": f"{listing.price:.2f}" if listing.price is not None else None,
                # FBA offers leave the quantity blank; Amazon owns it.
                "quantity": None if listing.afn else listing.quantity,
                "open-date": listing.created.strftime("%Y-%m-%d %H:%M:%S UTC"),
                "item-is-marketplace": "y",
                "product-id-type": "1" if listing.asin else None,
                "item-condition": "11",
                "asin1": listing.asin,
                "product-id": listing.asin,
                "pending-quantity": 0,
                "fulfillment-channel": listing.fulfillment_channel_code,
                "merchant-shipping-group": None if listing.afn else "Migrated Template",
                "status": status,
            }
        )
    return rows
