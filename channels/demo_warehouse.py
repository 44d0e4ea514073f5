"""The demo's warehouse crew: ships merchant-fulfilled orders a minute after they arrive, with
a made-up tracking number, through the same shipment outbox a person or a 3PL uses. So the
demo shows tracking reaching the sandboxes, and buyers can return what was shipped.

Scheduled only in demo mode (settings.DEMO_MODE); production never runs it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db.models import F
from django.utils import timezone

from inventory_sync.lib.errors import DomainError

from .models import Channel, ChannelOrder, OrderShipment
from .outbox import ship_order

logger = logging.getLogger(__name__)

CARRIERS = ("UPS", "USPS", "FedEx")


def waiting_orders(*, now: datetime, min_age: timedelta, limit: int) -> list[ChannelOrder]:
    """Open orders of live channels, placed at least `min_age` ago, with merchant lines still
    to ship (lines at an FBA pool are Amazon's to ship), oldest first."""
    return list(
        ChannelOrder.objects.filter(
            status=ChannelOrder.Status.OPEN,
            channel__mode=Channel.Mode.LIVE,
            placed_at__lte=now - min_age,
            lines__sold_units__gt=F("lines__cancelled_units") + F("lines__shipped_units"),
        )
        .exclude(lines__location__kind="fba")
        .select_related("channel")
        .distinct()
        .order_by("placed_at", "id")[:limit]
    )


def ship_waiting(
    *, now: datetime | None = None, min_age: timedelta = timedelta(minutes=1), limit: int = 20
) -> int:
    """Ship everything still to ship of up to `limit` waiting orders; returns how many."""
    now = now or timezone.now()
    shipped = 0
    for order in waiting_orders(now=now, min_age=min_age, limit=limit):
        # Keyed by what already left: a later shipment of the same order is a new one.
        done = sum(order.lines.values_list("shipped_units", flat=True))
        try:
            ship_order(
                order=order,
                lines=None,
                carrier=CARRIERS[order.pk % len(CARRIERS)],
                tracking_number=f"DEMO{order.pk:012d}",
                key=f"demo-warehouse:{order.channel.code}:{order.external_id}:{done}",
                source=OrderShipment.Source.CONSOLE,
                actor="demo warehouse",
            )
            shipped += 1
        except DomainError as error:  # cancelled meanwhile, a channel that ships itself…
            logger.info("demo warehouse skipped %s: %s", order, error.detail)
    return shipped
