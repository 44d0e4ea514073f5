"""The order queue: every channel's orders in one list, filtered the way the operations team
asks (channel, status, late, oversold, unrouted, an order's name), an order's page with its
lines, ledger events, shipments, history and actions (ship, re-route a line), and a
customer's page with their orders across channels.

The filters are plain selectors (`queue`, `late`, `oversold`, `unrouted`): the API's order
filter (channels.apis) uses the same ones, so the console and the API agree on what "late"
means. The actions call the services that own them (channels.outbox.ship_order,
channels.routing.reroute_line) and sign what they did in the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST

from access import audit
from access.permissions import requires
from access.roles import Capability
from allocation.models import OversellIncident
from inventory_sync.lib.errors import DomainError
from inventory_sync.lib.inputs import posted_code, printable
from ledger.models import InventoryEvent, Location

from . import outbox, routing
from .models import Channel, ChannelOrder, ChannelOrderLine, Customer, OrderShipment

ORDERS_PER_PAGE = 50
# A customer's page and the API show their latest orders; older ones stay in the order queue
# (filtered by customer).
CUSTOMER_ORDERS = 100
SEARCH_MAX = 100


# --- selectors ----------------------------------------------------------------------------------


def late(now: datetime | None = None) -> Q:
    """Orders whose ship-by time has passed and that are neither shipped nor cancelled."""
    return Q(ship_by__lt=now or timezone.now(), status=ChannelOrder.Status.OPEN)


def oversold() -> Q:
    """Orders with a line on a SKU under an open oversell incident, or that a person already
    decided on (cancel sent or refused, backordered, held for review)."""
    incident = OversellIncident.objects.filter(
        status=OversellIncident.Status.OPEN, sku_id=OuterRef("sku_id")
    )
    lines = ChannelOrderLine.objects.filter(order_id=OuterRef("pk")).filter(Exists(incident))
    return Q(Exists(lines)) | ~Q(conflict_action="")


def unrouted() -> Q:
    """Orders with a line that commits at no location yet."""
    return Q(
        Exists(ChannelOrderLine.objects.filter(order_id=OuterRef("pk"), location__isnull=True))
    )


@dataclass(frozen=True, slots=True)
class QueueFilters:
    channel: str = ""
    status: str = ""
    late: bool = False
    oversold: bool = False
    unrouted: bool = False
    search: str = ""
    customer: int | None = None

    @classmethod
    def from_query(cls, query: QueryDict) -> QueueFilters:
        customer = query.get("customer", "")
        return cls(
            channel=printable(query.get("channel", "")).strip()[:40],
            status=query.get("status", "") if query.get("status") in ChannelOrder.Status else "",
            late=query.get("late") == "1",
            oversold=query.get("oversold") == "1",
            unrouted=query.get("unrouted") == "1",
            search=printable(query.get("q", "")).strip()[:SEARCH_MAX],
            customer=int(customer) if customer.isdigit() and len(customer) < 19 else None,
        )

    def as_query(self) -> str:
        """The filters as a query string, for the pager's links."""
        given = {
            "channel": self.channel,
            "status": self.status,
            "late": "1" if self.late else "",
            "oversold": "1" if self.oversold else "",
            "unrouted": "1" if self.unrouted else "",
            "q": self.search,
            "customer": str(self.customer) if self.customer else "",
        }
        query = QueryDict(mutable=True)
        query.update({name: value for name, value in given.items() if value})
        return query.urlencode()


def queue(filters: QueueFilters, *, now: datetime | None = None) -> QuerySet[ChannelOrder]:
    """The order queue, newest placed first, with what each row shows loaded in a few
    queries (lines with their SKU, location and listing)."""
    orders = ChannelOrder.objects.select_related("channel", "customer").order_by(
        "-placed_at", "-id"
    )
    if filters.channel:
        orders = orders.filter(channel__code=filters.channel)
    if filters.status:
        orders = orders.filter(status=filters.status)
    if filters.late:
        orders = orders.filter(late(now))
    if filters.oversold:
        orders = orders.filter(oversold())
    if filters.unrouted:
        orders = orders.filter(unrouted())
    if filters.search:
        orders = orders.filter(Q(name__icontains=filters.search) | Q(external_id=filters.search))
    if filters.customer is not None:
        orders = orders.filter(customer_id=filters.customer)
    return orders.prefetch_related(_lines())


def _lines() -> Prefetch:
    return Prefetch(
        "lines",
        queryset=ChannelOrderLine.objects.select_related("sku", "location", "listing").order_by(
            "id"
        ),
    )


def ledger_reference(order: ChannelOrder) -> str:
    """What the order's ledger events carry as their reference."""
    return f"{order.channel.code}:order:{order.external_id}"


# --- pages -----------------------------------------------------------------------------------


@requires()
def order_list(request: HttpRequest) -> HttpResponse:
    """Every channel's orders, newest placed first, filtered; htmx swaps the table alone."""
    filters = QueueFilters.from_query(request.GET)
    page = Paginator(queue(filters), ORDERS_PER_PAGE).get_page(request.GET.get("page"))
    template = "channels/orders.html"
    if getattr(request, "htmx", False) and not request.htmx.history_restore_request:
        template += "#order-table"
    context = {
        "page": page,
        "filters": filters,
        "query": filters.as_query(),
        "channels": Channel.objects.order_by("priority", "code"),
        "statuses": ChannelOrder.Status.choices,
        "now": timezone.now(),
    }
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request", "HX-History-Restore-Request"])
    return response


@requires()
def order_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _order_page(request, get_object_or_404(ChannelOrder, pk=pk))


def _order_page(request: HttpRequest, order: ChannelOrder, status: int = 200) -> HttpResponse:
    """An order with its lines (where each commits and why), the ledger events it caused, its
    shipments and the history of what people did to it; the ship and re-route forms."""
    order = (
        ChannelOrder.objects.select_related("channel", "customer")
        .prefetch_related(_lines())
        .get(pk=order.pk)
    )
    lines = list(order.lines.all())
    for line in lines:
        # Where a person may move the line: its listing's pool, not where it is now.
        line.route_choices = [
            place
            for place in routing.pool_of(order.channel, line.listing)
            if place.pk != line.location_id
        ]
    shipments = list(order.shipments.order_by("-created_at", "-id"))
    events = (
        InventoryEvent.objects.filter(reference=ledger_reference(order))
        .prefetch_related("entries__sku", "entries__location")
        .order_by("occurred_at", "id")
    )
    context = {
        "order": order,
        "lines": lines,
        "shipments": shipments,
        "events": events,
        "trail": audit.trail_of(order, *shipments),
        "now": timezone.now(),
        "can_ship": order.status == ChannelOrder.Status.OPEN
        and any(line.committed_units > 0 for line in lines),
    }
    return render(request, "channels/order_detail.html", context, status=status)


@requires(Capability.OPERATE)
@require_POST
def order_ship(request: HttpRequest, pk: int) -> HttpResponse:
    """Ship the order's open lines (the quantities given, or all still to ship) with carrier
    and tracking: the units leave stock now, the channel is told through the outbox."""
    order = get_object_or_404(ChannelOrder.objects.select_related("channel"), pk=pk)
    lines = _posted_lines(request)
    carrier = printable(request.POST.get("carrier", "")).strip()[:64]
    tracking = printable(request.POST.get("tracking_number", "")).strip()[:128]
    if lines == []:
        messages.error(request, "Say which items ship: every quantity is 0.")
        return redirect("channels:order-detail", pk=order.pk)
    try:
        with audit.signed(request, "order.ship", order) as change:
            shipment = outbox.ship_order(
                order=order,
                lines=lines,
                carrier=carrier,
                tracking_number=tracking,
                tracking_url=_url(request.POST.get("tracking_url", "")),
                shipping_method=printable(request.POST.get("shipping_method", "")).strip()[:64],
                source=OrderShipment.Source.CONSOLE,
                actor=request.user.get_username(),
                carrier_name=printable(request.POST.get("carrier_name", "")).strip()[:50],
            )
            change.after = {"shipment": shipment.key, "lines": shipment.lines}
    except DomainError as refused:
        messages.error(request, f"{order.name or order.external_id}: {_why(refused)}")
        return redirect("channels:order-detail", pk=order.pk)
    messages.success(
        request,
        f"{order.name or order.external_id} shipped with {shipment.carrier} "
        f"{shipment.tracking_number}; {order.channel.code} is told of it.",
    )
    return redirect("channels:order-detail", pk=order.pk)


@requires(Capability.OPERATE)
@require_POST
def line_reroute(request: HttpRequest, pk: int, line_pk: int) -> HttpResponse:
    """Move an open line's commitment to another location of its listing's pool, with why."""
    order = get_object_or_404(ChannelOrder.objects.select_related("channel"), pk=pk)
    line = get_object_or_404(
        ChannelOrderLine.objects.select_related("location"), pk=line_pk, order=order
    )
    location = Location.objects.filter(code=posted_code(request, "location")).first()
    reason = printable(request.POST.get("reason", "")).strip()[:500]
    if not reason:
        messages.error(request, f"Say why line {line.external_id} moves.")
        return redirect("channels:order-detail", pk=order.pk)
    if location is None:
        messages.error(request, f"Line {line.external_id}: choose a location.")
        return redirect("channels:order-detail", pk=order.pk)
    was = line.location.code if line.location else ""
    try:
        with audit.signed(request, "order.reroute", order, reason=reason) as change:
            routing.reroute_line(
                line=line, location=location, actor=request.user.get_username(), reason=reason
            )
            change.after = {"line": line.external_id, "from": was, "to": location.code}
    except DomainError as refused:
        messages.error(request, f"Line {line.external_id}: {_why(refused)}")
        return redirect("channels:order-detail", pk=order.pk)
    messages.success(request, f"Line {line.external_id} now ships from {location.code}.")
    return redirect("channels:order-detail", pk=order.pk)


@requires()
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One shopper's orders across channels, newest first."""
    customer = get_object_or_404(Customer, pk=pk)
    orders = queue(QueueFilters(customer=customer.pk))
    page = Paginator(orders, ORDERS_PER_PAGE).get_page(request.GET.get("page"))
    channels = (
        ChannelOrder.objects.filter(customer=customer)
        .values_list("channel__code", flat=True)
        .distinct()
        .order_by("channel__code")
    )
    context = {"customer": customer, "page": page, "channels": list(channels)}
    return render(request, "channels/customer_detail.html", context)


def _posted_lines(request: HttpRequest) -> list[tuple[str, int]] | None:
    """[(line external id, items)] from the form's `ship-<line id>` quantities; None when the
    form names no line (ship everything still to ship)."""
    given = [
        (name.removeprefix("ship-"), value)
        for name, value in request.POST.items()
        if name.startswith("ship-")
    ]
    if not given:
        return None
    lines = []
    for line_id, value in given:
        items = int(value) if value.isdigit() and len(value) < 8 else 0
        if items > 0:
            lines.append((printable(line_id)[:255], items))
    return lines


def _url(value: str) -> str:
    value = printable(value).strip()[:500]
    return value if value.startswith(("https://", "http://")) else ""


def _why(refused: DomainError) -> str:
    return refused.detail or str(refused)
