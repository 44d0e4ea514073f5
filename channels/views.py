"""Console pieces of the channels app."""

from __future__ import annotations

from django.contrib import messages
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, F, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST

from access import audit
from access.permissions import requires
from access.roles import Capability
from allocation import services as allocation_services
from allocation.models import OversellIncident, SalesHalt
from inventory_sync.lib.errors import DomainError
from inventory_sync.lib.inputs import posted_code, posted_id, printable
from ledger.models import Location, Sku

from . import (
    backlog,
    health,
    history,
    imports,
    inbound,
    modes,
    order_health,
    planner,
    tasks,
    unmapped,
)
from . import incidents as incidents_service
from . import quarantine as quarantine_service
from . import returns as returns_service
from .models import Channel, ChannelOrder, ChannelReturn, InboundEvent, Listing, MappingImport


@requires()
def sku_listings(request: HttpRequest, code: str) -> HttpResponse:
    """The SKU page's listings panel: what each listing shows now, and why (loaded by htmx)."""
    sku = get_object_or_404(Sku, code=code)
    rows = planner.allocations_for_sku(sku)
    context = {
        "sku": sku,
        "rows": rows,
        "halts": SalesHalt.objects.filter(sku=sku, released_at__isnull=True)
        .select_related("channel")
        .order_by("id"),
        # The halt form offers the channels the SKU is listed on.
        "listed_on": sorted({listing.channel for listing, _ in rows}, key=lambda c: c.code),
        # Reloaded with the panel when a halt opens or ends, so the history follows.
        "trail": history.sku_trail(sku),
    }
    return render(request, "channels/_sku_listings.html", context)


LISTINGS_PER_PAGE = 50


@requires()
def channel_list(request: HttpRequest) -> HttpResponse:
    """Every channel's health: last webhook, last push, latency, throttling, errors."""
    rows = health.channels_health(list(Channel.objects.all()))
    template = "channels/channel_list.html"
    if getattr(request, "htmx", False) and not request.htmx.history_restore_request:
        template += "#channel-health"
    context = {"rows": rows, "heartbeats": health.worker_heartbeats()}
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request", "HX-History-Restore-Request"])
    return response


@requires()
def channel_detail(request: HttpRequest, code: str) -> HttpResponse:
    """A channel's listings with desired / pushed / observed quantities; `?show=differing`
    keeps the ones not in sync."""
    channel = get_object_or_404(Channel, code=code)
    show = request.GET.get("show", "all")
    listings = Listing.objects.filter(channel=channel).select_related("sku").order_by("sku__code")
    if show == "differing":
        listings = listings.filter(_not_in_sync())
    page = Paginator(listings, LISTINGS_PER_PAGE).get_page(request.GET.get("page"))
    halts = SalesHalt.objects.filter(released_at__isnull=True).filter(
        Q(channel=channel) | Q(channel__isnull=True)
    )
    template = "channels/channel_detail.html"
    if getattr(request, "htmx", False) and not request.htmx.history_restore_request:
        template += "#listing-table"
    context = {
        "channel": channel,
        "health": health.channel_health(channel),
        "inbox": backlog.inbound_backlog(channels=[channel])[0],
        "job": channel.mapping_imports.first(),
        "page": page,
        "show": show,
        "halts": halts.select_related("sku").order_by("sku__code")[:HALT_BADGES],
        "halt_count": halts.count(),
        "sku_base": _mark_rows(page, halts),
    }
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request", "HX-History-Restore-Request"])
    return response


HALT_BADGES = 20  # badges on a channel's page; the halts page lists them all


def _mark_rows(page, halts) -> str:
    """Work out once per listing row what its cells ask several times (what the channel
    should show, whether it shows something else, whether its SKU is halted); returns the
    SKU pages' base URL, so a row links to its SKU without reversing a URL each."""
    halted = set(
        halts.filter(sku_id__in=[listing.sku_id for listing in page]).values_list(
            "sku_id", flat=True
        )
    )
    for listing in page:
        listing.shown = listing.expected_quantity
        listing.halted = listing.sku_id in halted
        listing.differs = (
            listing.fulfilment != Listing.Fulfilment.FBA
            and None not in (listing.observed_quantity, listing.shown)
            and listing.observed_quantity != listing.shown
        )
    return reverse("ledger:sku-list")


@require_POST
@requires(Capability.OPERATE)
def channel_import(request: HttpRequest, code: str) -> HttpResponse:
    """Start a listings import of the channel, run by a worker (its progress is polled)."""
    channel = get_object_or_404(Channel, code=code)
    refused = ""
    try:
        with audit.signed(request, "channel.import_mapping", channel) as change:
            job = imports.start_import(channel, actor=request.user.get_username())
            change.after = {"import": job.pk}
        transaction.on_commit(lambda: tasks.import_mapping_task.delay(job.pk))
    except DomainError as error:
        refused = error.detail
        job = channel.mapping_imports.first()
    if getattr(request, "htmx", False):
        context = {"channel": channel, "job": job, "refused": refused}
        return render(request, "channels/_mapping_import.html", context)
    if refused:
        messages.error(request, refused)
    else:
        messages.success(request, f"Import of {channel.name}'s listings started.")
    return redirect("channels:channel-detail", code=channel.code)


@requires()
def mapping_import(request: HttpRequest, pk: int) -> HttpResponse:
    """One import's progress or outcome (polled by the channel page while it runs)."""
    job = get_object_or_404(MappingImport.objects.select_related("channel"), pk=pk)
    return render(request, "channels/_mapping_import.html", {"channel": job.channel, "job": job})


@requires()
def channel_activity(request: HttpRequest, code: str) -> HttpResponse:
    """A channel's recent pushes and its history of changes (loaded by the channel page)."""
    channel = get_object_or_404(Channel, code=code)
    context = {
        "channel": channel,
        "attempts": channel.push_attempts.defer("request", "response")[:20],
        "trail": history.channel_trail(channel),
    }
    return render(request, "channels/_channel_activity.html", context)


@require_POST
@requires(Capability.OPERATE)
def channel_mode(request: HttpRequest, code: str) -> HttpResponse:
    """Switch a channel between shadow, live and paused, with a reason (the form asks to
    confirm: live sends quantities to the channel at once)."""
    channel = get_object_or_404(Channel, code=code)
    mode, reason = request.POST.get("mode", ""), printable(request.POST.get("reason", "")).strip()
    done = error = ""
    if not reason:
        error = "Say why the mode changes: the audit trail keeps it."
    else:
        try:
            with audit.signed(request, "channel.mode", channel, reason=reason) as change:
                change.target = modes.change_mode(channel, mode)
            channel = change.target
            done = f"Now {channel.get_mode_display().lower()}."
        except DomainError as refused:
            error = refused.detail
    if getattr(request, "htmx", False):
        context = {"channel": channel, "mode_done": done, "mode_error": error}
        return render(request, "channels/channel_detail.html#channel-mode", context)
    if error:
        messages.error(request, f"{channel.name}: {error}")
    else:
        messages.success(request, f"{channel.name}: {done}")
    return redirect("channels:channel-detail", code=channel.code)


def _not_in_sync() -> Q:
    """Listings a person may want to look at: due, refused or held, or showing something else
    than expected. FBA listings show Amazon's own count and are never pushed: never due."""
    merchant = ~Q(fulfilment=Listing.Fulfilment.FBA)
    shows_other = (
        merchant
        & Q(observed_quantity__isnull=False, pushed_quantity__isnull=False)
        & ~Q(observed_quantity=F("pushed_quantity") + F("channel_delta"))
    )
    return (
        (merchant & Q(desired_version__gt=F("pushed_version")))
        | ~Q(push_error="")
        | Q(push_held_until__isnull=False)
        | shows_other
    )


RETURNS_PER_PAGE = 50


@requires()
def return_list(request: HttpRequest) -> HttpResponse:
    """Customer returns as the channels reported them and what each did to stock; the ones
    waiting to be graded (merchant-fulfilled) or for a mapping first."""
    handling = request.GET.get("handling", "")
    rows = ChannelReturn.objects.select_related("channel", "sku", "event").order_by(
        "-returned_at", "-id"
    )
    if handling in ChannelReturn.Handling.values:
        rows = rows.filter(handling=handling)
    page = Paginator(rows, RETURNS_PER_PAGE).get_page(request.GET.get("page"))
    waiting = ChannelReturn.objects.filter(
        handling__in=[ChannelReturn.Handling.AWAITING_GRADING, ChannelReturn.Handling.UNMAPPED]
    ).count()
    to_grade = [row for row in page if row.handling == ChannelReturn.Handling.AWAITING_GRADING]
    suggested = returns_service.suggested_locations(to_grade)
    for row in to_grade:
        row.suggested_location = suggested[row.pk]
    context = {
        "page": page,
        "handling": handling,
        "choices": ChannelReturn.Handling.choices,
        "waiting": waiting,
        "locations": Location.objects.filter(is_active=True).order_by("code"),
        "outcomes": [("restock", "Restock"), ("unsellable", "Unsellable")],
    }
    return render(request, "channels/returns.html", context)


@requires(Capability.OPERATE)
@require_POST
def return_grade(request: HttpRequest, pk: int) -> HttpResponse:
    """Grade one waiting return: restock its units at a location, or record them unsellable
    there with a reason."""
    ret = get_object_or_404(ChannelReturn.objects.select_related("channel"), pk=pk)
    location = Location.objects.filter(code=posted_code(request, "location")).first()
    reason = _reason(request)
    if location is None:
        messages.error(request, f"Return {pk}: choose a location.")
        return redirect("channels:return-list")
    try:
        with audit.signed(request, "return.grade", ret, reason=reason) as change:
            change.target = ret = returns_service.grade_return(
                ret,
                outcome=request.POST.get("outcome", ""),
                location=location,
                reason=reason,
                actor=request.user.get_username(),
            )
    except DomainError as refused:
        messages.error(request, f"Return {pk}: {refused.detail}")
        return redirect("channels:return-list")
    messages.success(
        request, f"Return {pk}: {ret.get_handling_display().lower()} at {location.code}."
    )
    return redirect("channels:return-list")


INBOUND_PER_PAGE = 50


@requires(Capability.OPERATE)
def quarantine(request: HttpRequest) -> HttpResponse:
    """Inbound events that wait for a person: quarantined (an unknown SKU or listing) and
    failed ones. "Apply again" after fixing the mapping sends them back to the worker."""
    if request.method == "POST":
        channel = get_object_or_404(Channel, code=posted_code(request, "channel"))
        with transaction.atomic():
            queued = inbound.retry_quarantined(channel=channel)
            if queued:
                audit.record(request, "quarantine.reapply", channel, after={"queued": queued})
        transaction.on_commit(tasks.wake_ingest)
        messages.success(request, f"{queued} event(s) of {channel.code} queued again.")
        return redirect("channels:quarantine")
    events = (
        InboundEvent.objects.filter(status__in=["quarantined", "failed"])
        .select_related("channel")
        .defer("body", "headers")
        .order_by("-id")
    )
    page = Paginator(events, INBOUND_PER_PAGE).get_page(request.GET.get("page"))
    waiting = (
        InboundEvent.objects.filter(status="quarantined")
        .values("channel__code", "channel__name")
        .annotate(count=Count("id"))
        .order_by("channel__code")
    )
    context = {"page": page, "waiting": waiting, "items": quarantine_service.waiting_items()}
    return render(request, "channels/quarantine.html", context)


@require_POST
@requires(Capability.OPERATE)
def quarantine_fix(request: HttpRequest) -> HttpResponse:
    """Map one unknown item to a SKU of ours (or create the SKU from the row) and apply the
    orders waiting on it now."""
    channel = get_object_or_404(Channel, code=posted_code(request, "channel"))
    item = unmapped.Unmapped(
        variant=printable(request.POST.get("variant", "")),
        sku=printable(request.POST.get("channel_sku", "")),
    )
    create = request.POST.get("action") == "create"
    try:
        with transaction.atomic():
            mapped = quarantine_service.map_in_place(
                channel,
                item,
                sku_code=printable(request.POST.get("sku", "")),
                create=create,
                title=printable(request.POST.get("title", "")),
            )
            audit.record(
                request,
                "quarantine.fix",
                mapped.listing,
                after={
                    "channel": channel.code,
                    "variant": item.variant,
                    "channel_sku": item.sku,
                    "sku": mapped.listing.sku.code,
                    "sku_created": create,
                    "events": len(mapped.event_ids),
                },
            )
    except DomainError as refused:
        messages.error(request, f"{item.label}: {refused.detail}")
        return redirect("channels:quarantine")
    outcome = quarantine_service.reapply(mapped.event_ids)
    transaction.on_commit(tasks.wake_ingest)
    verb = "created and mapped" if create else "mapped"
    told = ", ".join(f"{count} {status}" for status, count in sorted(outcome.items()))
    messages.success(
        request,
        f"{item.label} {verb} to {mapped.listing.sku.code}; its waiting order event(s): "
        f"{told or 'none'}.",
    )
    return redirect("channels:quarantine")


INCIDENTS_PER_PAGE = 20
WEEKS_SHOWN = 4  # of the oversell rate by ISO week
STANDING_SHOWN = 20  # earlier orders that stand, listed under an incident; the rest counted


@requires(Capability.OPERATE)
def incident_list(request: HttpRequest) -> HttpResponse:
    """Open oversell incidents with every order behind them (which stand, which give way and
    what was done), the channels' order health, and `?state=closed` the closed and resolved
    ones. POST closes an incident."""
    if request.method == "POST":
        return _incident_close(request)
    if request.GET.get("state") == "closed":
        return _past_incidents(request)
    incidents = OversellIncident.objects.filter(status=OversellIncident.Status.OPEN).select_related(
        "sku"
    )
    incidents = list(incidents)
    orders_of = incidents_service.incidents_orders(incidents)
    rows = []
    for incident in incidents:
        orders = orders_of[incident.pk]
        shown, earlier = _shown_orders(orders)
        rows.append((incident, shown, earlier, _uncovered(incident, orders)))
    context = {
        "rows": rows,
        "closed_count": OversellIncident.objects.exclude(
            status=OversellIncident.Status.OPEN
        ).count(),
    }
    return render(request, "channels/incidents.html", context)


@requires()
def order_health_panel(request: HttpRequest) -> HttpResponse:
    """Order health over 30 days and the oversell rate by week, of one channel (`?channel=`)
    or all: read from every recent order, so the incident and channel pages load it after
    themselves."""
    code = request.GET.get("channel", "")
    channels = [get_object_or_404(Channel, code=code)] if code else None

    def read() -> dict:
        return {
            "rows": order_health.channel_rates(channels=channels),
            "weeks": order_health.weekly_oversell(channels=channels, weeks=WEEKS_SHOWN),
        }

    # Rates over 30 days and 4 weeks: a minute old is as good as new, and reading them goes
    # through every recent order.
    context = cache.get_or_set(f"channels:order-health:{code}", read, ORDER_HEALTH_FOR)
    return render(request, "channels/_order_health.html", context)


ORDER_HEALTH_FOR = 60


def _shown_orders(
    orders: list[incidents_service.IncidentOrder],
) -> tuple[list[incidents_service.IncidentOrder], int]:
    """Every order that gives way, is held or was acted on, and the latest of those that
    stand; how many earlier standing orders are left out (a hero SKU has hundreds)."""
    standing = [row for row in orders if row.verdict == "stands" and not row.order.conflict_action]
    left_out = {row.order.pk for row in standing[:-STANDING_SHOWN]} if standing else set()
    return [row for row in orders if row.order.pk not in left_out], len(left_out)


def _uncovered(incident: OversellIncident, orders) -> int:
    """Units short that no open channel order carries (sales recorded through the API)."""
    return max(incident.units_short - sum(row.losing_units for row in orders), 0)


def _past_incidents(request: HttpRequest) -> HttpResponse:
    past = OversellIncident.objects.exclude(status=OversellIncident.Status.OPEN).select_related(
        "sku"
    )
    page = Paginator(past.order_by("-ended_at", "-id"), INCIDENTS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    context = {"page": page, "rows": incidents_service.closed_incidents(page)}
    return render(request, "channels/incidents_closed.html", context)


def _reason(request: HttpRequest) -> str:
    return printable(request.POST.get("reason", "")).strip()[:500]


def _incident_close(request: HttpRequest) -> HttpResponse:
    if request.POST.get("action") != "close":
        messages.error(request, "Unknown action.")
        return redirect("channels:incident-list")
    incident = get_object_or_404(OversellIncident, pk=posted_id(request, "incident"))
    if incident.status != OversellIncident.Status.OPEN:
        messages.error(request, f"The incident on {incident.sku.code} is no longer open.")
        return redirect("channels:incident-list")
    with audit.signed(request, "incident.close", incident, reason=_reason(request)) as change:
        change.target = incident = allocation_services.incident_close(
            incident=incident, actor=request.user.get_username()
        )
    messages.success(request, f"Incident on {incident.sku.code} closed.")
    return redirect("channels:incident-list")


@requires(Capability.OPERATE, read=Capability.OPERATE)
def incident_order_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    """Cancel an order that gave way, in two steps: GET shows the order and the apology e-mail
    the customer will get (with the discount code typed); the POST from that page, which
    carries `confirm`, sends the cancel to the channel. A POST without it shows the page."""
    order = get_object_or_404(ChannelOrder.objects.select_related("channel"), pk=pk)
    data = request.POST if request.method == "POST" else request.GET
    discount = printable(data.get("discount_code", "")).strip()[:64]
    if request.method == "POST" and data.get("confirm") == "yes":
        reason = _reason(request)
        if reason:
            return _cancel_confirmed(request, order, reason=reason, discount=discount)
        return _confirm_page(request, order, discount, why="Say why this order is cancelled.")
    return _confirm_page(request, order, discount)


def _confirm_page(
    request: HttpRequest, order: ChannelOrder, discount: str, *, why: str = ""
) -> HttpResponse:
    data = request.POST if request.method == "POST" else request.GET
    context = {
        "order": order,
        "lines": order.lines.select_related("sku", "location").order_by("id"),
        "email": incidents_service.apology_email(order, discount_code=discount),
        "discount_code": discount,
        "reason": printable(data.get("reason", "")).strip()[:500],
        "refusal": incidents_service.cancel_refusal(order),
        "why": why,
    }
    return render(request, "channels/incident_cancel.html", context, status=400 if why else 200)


def _cancel_confirmed(
    request: HttpRequest, order: ChannelOrder, *, reason: str, discount: str
) -> HttpResponse:
    before = audit.snapshot(order)
    try:
        outcome = incidents_service.cancel_for_stock(
            order,
            reason=reason,
            actor=request.user.get_username(),
            discount_code=discount,
            # Without an address there was nothing to opt out of: the outcome says why none went.
            notify=request.POST.get("notify") == "yes"
            or not incidents_service.customer_email(order),
        )
    except DomainError as refused:
        messages.error(request, refused.detail)
        return redirect("channels:incident-list")
    # Signed after the channel answered (no network I/O inside a transaction).
    audit.record(
        request, "order.cancel", outcome.order, before=before, after=outcome.as_audit(),
        reason=reason,
    )  # fmt: skip
    name = incidents_service.label(order)
    if outcome.refused:
        messages.error(request, f"{name}: {outcome.refused}")
    else:
        emailed = f" Apology e-mailed to {outcome.emailed}." if outcome.emailed else ""
        messages.success(
            request,
            f"Cancel of {name} sent; the units come back when the channel confirms it.{emailed}",
        )
    return redirect("channels:incident-list")


@requires(Capability.OPERATE)
@require_POST
def incident_order_backorder(request: HttpRequest, pk: int) -> HttpResponse:
    """Keep an order that gave way open until stock arrives, with the person's note."""
    order = get_object_or_404(ChannelOrder.objects.select_related("channel"), pk=pk)
    note = _reason(request)
    if not note:
        messages.error(request, "Say why this order waits for stock.")
        return redirect("channels:incident-list")
    try:
        with audit.signed(request, "order.backorder", order, reason=note) as change:
            change.target = incidents_service.backorder(
                order, note=note, actor=request.user.get_username()
            )
    except DomainError as refused:
        messages.error(request, refused.detail)
        return redirect("channels:incident-list")
    messages.success(request, f"{incidents_service.label(order)} waits for stock (backordered).")
    return redirect("channels:incident-list")
