"""FBA pools: Amazon's count of a SKU in its fulfilment centres becomes an absolute snapshot
of the region's pool location (Amazon is the authority for FBA physical stock; DESIGN,
ledger). Reports arrive by notification and by the periodic inventory summary, in any order:
the newest report wins and an older one changes nothing. A summary read live long enough after
the last count (`FBA_SUMMARY_SETTLE_SECONDS`) wins whatever its lastUpdatedTime says, so a lost
notification or an inbound-only change is repaired by the next periodic read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from channels.lanes.base import PayloadError
from channels.models import Channel, FbaCount, Listing
from channels.orders import Quarantine, fba_pool
from inventory_sync.lib.locks import lock_rows
from ledger import services as ledger
from ledger.models import Balance, Location, Sku
from ledger.rules import COMMITTED, INCOMING, ON_HAND, RESERVED, UNSELLABLE, EventLine

from .api import iter_fba_inventory
from .inventory import FbaStock, from_summary


@dataclass(frozen=True, slots=True)
class FbaOutcome:
    status: str  # applied | ignored (older than the last) | unchanged (already so)
    detail: str
    event_id: int | None = None


def record_fba_stock(
    channel: Channel,
    stock: FbaStock,
    *,
    ref: str,
    occurred_at: datetime,
    read_at: datetime | None = None,
) -> FbaOutcome:
    """Set the pool's buckets for one SKU to Amazon's report (idempotent per `ref`).

    `occurred_at` is the time Amazon gives the count; `read_at`, for a count read live (an
    inventory summary), when we read it. Raises Quarantine when the region has no pool or the
    seller SKU maps to no SKU.
    """
    pool = fba_pool(channel)
    if pool is None:
        raise Quarantine(
            f"Channel {channel.code} (region {channel.region or 'unset'}) has no FBA pool."
        )
    sku = sku_for(channel, stock.seller_sku)
    reference = f"fba:{pool.code}:{sku.code}"
    with transaction.atomic():
        # Serialise reports of one SKU: the ledger's own lock (FOR NO KEY UPDATE on the SKU
        # row), taken first here, so record_event inside re-enters it instead of waiting.
        lock_rows(Sku.objects.filter(pk=sku.pk)).first()
        count = FbaCount.objects.filter(location=pool, sku=sku).first()
        if count is not None and occurred_at < count.counted_at:
            settle = timedelta(seconds=settings.FBA_SUMMARY_SETTLE_SECONDS)
            if read_at is None or read_at - count.counted_at < settle:
                return FbaOutcome(
                    "ignored",
                    f"older than the FBA report already applied ({count.counted_at.isoformat()})",
                )
            # Read live well after the last count: what Amazon holds now. Its time is the
            # last count's, so a notification older than this read still changes nothing.
            occurred_at = count.counted_at
        FbaCount.objects.update_or_create(
            location=pool,
            sku=sku,
            defaults={
                "counted_at": occurred_at,
                "fulfillable": stock.fulfillable,
                "reserved_for_orders": stock.reserved_for_orders,
                "reserved_by_centre": stock.reserved_by_centre,
                "unfulfillable": stock.unfulfillable,
                "inbound": stock.inbound,
            },
        )
        current = dict(
            Balance.objects.filter(sku=sku, location=pool).values_list("bucket", "quantity")
        )
        lines = _lines(sku, pool, stock, committed=current.get(COMMITTED, 0))
        if all(current.get(line.bucket, 0) == line.quantity for line in lines):
            return FbaOutcome("unchanged", f"FBA {stock.seller_sku}: already as Amazon counts")
        # The key names the report and what it corrects, so the same report recorded twice is
        # one event, and a later difference (a return counted twice, a missed move) is
        # corrected by the next report even when Amazon's numbers did not change.
        before = ",".join(f"{bucket}={current.get(bucket, 0)}" for bucket in sorted(current))
        recorded = ledger.record_event(
            kind="fba_snapshot",
            lines=lines,
            idempotency_key=f"{channel.code}:fba:{sku.code}:{ref}:{before}"[:255],
            source=channel.kind,
            occurred_at=occurred_at,
            reference=reference,
            reason="Amazon's count of its fulfilment centres",
        )
    return FbaOutcome(
        "applied",
        f"FBA {stock.seller_sku}: fulfillable {stock.fulfillable}, inbound {stock.inbound}, "
        f"unfulfillable {stock.unfulfillable}",
        recorded.event.pk,
    )


def _lines(sku: Sku, pool: Location, stock: FbaStock, *, committed: int) -> list[EventLine]:
    """Amazon's count as our buckets, so that the pool's available is Amazon's fulfillable.

    On hand counts the units our ingested FBA orders still commit (instead of Amazon's own
    pending-order reservation): an order and Amazon's report then agree in whichever order
    they arrive, and the order's shipment later takes its unit from on hand and committed
    together, never below zero.
    """
    on_hand = stock.fulfillable + stock.reserved_by_centre + stock.unfulfillable + committed
    return [
        EventLine(sku.code, pool.code, on_hand, bucket=ON_HAND),
        EventLine(sku.code, pool.code, stock.reserved_by_centre, bucket=RESERVED),
        EventLine(sku.code, pool.code, stock.unfulfillable, bucket=UNSELLABLE),
        # Inbound units are on their way or being received: never sellable until received.
        EventLine(sku.code, pool.code, stock.inbound, bucket=INCOMING),
    ]


def sku_for(channel: Channel, seller_sku: str) -> Sku:
    """A seller SKU is shared by the region's marketplaces: any of its channels' listings."""
    listing = (
        Listing.objects.filter(
            channel__kind=Channel.Kind.AMAZON,
            channel__seller_id=channel.seller_id,
            channel__region=channel.region,
            external_id=seller_sku,
        )
        .select_related("sku")
        .order_by("id")
        .first()
    )
    if listing is not None:
        return listing.sku
    sku = Sku.objects.filter(code=seller_sku).first()
    if sku is None:
        raise Quarantine(
            f"FBA stock of seller SKU {seller_sku!r}: no listing and no SKU of that code.",
            sku=seller_sku,
        )
    return sku


@dataclass(slots=True)
class SyncOutcome:
    read: int = 0
    applied: int = 0
    unchanged: int = 0
    unmapped: list[str] | None = None


def sync_fba_inventory(channel: Channel, *, summaries=None) -> SyncOutcome:
    """Read every FBA inventory summary of the channel's marketplace and apply each as a pool
    snapshot (the periodic authority behind the availability notifications). A report equal
    to the last one records nothing (its key names its time and quantities)."""
    if summaries is None:
        # Every page first: a page token lives 30 s, and applying a page (a transaction per
        # SKU, waits for the shared budget) may take longer than that on a large catalogue.
        summaries = list(iter_fba_inventory(channel))
    outcome = SyncOutcome(unmapped=[])
    now = timezone.now()
    for summary in summaries:
        outcome.read += 1
        try:
            stock = from_summary(summary)
        except PayloadError:
            continue
        updated = parse_datetime(str(summary.get("lastUpdatedTime") or "")) or now
        ref = (
            f"summary:{updated.isoformat()}:{stock.physical}:{stock.reserved_by_centre}:"
            f"{stock.unfulfillable}:{stock.inbound}"
        )
        try:
            result = record_fba_stock(
                channel, stock, ref=ref, occurred_at=min(updated, now), read_at=now
            )
        except Quarantine:
            outcome.unmapped.append(stock.seller_sku)
            continue
        if result.status == "applied":
            outcome.applied += 1
        else:
            outcome.unchanged += 1
    return outcome
