"""Customer returns reported by a channel (Amazon's FBA customer returns report), each recorded
once with what it did to our stock:

- SELLABLE: Amazon put the unit back on sale and its inventory count is the authority, so the
  return moves no stock here (the next FBA count carries it; adding it too would count it
  twice and could advertise a unit that is not there);
- CARRIER_DAMAGED, DAMAGED: Amazon owns the unit and reimburses it; no stock of ours moves;
- any other disposition (customer damaged, defective, distributor damaged, expired, unknown):
  back on hand at the FBA pool but unsellable, with the disposition and the customer's reason;
- an unknown seller SKU waits, visible, for a mapping.

Merchant-fulfilled returns go to the console's returns queue (waiting to be graded).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from channels.models import Channel, ChannelOrder, ChannelReturn, Listing
from channels.orders import Quarantine, fba_pool
from ledger import services as ledger
from ledger.rules import EventLine

from .api import client_for
from .fba import sku_for
from .returns_report import (
    AMAZON_OWNED,
    MERCHANT_REPORT_TYPE,
    REPORT_TYPE,
    SELLABLE,
    ReturnRow,
    parse_merchant_returns_report,
    parse_returns_report,
)

logger = logging.getLogger(__name__)

# The report is regenerated about daily and rows can arrive late: each read overlaps the last.
OVERLAP = timedelta(days=3)
FIRST_LOOK_BACK = timedelta(days=1)


@dataclass(slots=True)
class ReturnsOutcome:
    recorded: int = 0
    duplicates: int = 0
    by_handling: dict[str, int] = field(default_factory=dict)


def record_fba_returns(channel: Channel, rows: Iterable[ReturnRow]) -> ReturnsOutcome:
    outcome = ReturnsOutcome()
    pool = fba_pool(channel)
    for row in rows:
        if ChannelReturn.objects.filter(channel=channel, dedupe_key=row.dedupe_key).exists():
            outcome.duplicates += 1
            continue
        try:
            with transaction.atomic():
                handling = _record_one(channel, pool, row)
        except IntegrityError:  # recorded meanwhile by another worker
            outcome.duplicates += 1
            continue
        outcome.recorded += 1
        outcome.by_handling[handling] = outcome.by_handling.get(handling, 0) + 1
    return outcome


def retry_unmapped_returns(channel: Channel) -> int:
    """Apply the returns that waited for a mapping (or an FBA pool) again; returns how many
    are now applied. Run after a mapping import."""
    pool = fba_pool(channel)
    applied = 0
    for waiting in ChannelReturn.objects.filter(
        channel=channel, handling=ChannelReturn.Handling.UNMAPPED
    ):
        row = ReturnRow(
            returned_at=waiting.returned_at,
            order_id=waiting.order_external_id,
            seller_sku=waiting.channel_sku,
            quantity=waiting.quantity,
            disposition=waiting.disposition,
            reason=waiting.reason,
            status=waiting.channel_status,
            license_plate="",
            customer_comments=waiting.customer_comments,
            raw=waiting.raw,
        )
        with transaction.atomic():
            if waiting.fulfilment == Listing.Fulfilment.MERCHANT:
                # A merchant return only needs its SKU to join the grading queue.
                try:
                    sku, handling, event = (
                        sku_for(channel, row.seller_sku),
                        ChannelReturn.Handling.AWAITING_GRADING,
                        None,
                    )
                except Quarantine:
                    continue
            else:
                sku, handling, event = _handle(channel, pool, row, key=waiting.dedupe_key)
            if handling == ChannelReturn.Handling.UNMAPPED:
                continue
            ChannelReturn.objects.filter(pk=waiting.pk).update(
                sku=sku, handling=handling, event=event
            )
            applied += 1
    return applied


def _handle(channel: Channel, pool, row: ReturnRow, *, key: str):
    """(sku, handling, ledger event) for one return row."""
    try:
        sku = sku_for(channel, row.seller_sku)
    except Quarantine:
        sku = None
    event = None
    if sku is None or row.quantity <= 0:
        handling = ChannelReturn.Handling.UNMAPPED
    elif row.disposition == SELLABLE:
        handling = ChannelReturn.Handling.COUNTED_BY_AMAZON
    elif row.disposition in AMAZON_OWNED:
        handling = ChannelReturn.Handling.AMAZON_OWNED
    elif pool is None:
        handling = ChannelReturn.Handling.UNMAPPED  # no FBA pool to put it in yet
    else:
        handling = ChannelReturn.Handling.UNSELLABLE
        event = ledger.record_event(
            kind="return_unsellable",
            lines=[EventLine(sku.code, pool.code, row.quantity)],
            idempotency_key=f"{channel.code}:return:{key}"[:255],
            source=channel.kind,
            occurred_at=min(row.returned_at, timezone.now()),
            reason=f"{row.disposition or 'UNKNOWN'}: {row.reason}"[:500],
            reference=row.order_id[:255],
        ).event
    return sku, handling, event


def _record_one(channel: Channel, pool, row: ReturnRow) -> str:
    sku, handling, event = _handle(channel, pool, row, key=row.dedupe_key)
    ChannelReturn.objects.create(
        channel=channel,
        dedupe_key=row.dedupe_key,
        order=ChannelOrder.objects.filter(channel=channel, external_id=row.order_id).first(),
        order_external_id=row.order_id,
        sku=sku,
        channel_sku=row.seller_sku,
        quantity=row.quantity,
        fulfilment=Listing.Fulfilment.FBA,
        disposition=row.disposition,
        reason=row.reason,
        channel_status=row.status,
        customer_comments=row.customer_comments,
        returned_at=row.returned_at,
        handling=handling,
        event=event,
        raw=row.raw,
    )
    return handling


def record_merchant_returns(channel: Channel, rows: Iterable[ReturnRow]) -> ReturnsOutcome:
    """Merchant-fulfilled return requests go to the returns queue, to be graded when the units
    arrive; nothing moves in the ledger until then (the unit is not back yet)."""
    outcome = ReturnsOutcome()
    for row in rows:
        if ChannelReturn.objects.filter(channel=channel, dedupe_key=row.dedupe_key).exists():
            outcome.duplicates += 1
            continue
        try:
            sku = sku_for(channel, row.seller_sku)
        except Quarantine:
            sku = None
        handling = (
            ChannelReturn.Handling.AWAITING_GRADING
            if sku is not None
            else ChannelReturn.Handling.UNMAPPED
        )
        try:
            with transaction.atomic():
                ChannelReturn.objects.create(
                    channel=channel,
                    dedupe_key=row.dedupe_key,
                    order=ChannelOrder.objects.filter(
                        channel=channel, external_id=row.order_id
                    ).first(),
                    order_external_id=row.order_id,
                    sku=sku,
                    channel_sku=row.seller_sku,
                    quantity=row.quantity,
                    fulfilment=Listing.Fulfilment.MERCHANT,
                    reason=row.reason,
                    channel_status=row.status,
                    returned_at=row.returned_at,
                    handling=handling,
                    raw=row.raw,
                )
        except IntegrityError:
            outcome.duplicates += 1
            continue
        outcome.recorded += 1
        outcome.by_handling[handling] = outcome.by_handling.get(handling, 0) + 1
    return outcome


def sync_merchant_returns(channel: Channel, **options) -> ReturnsOutcome:
    """The merchant-fulfilled return requests since the last read, into the returns queue."""
    return sync_fba_returns(channel, merchant=True, **options)


def sync_fba_returns(
    channel: Channel,
    *,
    client=None,
    now: datetime | None = None,
    wait: Callable[[], None] = lambda: time.sleep(15),
    max_polls: int = 120,
    merchant: bool = False,
) -> ReturnsOutcome:
    """Request the customer returns report since the last read (with an overlap), wait for
    Amazon to build it, and record its rows. Run daily (Amazon refreshes it about daily).
    `merchant`: the merchant-fulfilled return requests instead of the FBA returns."""
    if client is None:
        client = client_for(channel)
    now = now or timezone.now()
    start = (
        channel.returns_read_until - OVERLAP
        if channel.returns_read_until
        else now - FIRST_LOOK_BACK
    )
    report_type = MERCHANT_REPORT_TYPE if merchant else REPORT_TYPE
    report_id = client.request_report(report_type, start=start, end=now)
    for _ in range(max_polls):
        report = client.report(report_id)
        status = report.get("processingStatus")
        if status == "DONE":
            break
        if status == "CANCELLED":
            # Amazon cancels a report that has no rows.
            if not merchant:
                Channel.objects.filter(pk=channel.pk).update(returns_read_until=now)
            return ReturnsOutcome()
        if status == "FATAL":
            raise RuntimeError(f"Amazon could not build returns report {report_id}")
        wait()
    else:
        raise TimeoutError(
            f"returns report {report_id} was not ready in time; the next run asks again"
        )
    content = client.download_report(report["reportDocumentId"])
    if merchant:
        outcome = record_merchant_returns(channel, parse_merchant_returns_report(content))
        return outcome  # the FBA read keeps the watermark; this one overlaps its 3 days
    outcome = record_fba_returns(channel, parse_returns_report(content))
    Channel.objects.filter(pk=channel.pk).update(returns_read_until=now)
    logger.info(
        "channel %s: %d return(s) recorded, %d already known",
        channel.code,
        outcome.recorded,
        outcome.duplicates,
    )
    return outcome
