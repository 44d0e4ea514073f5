"""Oversell incidents seen through channel orders (I8): which orders stand, which need a
cancel or a backorder, and the actions a person takes on them.

The allocation app knows that a SKU is short and by how much; here the open channel order
lines that commit it are ranked by the conflict policy — earliest placed wins, ties go to the
channel with the better priority — and the latest ones that together cover the shortage are
the ones to cancel or backorder.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F

from allocation.models import OversellIncident

from .lanes.registry import lane_for_kind
from .models import Channel, ChannelOrder, ChannelOrderLine


@dataclass(frozen=True, slots=True)
class IncidentOrder:
    order: ChannelOrder
    units: int  # committed by this order's lines for the SKU

    @property
    def channel(self) -> Channel:
        return self.order.channel

    @property
    def can_cancel(self) -> bool:
        return (
            self.order.status == ChannelOrder.Status.OPEN
            and lane_for_kind(self.channel.kind).can_cancel_orders
            and self.channel.mode == Channel.Mode.LIVE
        )


def incident_orders(incident: OversellIncident) -> list[IncidentOrder]:
    """The orders to cancel or backorder for the incident, earliest placed first."""
    lines = (
        ChannelOrderLine.objects.filter(
            sku_id=incident.sku_id,
            sold_units__gt=F("cancelled_units") + F("shipped_units"),
            order__status=ChannelOrder.Status.OPEN,
        )
        .select_related("order__channel")
        # The last to give way comes first: latest placed, then the worse channel priority.
        .order_by("-order__placed_at", "-order__channel__priority", "-order_id", "-id")
    )
    picked: dict[int, IncidentOrder] = {}
    covered = 0
    for line in lines:
        if covered >= incident.units_short:
            break
        units = line.committed_units
        previous = picked.get(line.order_id)
        picked[line.order_id] = IncidentOrder(
            line.order, units + (previous.units if previous else 0)
        )
        covered += units
    return sorted(
        picked.values(),
        key=lambda row: (row.order.placed_at, row.channel.priority, row.order.pk),
    )
