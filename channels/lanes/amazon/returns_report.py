"""Amazon's FBA customer returns report (GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA): a
tab-separated file, one row per returned unit group, parsed leniently (the UI download and the
API differ in a header name and the date format)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime

from django.utils.dateparse import parse_datetime

REPORT_TYPE = "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA"
# Merchant-fulfilled return requests (the seller receives and grades the units).
MERCHANT_REPORT_TYPE = "GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE"

SELLABLE = "SELLABLE"
# Amazon takes ownership of these and reimburses the seller: the unit is no longer ours.
AMAZON_OWNED = frozenset({"CARRIER_DAMAGED", "DAMAGED"})


@dataclass(frozen=True, slots=True)
class ReturnRow:
    returned_at: datetime
    order_id: str
    seller_sku: str
    quantity: int
    disposition: str
    reason: str
    status: str
    license_plate: str
    customer_comments: str
    raw: dict

    @property
    def dedupe_key(self) -> str:
        if self.license_plate:
            return f"lpn:{self.license_plate}"
        # No license plate: the row's own facts (an order can return a SKU twice a day).
        return (
            f"row:{self.order_id}:{self.seller_sku}:{self.returned_at.isoformat()}:"
            f"{self.disposition}:{self.quantity}"
        )


class ReportError(ValueError):
    pass


def parse_returns_report(content: bytes) -> list[ReturnRow]:
    text = content.decode("utf-8-sig", errors="replace")
    reader = csv.DictReader(io.StringIO(text), delimiter="\t")
    if not reader.fieldnames or "sku" not in reader.fieldnames:
        raise ReportError(f"not a customer returns report: columns {reader.fieldnames}")
    rows = []
    for raw in reader:
        if not any((value or "").strip() for value in raw.values()):
            continue
        rows.append(
            ReturnRow(
                returned_at=_date(raw.get("return-date", "")),
                order_id=(raw.get("order-id") or raw.get("amazon-order-id") or "").strip(),
                seller_sku=(raw.get("sku") or "").strip(),
                quantity=max(int((raw.get("quantity") or "0").strip() or 0), 0),
                disposition=(raw.get("detailed-disposition") or "").strip().upper(),
                reason=(raw.get("reason") or "").strip(),
                status=(raw.get("status") or "").strip(),
                license_plate=(raw.get("license-plate-number") or "").strip(),
                customer_comments=(raw.get("customer-comments") or "").strip(),
                raw={key: value for key, value in raw.items() if key},
            )
        )
    return rows


def parse_merchant_returns_report(content: bytes) -> list[ReturnRow]:
    """The flat-file returns report by return date (MFN): one row per return request. A
    merchant return has no disposition yet (a person grades it when it arrives)."""
    text = content.decode("utf-8-sig", errors="replace")
    reader = csv.DictReader(io.StringIO(text), delimiter="\t")
    if not reader.fieldnames or "Merchant SKU" not in reader.fieldnames:
        raise ReportError(f"not a merchant returns report: columns {reader.fieldnames}")
    rows = []
    for raw in reader:
        if not any((value or "").strip() for value in raw.values()):
            continue
        rma = (raw.get("Amazon RMA ID") or "").strip()
        sku = (raw.get("Merchant SKU") or "").strip()
        rows.append(
            ReturnRow(
                returned_at=_date(raw.get("Return request date", "")),
                order_id=(raw.get("Order ID") or "").strip(),
                seller_sku=sku,
                quantity=max(int((raw.get("Return quantity") or "0").strip() or 0), 0),
                disposition="",
                reason=(raw.get("Return Reason") or "").strip(),
                status=(raw.get("Return request status") or "").strip(),
                # The RMA names the request; one request can return several SKUs.
                license_plate=f"rma:{rma}:{sku}" if rma else "",
                customer_comments="",
                raw={key: value for key, value in raw.items() if key},
            )
        )
    return rows


def _date(value: str) -> datetime:
    value = value.strip()
    parsed = parse_datetime(value)
    if parsed is None:
        for layout in ("%d-%m-%Y", "%Y-%m-%d", "%m/%d/%Y", "%d-%b-%Y", "%d %b %Y"):
            try:
                # A bare date (the Seller Central download) is a UTC day.
                parsed = datetime.strptime(value, layout).replace(tzinfo=UTC)
                break
            except ValueError:
                continue
    if parsed is None:
        raise ReportError(f"return-date {value!r} is not a date")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
