"""The history on a SKU's page and on a channel's page: the audit entries about the object and
about the rows that hang off it (a SKU's halts, reservations, oversell incidents, the stock
events people recorded on it and its drift; a channel's orders).

The page costs the same however long the SKU or channel has lived: one query per kind of row
for the ids of its recent ones (at most RECENT each), then one query for the entries. Rows of
the apps above this one (reconciliation's drift) come from finders those apps register at
start-up: channels cannot import them, and registration is how wake-ups cross the dependency
direction too (inventory_sync.lib.wakeups).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from django.db import models
from django.db.models import BigIntegerField
from django.db.models.functions import Cast

from access import audit
from access.models import AuditEntry
from allocation.models import OversellIncident, Reservation, SalesHalt
from ledger.models import InventoryEvent, LedgerEntry, Sku
from ledger.rules import OWNED_KINDS

from .models import Channel, ChannelOrder

# Rows of each kind whose entries the page looks for, newest first. The page shows the latest
# 50 entries; older ones stay on the audit page.
RECENT = 100

SkuRows = Callable[[Sku], models.QuerySet]
_sku_rows: list[SkuRows] = []


def add_sku_rows(finder: SkuRows) -> None:
    """Register the rows of an upper app that belong in a SKU's history: `finder(sku)` is a
    queryset of them (reconciliation's drift)."""
    if finder not in _sku_rows:
        _sku_rows.append(finder)


def sku_trail(sku: Sku) -> list[AuditEntry]:
    """What was done to the SKU and to the rows that hang off it, newest first."""
    about = [
        SalesHalt.objects.filter(sku=sku),
        Reservation.objects.filter(sku=sku),
        OversellIncident.objects.filter(sku=sku),
        # The events people recorded (write-offs, cycle counts, receipts through the API): the
        # channels' own carry no actor, and a hero SKU has thousands of them. Reserve and
        # release events are signed on their reservation.
        InventoryEvent.objects.exclude(actor="")
        .exclude(kind__in=list(OWNED_KINDS))
        .filter(pk__in=LedgerEntry.objects.filter(sku=sku).values("event_id")),
        *(finder(sku) for finder in _sku_rows),
    ]
    return audit.trail_of(sku, *_recent(about))


def channel_trail(channel: Channel) -> list[AuditEntry]:
    """What was done to the channel and to its orders (order.cancel, order.ship), newest
    first."""
    # A busy channel takes hundreds of orders a minute and people act on a few: start from the
    # trail's latest entries about orders and keep this channel's, rather than from its orders.
    signed_orders = (
        AuditEntry.objects.filter(
            target_type=ChannelOrder._meta.label_lower, target_id__regex=r"^[0-9]{1,18}$"
        )
        .order_by("-at", "-id")
        .annotate(order_id=Cast("target_id", BigIntegerField()))
        .values("order_id")[:RECENT]
    )
    orders = ChannelOrder.objects.filter(channel=channel, pk__in=signed_orders)
    return audit.trail_of(channel, *_recent([orders]))


def _recent(kinds: Iterable[models.QuerySet]) -> Iterator[models.Model]:
    for rows in kinds:
        yield from rows.order_by("-pk").only("pk")[:RECENT]
