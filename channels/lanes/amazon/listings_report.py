"""Merchant quantities of a whole seller in one read: Amazon's All Listings Report
(GET_MERCHANT_LISTINGS_ALL_DATA) for many listings, searchListingsItems for a few.

The report is a tab-separated file, one row per offer in the marketplace. It is parsed by
header name and leniently: Amazon has added and renamed columns over the years, leaves
`quantity` empty on FBA (AFN) rows and never quotes a cell, so an item name holding a `"` is
plain text, not the start of a quoted field.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from . import client as amazon

logger = logging.getLogger(__name__)

REPORT_TYPE = "GET_MERCHANT_LISTINGS_ALL_DATA"
REPORT = "merchant listings report"
SEARCH = "searchListingsItems"

# Above this many listings the report reads them. By the usage plans: searchListingsItems reads
# 20 SKUs a call at 5 calls a second (burst 5), so N listings cost N/20 calls and hold the
# seller's search bucket, which push read-backs need too, for about N/100 seconds (10,000
# listings: 500 calls, 100 s). The report costs the same whatever N is: createReport, getReport
# polls, getReportDocument and the download; 6 requests against the sandbox (3 polls), about
# 20 for a report Amazon takes five minutes to build (17 polls on the schedule below). Search
# matches that at 120 to 400 listings. Below it search also answers in seconds with what Amazon
# shows now, and leaves createReport and getReportDocument, which refill one a minute (burst
# 15) and which returns reports spend too, alone. So: search up to 500 listings (at most 25
# calls, 4 s of the bucket past its burst), the report above.
REPORT_THRESHOLD = 500

# getReport allows 2 a second; the first poll comes soon (a small seller's report, and the
# sandbox's, is ready in seconds), later ones spread out for a large seller's minutes.
FIRST_POLL_SECONDS = 1.0
POLL_GROWTH = 1.5
LONGEST_POLL_SECONDS = 30.0
# Waited longer than this, the report is given up and the listings are searched instead.
MAX_WAIT_SECONDS = 15 * 60.0

FINISHED_WITHOUT_DOCUMENT = ("CANCELLED", "FATAL")
MERCHANT_CHANNEL = "DEFAULT"


class ListingsReportError(ValueError):
    """The document is not an All Listings Report (no seller-sku column)."""


@dataclass(frozen=True, slots=True)
class QuantityRead:
    quantities: dict[str, int | None]  # seller SKU -> MFN quantity (None: AFN, none, unknown)
    method: str


def read_quantities(
    client: amazon.AmazonClient, skus: Sequence[str], *, sleep: Callable[[float], None]
) -> QuantityRead:
    """The merchant quantity Amazon shows for each SKU, by report above REPORT_THRESHOLD SKUs
    (searching them when Amazon cannot build it), else by searchListingsItems."""
    wanted = list(dict.fromkeys(skus))
    if len(wanted) <= REPORT_THRESHOLD:
        return QuantityRead(client.listing_quantities(wanted), SEARCH)
    found, problem = report_quantities(client, sleep=sleep)
    if found is None:
        logger.warning("seller %s: %s %s; searching instead", client.seller_id, REPORT, problem)
        return QuantityRead(client.listing_quantities(wanted), f"{SEARCH} ({REPORT} {problem})")
    return QuantityRead({sku: found.get(sku) for sku in wanted}, REPORT)


def report_quantities(
    client: amazon.AmazonClient, *, sleep: Callable[[float], None]
) -> tuple[dict[str, int | None] | None, str]:
    """(seller SKU -> MFN quantity of every offer in the report, "") or (None, what went
    wrong) when Amazon did not build it in time or the document is not the report."""
    report_id = client.request_report(REPORT_TYPE)
    document_id, problem = _wait_for_document(client, report_id, sleep)
    if document_id is None:
        return None, problem
    try:
        return parse_listings_report(client.download_report(document_id)), ""
    except ListingsReportError as error:
        return None, str(error)


def _wait_for_document(
    client: amazon.AmazonClient, report_id: str, sleep: Callable[[float], None]
) -> tuple[str | None, str]:
    interval, waited = FIRST_POLL_SECONDS, 0.0
    while waited < MAX_WAIT_SECONDS:
        # Never faster than getReport's plan (Amazon may have announced a lower rate).
        pause = max(interval, 1.0 / client.rate("getReport"))
        sleep(pause)
        waited += pause
        report = client.report(report_id)
        status = str(report.get("processingStatus") or "")
        if status == "DONE":
            document_id = report.get("reportDocumentId")
            return (str(document_id), "") if document_id else (None, "is DONE without document")
        if status in FINISHED_WITHOUT_DOCUMENT:
            return None, f"ended {status}"
        interval = min(interval * POLL_GROWTH, LONGEST_POLL_SECONDS)
    return None, f"was not ready after {waited:.0f}s"


def parse_listings_report(content: bytes) -> dict[str, int | None]:
    """Seller SKU -> merchant quantity. An FBA row (fulfillment-channel AMAZON_NA, AMAZON_EU,
    ...) or an empty or unreadable quantity gives None."""
    reader = csv.reader(io.StringIO(_text(content)), delimiter="\t", quoting=csv.QUOTE_NONE)
    header = next(reader, None)
    columns = {_column_name(name): index for index, name in enumerate(header or ())}
    sku_at = columns.get("seller-sku", columns.get("sku"))
    if sku_at is None:
        raise ListingsReportError(f"has no seller-sku column: {header}")
    quantity_at = columns.get("quantity")
    channel_at = columns.get("fulfillment-channel")
    found: dict[str, int | None] = {}
    for row in reader:
        sku = _cell(row, sku_at)
        if not sku:
            continue
        channel = _cell(row, channel_at).upper()
        # An offer fulfilled by Amazon has no merchant quantity (Amazon counts its units).
        merchant = channel in ("", MERCHANT_CHANNEL)
        quantity = _quantity(_cell(row, quantity_at)) if merchant else None
        if found.get(sku) is None:  # a merchant row wins over a repeated SKU's FBA row
            found[sku] = quantity
    return found


def _text(content: bytes) -> str:
    # UTF-8 where Amazon says so; the US marketplace's flat files have long been Windows-1252.
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return content.decode("cp1252", errors="replace")


def _column_name(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(" ", "-")


def _cell(row: Sequence[str], index: int | None) -> str:
    if index is None or index >= len(row):
        return ""
    return row[index].strip()


def _quantity(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return int(float(value))  # "12.0" from a spreadsheet round trip
    except (ValueError, OverflowError):
        return None
