"""Order health from our own orders: how often each channel's orders are cancelled because
we oversold, and proxies of the account-health numbers Amazon holds a seller to.

- Oversell rate, per channel per ISO week of the order's placing: orders cancelled for stock /
  orders placed. Cancelled for stock: the cancel a person sent for an oversell came back
  (conflict_action cancel_requested, order cancelled), or the order was cancelled — by anyone,
  on the channel too — while an oversell incident named it among the sales the stock could not
  cover (the incident's uncovered sale events name their orders by reference).
- Over the trailing `WINDOW` (30 days) per channel, against Amazon's bars:
  - pre-fulfilment cancel rate (bar < 2.5 %): orders cancelled for stock before anything
    shipped / orders placed. Amazon counts every cancel the seller makes; the cancels we make
    are the ones for stock, and a channel-side cancel of an order an incident named is counted
    too. A seller cancelling for other reasons in Seller Central is not seen (Amazon's own
    window is 7 days; 30 keeps the number steady at a few orders a day).
  - late shipment rate (bar < 4 %): orders whose shipment was confirmed to the channel after
    their ship-by time / orders with a ship-by time whose shipment was recorded in the window.
    From the shipment outbox (OrderShipment: confirmed_at, or still unconfirmed now); a channel
    with no shipment rows falls back to the order status (fulfilled, and the channel's last
    update of the order after its ship-by time). Orders without a ship-by time (a shop's own
    orders) are left out. Amazon reads 10 and 30 days; we read the 30.
  - order defect proxy (bar < 1 %): orders placed in the window with a customer return whose
    reason or disposition says the item was defective, damaged or not as described, or that
    were cancelled after part of them shipped / orders placed. Amazon's order defect rate
    counts negative feedback, A-to-z claims and chargebacks, which we never see: this is an
    early signal from what we do see, not Amazon's number.

A rate at `ALERT_FRACTION` (80 %) of its bar or more is "near" it; reconciliation alerts on
marketplace channels near a bar (reconciliation.order_health_alerts, hourly).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, DateTimeField, F, Min, Q, Value
from django.db.models.functions import Coalesce, TruncWeek
from django.utils import timezone

from allocation.models import OversellIncident
from ledger.models import InventoryEvent

from .models import Channel, ChannelOrder, ChannelReturn, ConflictAction, OrderShipment

WINDOW = timedelta(days=30)
BARS = {
    "cancel": Decimal("0.025"),  # pre-fulfilment cancel rate
    "late": Decimal("0.04"),  # late shipment rate
    "defect": Decimal("0.01"),  # order defect rate
}
LABELS = {
    "cancel": "Pre-fulfilment cancel rate",
    "late": "Late shipment rate",
    "defect": "Order defect proxy",
}
# Return reasons (Amazon's and Shopify's codes) and dispositions that say the seller or the
# item failed the customer, not that the customer changed their mind.
DEFECT_REASONS = frozenset(
    {
        "DEFECTIVE",
        "NOT_AS_DESCRIBED",
        "WRONG_ITEM",
        "QUALITY_UNACCEPTABLE",
        "MISSING_PARTS",
        "DAMAGED_BY_CARRIER",
        "DAMAGED_BY_FC",
    }
)
DEFECT_DISPOSITIONS = frozenset({"DEFECTIVE", "CARRIER_DAMAGED", "DAMAGED"})


def alert_fraction() -> Decimal:
    return Decimal(str(getattr(settings, "ORDER_HEALTH_ALERT_FRACTION", "0.8")))


@dataclass(frozen=True, slots=True)
class Rate:
    metric: str  # cancel | late | defect
    count: int
    of: int

    @property
    def value(self) -> Decimal | None:
        return Decimal(self.count) / Decimal(self.of) if self.of else None

    @property
    def percent(self) -> str:
        return "—" if self.value is None else f"{self.value * 100:.1f} %"

    @property
    def bar(self) -> Decimal:
        return BARS[self.metric]

    @property
    def label(self) -> str:
        return LABELS[self.metric]

    @property
    def bar_percent(self) -> str:
        return f"{self.bar * 100:.1f} %"

    @property
    def over(self) -> bool:
        return self.value is not None and self.value >= self.bar

    @property
    def near(self) -> bool:
        return self.value is not None and self.value >= self.bar * alert_fraction()


@dataclass(frozen=True, slots=True)
class ChannelRates:
    channel: Channel
    orders: int  # placed in the window
    cancel: Rate
    late: Rate
    defect: Rate
    late_from: str  # "shipments" or "order status"

    @property
    def rates(self) -> tuple[Rate, Rate, Rate]:
        return (self.cancel, self.late, self.defect)

    def as_dict(self) -> dict:
        return {
            "channel": self.channel.code,
            "window_days": WINDOW.days,
            "orders": self.orders,
            "late_shipment_from": self.late_from,
            **{
                rate.metric: {
                    "count": rate.count,
                    "of": rate.of,
                    "rate": None if rate.value is None else float(rate.value),
                    "bar": float(rate.bar),
                    "near_bar": rate.near,
                    "over_bar": rate.over,
                }
                for rate in self.rates
            },
        }


@dataclass(frozen=True, slots=True)
class WeekRate:
    channel: Channel
    week: str  # ISO week, "2026-W48"
    placed: int
    cancelled_for_stock: int

    @property
    def percent(self) -> str:
        return f"{self.cancelled_for_stock / self.placed * 100:.1f} %" if self.placed else "—"

    def as_dict(self) -> dict:
        return {
            "week": self.week,
            "placed": self.placed,
            "cancelled_for_stock": self.cancelled_for_stock,
            "rate": self.cancelled_for_stock / self.placed if self.placed else None,
        }


def channel_rates(
    *, channels: Iterable[Channel] | None = None, now: datetime | None = None
) -> list[ChannelRates]:
    """Each channel's rates over the trailing window (every channel when none are given), in
    the same few queries however many channels there are."""
    now = now or timezone.now()
    since = now - WINDOW
    chosen = list(channels) if channels is not None else list(Channel.objects.order_by("code"))
    ids = [channel.pk for channel in chosen]
    for_stock = orders_cancelled_for_stock(since=since)
    placed = ChannelOrder.objects.filter(channel__in=ids, placed_at__gte=since, placed_at__lte=now)
    orders = _per_channel(placed)
    cancelled = _per_channel(
        placed.filter(pk__in=for_stock, status=ChannelOrder.Status.CANCELLED).exclude(
            lines__shipped_units__gt=0
        )
    )
    defects = _defects(placed)
    late = _late_shipments(ids, since, now)
    return [
        ChannelRates(
            channel=channel,
            orders=orders.get(channel.pk, 0),
            cancel=Rate("cancel", cancelled.get(channel.pk, 0), orders.get(channel.pk, 0)),
            late=Rate("late", *late[channel.pk][:2]),
            defect=Rate("defect", defects.get(channel.pk, 0), orders.get(channel.pk, 0)),
            late_from=late[channel.pk][2],
        )
        for channel in chosen
    ]


def _per_channel(orders) -> dict[int, int]:
    rows = orders.values("channel_id").annotate(n=Count("id", distinct=True)).order_by()
    return {row["channel_id"]: row["n"] for row in rows}


def _late_shipments(ids: list[int], since: datetime, now: datetime) -> dict[int, tuple]:
    """Channel id -> (late, shipped, where from) for its orders with a ship-by time: from our
    shipments where the channel has any, from the order's fulfilled status otherwise."""
    with_shipments = set(
        OrderShipment.objects.filter(order__channel__in=ids)
        .values_list("order__channel_id", flat=True)
        .distinct()
    )
    found = {pk: [0, 0, "shipments" if pk in with_shipments else "order status"] for pk in ids}
    shipped = (
        ChannelOrder.objects.filter(
            channel__in=with_shipments, ship_by__isnull=False, shipments__shipped_at__gte=since
        )
        .annotate(
            confirmed=Min(
                Coalesce("shipments__confirmed_at", Value(now), output_field=DateTimeField())
            )
        )
        .values_list("channel_id", "confirmed", "ship_by")
    )
    for channel_id, confirmed, ship_by in shipped:
        found[channel_id][0] += confirmed > ship_by
        found[channel_id][1] += 1
    fulfilled = (
        ChannelOrder.objects.filter(
            channel__in=[pk for pk in ids if pk not in with_shipments],
            ship_by__isnull=False,
            status=ChannelOrder.Status.FULFILLED,
            channel_updated_at__gte=since,
        )
        .values("channel_id")
        .annotate(
            shipped=Count("id"), late=Count("id", filter=Q(channel_updated_at__gt=F("ship_by")))
        )
        .order_by()
    )
    for row in fulfilled:
        found[row["channel_id"]][:2] = [row["late"], row["shipped"]]
    return {pk: tuple(value) for pk, value in found.items()}


def _defects(placed) -> dict[int, int]:
    """Channel id -> orders returned as defective or cancelled after shipping."""
    returned = ChannelReturn.objects.filter(order__in=placed).filter(
        Q(reason__in=DEFECT_REASONS) | Q(disposition__in=DEFECT_DISPOSITIONS)
    )
    cancelled_after_shipping = placed.filter(
        status=ChannelOrder.Status.CANCELLED, lines__shipped_units__gt=0
    )
    orders: dict[int, set[int]] = {}
    for order_id, channel_id in returned.values_list("order_id", "order__channel_id"):
        orders.setdefault(channel_id, set()).add(order_id)
    for order_id, channel_id in cancelled_after_shipping.values_list("pk", "channel_id"):
        orders.setdefault(channel_id, set()).add(order_id)
    return {channel_id: len(found) for channel_id, found in orders.items()}


def orders_cancelled_for_stock(*, since: datetime) -> set[int]:
    """Ids of orders cancelled for stock that were placed since `since`: our cancels that came
    back, and cancels of orders an incident named as uncovered, made after it opened."""
    ours = set(
        ChannelOrder.objects.filter(
            placed_at__gte=since,
            status=ChannelOrder.Status.CANCELLED,
            conflict_action=ConflictAction.CANCEL_REQUESTED,
        ).values_list("pk", flat=True)
    )
    incidents = OversellIncident.objects.filter(Q(ended_at__isnull=True) | Q(ended_at__gte=since))
    opened_by_event: dict[int, datetime] = {}
    for opened_at, event_ids in incidents.values_list("opened_at", "sale_event_ids"):
        for event_id in event_ids or ():
            opened_by_event[event_id] = min(opened_at, opened_by_event.get(event_id, opened_at))
    if not opened_by_event:
        return ours
    opened_by_reference: dict[str, datetime] = {}
    for event_id, reference in InventoryEvent.objects.filter(pk__in=opened_by_event).values_list(
        "pk", "reference"
    ):
        opened = opened_by_event[event_id]
        opened_by_reference[reference] = min(opened, opened_by_reference.get(reference, opened))
    named = ChannelOrder.objects.filter(
        placed_at__gte=since, status=ChannelOrder.Status.CANCELLED, cancelled_at__isnull=False
    ).select_related("channel")
    for order in named.filter(_referenced(opened_by_reference)):
        opened = opened_by_reference.get(f"{order.channel.code}:order:{order.external_id}")
        if opened is not None and order.cancelled_at >= opened:
            ours.add(order.pk)
    return ours


def _referenced(references: Iterable[str]) -> Q:
    match = Q(pk__in=[])
    for reference in references:
        code, marker, external_id = reference.partition(":order:")
        if marker:
            match |= Q(channel__code=code, external_id=external_id)
    return match


def weekly_oversell(
    *, channels: Iterable[Channel] | None = None, weeks: int = 8, now: datetime | None = None
) -> list[WeekRate]:
    """Oversell rate per channel per ISO week, the last `weeks` weeks, newest first."""
    now = now or timezone.now()
    start = (now - timedelta(weeks=weeks - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    start -= timedelta(days=start.weekday())  # the Monday the oldest ISO week starts on
    for_stock = orders_cancelled_for_stock(since=start)
    rows = ChannelOrder.objects.filter(placed_at__gte=start, placed_at__lte=now)
    if channels is not None:
        rows = rows.filter(channel__in=list(channels))
    counted = (
        rows.annotate(week=TruncWeek("placed_at"))
        .values("channel_id", "week")
        .annotate(placed=Count("id"), for_stock=Count("id", filter=Q(pk__in=for_stock)))
        .order_by("-week", "channel_id")
    )
    by_id = Channel.objects.in_bulk({row["channel_id"] for row in counted})
    result = []
    for row in counted:
        year, week, _ = row["week"].isocalendar()
        result.append(
            WeekRate(
                by_id[row["channel_id"]], f"{year}-W{week:02d}", row["placed"], row["for_stock"]
            )
        )
    return result
