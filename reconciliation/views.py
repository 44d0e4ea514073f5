"""Console pages of reconciliation: runs, drift review, sales halts, the dead-man switch and
cycle-count discrepancies.

Each action parses a form, calls a service and answers an htmx request with the updated
partial (a row, or an `HX-Trigger` event that makes the panels showing it reload), a plain
browser with a redirect and a message. Refusals from the services are shown next to the
action, never as a server error.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget, trigger_client_event

from access import audit
from access.permissions import requires
from access.roles import Capability
from allocation.models import SalesHalt
from channels import backlog
from channels.models import Channel, Listing
from inventory_sync.lib.errors import DomainError
from inventory_sync.lib.inputs import posted_id

from . import deadman, discrepancies, resolve, services, tasks
from .forms import (
    DRIFT_ACTIONS,
    DriftActionForm,
    DriftFilterForm,
    HaltOpenForm,
    ReasonForm,
    ReconcileNowForm,
    ReviewForm,
)
from .models import (
    CycleCountDiscrepancy,
    DeadManEpisode,
    DeadManSwitch,
    Drift,
    ReconciliationRun,
)

RUNS_SHOWN = 50
CHART_RUNS = 30
DRIFT_PER_PAGE = 50
RELEASED_SHOWN = 20
EPISODES_SHOWN = 20
DISCREPANCIES_SHOWN = 200
QUARTERS_SHOWN = 8
# The event the halt panels (halts page, SKU page, channel page) reload on.
HALTS_CHANGED = "halts-changed"


def _htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False)) and not request.htmx.history_restore_request


def _actor(request: HttpRequest) -> str:
    return request.user.get_username()


def _page(request: HttpRequest, template: str, context: dict, partial: str) -> HttpResponse:
    """The whole page, or only its named partial for htmx (a filter, a poll, a reload)."""
    if _htmx(request):
        template = f"{template}#{partial}"
    response = render(request, template, context)
    # One URL answers with a page or a partial: caches and the back button must not mix them.
    patch_vary_headers(response, ["HX-Request", "HX-History-Restore-Request"])
    return response


def _back(request: HttpRequest, default: str) -> HttpResponse:
    """Where a plain form post returns: the page it came from when that is one of ours."""
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = reverse(default)
    return redirect(target)


def _first_error(form) -> str:
    for errors in form.errors.values():
        return str(errors[0])
    return "The form is not valid."


# --- runs -----------------------------------------------------------------------------------


@requires(Capability.OPERATE)
def run_list(request: HttpRequest) -> HttpResponse:
    """Recent runs with their counts, a "Reconcile now" button, and drift rate per channel."""
    if request.method == "POST":
        return _reconcile_now(request)
    context = {
        "runs": ReconciliationRun.objects.select_related("channel")[:RUNS_SHOWN],
        "form": ReconcileNowForm(),
        "chart": drift_chart(_chart_runs()),
    }
    return _page(request, "reconciliation/runs.html", context, "run-table")


def _reconcile_now(request: HttpRequest) -> HttpResponse:
    form = ReconcileNowForm(request.POST)
    if not form.is_valid():
        if _htmx(request):
            response = render(request, "reconciliation/runs.html#reconcile-form", {"form": form})
            return reswap(retarget(response, "#reconcile-form"), "outerHTML")
        messages.error(request, _first_error(form))
        return redirect("reconciliation:runs")
    with audit.signed(request, "reconciliation.run") as change:
        change.target = run = services.start_run(
            trigger=ReconciliationRun.Trigger.MANUAL,
            channel=form.cleaned_data["channel"],
            requested_by=_actor(request),
        )
    # Queued after the run row commits, so the worker always finds it; the row is on the
    # page at once and polls itself while the worker reads.
    tasks.reconcile_task.delay_on_commit(run_id=run.pk)
    if _htmx(request):
        return render(request, "reconciliation/runs.html#run-row", {"run": run})
    messages.success(request, f"Run {run.pk} started.")
    return redirect("reconciliation:runs")


@requires()
@require_GET
def run_row(request: HttpRequest, pk: int) -> HttpResponse:
    """One run's row: what a running run's row polls."""
    run = get_object_or_404(ReconciliationRun.objects.select_related("channel"), pk=pk)
    return render(request, "reconciliation/runs.html#run-row", {"run": run})


def _chart_runs() -> list[dict]:
    done = ReconciliationRun.objects.filter(status=ReconciliationRun.Status.DONE)
    return list(reversed(done.order_by("-id").values("id", "channels")[:CHART_RUNS]))


CHART_WIDTH = 300
CHART_HEIGHT = 60
# The scale's top is never below 5 %: a few stray units must not look like a fire.
CHART_MIN_TOP_PERCENT = 5.0


@dataclass(frozen=True, slots=True)
class DriftSeries:
    channel: str
    # x, y, run id, percent drifted. Coordinates are text formatted here: the template would
    # localise a float ("12,5" in some locales), which SVG cannot read.
    dots: list[tuple[str, str, int, float]]
    points: str  # the SVG polyline through the dots
    latest: float  # percent
    mean: float  # percent


@dataclass(frozen=True, slots=True)
class DriftChart:
    series: list[DriftSeries]
    runs: int
    top: float  # percent at the top of the scale
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT


def drift_chart(runs: list[dict]) -> DriftChart:
    """Drifted / checked per channel for each run (oldest first), as sparkline coordinates on
    one shared scale so channels compare at a glance."""
    percents: dict[str, list[tuple[int, int, float]]] = defaultdict(list)
    for index, run in enumerate(runs):
        for code, summary in (run["channels"] or {}).items():
            checked = summary.get("checked") or 0
            if checked:
                drifted = summary.get("drifted") or 0
                percents[code].append((index, run["id"], 100 * drifted / checked))
    top = max([CHART_MIN_TOP_PERCENT, *(p for rows in percents.values() for _, _, p in rows)])
    step = CHART_WIDTH / max(len(runs) - 1, 1)
    series = []
    for code, rows in sorted(percents.items()):
        dots = [
            (f"{i * step:.1f}", f"{CHART_HEIGHT * (1 - percent / top):.1f}", run_id, percent)
            for i, run_id, percent in rows
        ]
        series.append(
            DriftSeries(
                channel=code,
                dots=dots,
                points=" ".join(f"{x},{y}" for x, y, _, _ in dots),
                latest=rows[-1][2],
                mean=sum(percent for _, _, percent in rows) / len(rows),
            )
        )
    return DriftChart(series=series, runs=len(runs), top=top)


# --- drift ----------------------------------------------------------------------------------


@requires()
@require_GET
def drift_list(request: HttpRequest) -> HttpResponse:
    """Drift rows, filtered by run, channel, SKU, cause, resolution or listing."""
    filters = DriftFilterForm(request.GET)
    filters.is_valid()  # an invalid parameter is dropped (cleaned_data keeps the valid ones)
    rows = filtered_drift(filters.cleaned_data)
    page = Paginator(rows, DRIFT_PER_PAGE).get_page(request.GET.get("page"))
    context = {"page": page, "filters": filters, "channels": Channel.objects.order_by("code")}
    return _page(request, "reconciliation/drift.html", context, "drift-table")


def filtered_drift(data: dict) -> QuerySet[Drift]:
    rows = Drift.objects.select_related("channel", "sku", "listing", "halt")
    given = {key: value for key, value in data.items() if value not in (None, "")}
    lookups = {"run": "run_id", "channel": "channel__code", "sku": "sku__code"}
    lookups |= {"cause": "cause", "listing": "listing_id"}
    for key, lookup in lookups.items():
        if key in given:
            rows = rows.filter(**{lookup: given[key]})
    resolution = given.get("resolution")
    if resolution == "unresolved":
        rows = rows.filter(resolution__in=[Drift.Resolution.OPEN, Drift.Resolution.HALTED])
    elif resolution:
        rows = rows.filter(resolution=resolution)
    return rows.order_by("-id")


@requires(Capability.OPERATE)
@require_POST
def drift_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    """Resync, halt, adopt or dismiss one drift through the resolve services."""
    drift = get_object_or_404(Drift.objects.select_related("channel", "sku"), pk=pk)
    form = DriftActionForm(request.POST)
    error = ""
    if not form.is_valid():
        error = _first_error(form)
    else:
        chosen, reason = form.cleaned_data["action"], form.cleaned_data["reason"]
        try:
            with audit.signed(request, f"drift.{chosen}", drift, reason=reason):
                DRIFT_ACTIONS[chosen](drift, actor=_actor(request), reason=reason)
        except (resolve.ResolutionError, DomainError) as refused:
            error = str(refused)
    drift = Drift.objects.select_related("channel", "sku", "listing", "halt").get(pk=pk)
    if _htmx(request):
        response = render(
            request, "reconciliation/drift.html#drift-row", {"drift": drift, "error": error}
        )
        return response if error else trigger_client_event(response, HALTS_CHANGED)
    if error:
        messages.error(request, f"Drift {pk}: {error}")
    else:
        messages.success(request, f"Drift {pk}: {drift.get_resolution_display().lower()}.")
    return _back(request, "reconciliation:drift")


# --- halts ----------------------------------------------------------------------------------


ACTIVE_HALTS_PER_PAGE = 50


@requires(Capability.OPERATE)
def halt_list(request: HttpRequest) -> HttpResponse:
    """Active sales halts with their release form, the recently released, and a form to open
    one (POST)."""
    if request.method == "POST":
        return _open_halt(request)
    halts = SalesHalt.objects.select_related("sku", "channel")
    active = halts.filter(released_at__isnull=True).order_by("-id")
    context = {
        "active": Paginator(active, ACTIVE_HALTS_PER_PAGE).get_page(request.GET.get("page")),
        "released": halts.filter(released_at__isnull=False).order_by("-released_at")[
            :RELEASED_SHOWN
        ],
        "form": HaltOpenForm(initial={"sku": request.GET.get("sku", "")}),
    }
    return _page(request, "reconciliation/halts.html", context, "halt-tables")


def _open_halt(request: HttpRequest) -> HttpResponse:
    form = HaltOpenForm(request.POST)
    halt = None
    if form.is_valid():
        data = form.cleaned_data
        try:
            with audit.signed(request, "halt.open", reason=data["reason"]) as change:
                change.target = halt = resolve.open_halt(
                    sku=data["sku"],
                    channel=data["channel"],
                    actor=_actor(request),
                    reason=data["reason"],
                )
        except resolve.ResolutionError as refused:
            form.add_error(None, str(refused))
    if _htmx(request):
        # The form's own message slot; the panels listing halts reload on the event.
        response = render(request, "reconciliation/_form_result.html", {"form": form, "halt": halt})
        return trigger_client_event(response, HALTS_CHANGED) if halt else response
    if halt is None:
        messages.error(request, _first_error(form))
    else:
        messages.success(request, f"{halt.sku.code} halted on {_scope(halt)}.")
    return _back(request, "reconciliation:halts")


def _scope(halt: SalesHalt) -> str:
    return halt.channel.code if halt.channel_id else "every channel"


@requires(Capability.OPERATE)
@require_POST
def halt_release(request: HttpRequest, pk: int) -> HttpResponse:
    """A person ends a halt, with a reason; drift the halt held is resolved with it."""
    halt = get_object_or_404(SalesHalt.objects.select_related("sku", "channel"), pk=pk)
    form = ReasonForm(request.POST)
    error = ""
    if not form.is_valid():
        error = "Say why the halt can end."
    elif halt.released_at is not None:
        error = f"Already released by {halt.released_by or 'someone'}."
    else:
        reason = form.cleaned_data["reason"]
        try:
            with audit.signed(request, "halt.release", halt, reason=reason) as change:
                change.target = halt = resolve.release_halt(
                    halt, actor=_actor(request), reason=reason
                )
        except resolve.ResolutionError as refused:
            error = str(refused)
    if _htmx(request):
        response = render(
            request, "reconciliation/halts.html#halt-row", {"halt": halt, "error": error}
        )
        return response if error else trigger_client_event(response, HALTS_CHANGED)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"Halt of {halt.sku.code} on {_scope(halt)} released.")
    return _back(request, "reconciliation:halts")


# --- dead-man switch ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeadManRow:
    channel: Channel
    switch: DeadManSwitch
    configured: bool  # False: the defaults, until the checker's first round saves them
    episode: DeadManEpisode | None  # the open one
    last_sign_of_life: datetime | None
    in_business_hours: bool

    @property
    def watched(self) -> bool:
        return self.channel.mode == Channel.Mode.LIVE and self.switch.is_enabled

    @property
    def weekdays(self) -> str:
        days = sorted(self.switch.weekdays or range(1, 8))
        return "every day" if len(days) == 7 else ", ".join(calendar.day_abbr[d - 1] for d in days)


def dead_man_rows(channels: QuerySet[Channel], now: datetime) -> list[DeadManRow]:
    channels = list(channels.order_by("priority", "code"))
    ids = [channel.pk for channel in channels]
    switches = {s.channel_id: s for s in DeadManSwitch.objects.filter(channel_id__in=ids)}
    episodes = {
        e.channel_id: e
        for e in DeadManEpisode.objects.filter(channel_id__in=ids, cleared_at__isnull=True)
    }
    rows = []
    for channel in channels:
        switch = switches.get(channel.pk) or DeadManSwitch(channel=channel)
        rows.append(
            DeadManRow(
                channel=channel,
                switch=switch,
                configured=switch.pk is not None,
                episode=episodes.get(channel.pk),
                last_sign_of_life=deadman.last_sign_of_life(channel),
                in_business_hours=deadman.in_business_hours(switch, now),
            )
        )
    return rows


@requires()
@require_GET
def dead_man(request: HttpRequest) -> HttpResponse:
    """Each channel's switch: ok or tripped (since, why), last sign of life, business hours."""
    context = {
        "rows": dead_man_rows(Channel.objects.all(), timezone.now()),
        "episodes": DeadManEpisode.objects.select_related("channel")[:EPISODES_SHOWN],
    }
    return _page(request, "reconciliation/dead_man.html", context, "dead-man-table")


@requires()
@require_GET
def dead_man_summary(request: HttpRequest) -> HttpResponse:
    """The compact per-channel state the dashboard loads: the dead-man switch and the inbound
    backlog (its age against the channel's push window), one row per channel."""
    now = timezone.now()
    rows = dead_man_rows(Channel.objects.all(), now)
    inboxes = backlog.inbound_backlog(now=now, channels=[row.channel for row in rows])
    context = {"rows": list(zip(rows, inboxes, strict=True))}
    return render(request, "reconciliation/_dead_man_summary.html", context)


@requires(Capability.OPERATE)
@require_POST
def dead_man_clear(request: HttpRequest, pk: int) -> HttpResponse:
    """A person clears a tripped switch: the channel shows its allocated quantities again."""
    episode = get_object_or_404(DeadManEpisode.objects.select_related("channel"), pk=pk)
    form = ReasonForm(request.POST)
    error = ""
    if not form.is_valid():
        error = "Say why the channel can be trusted again."
    elif episode.cleared_at is not None:
        error = f"Already cleared by {episode.cleared_by or 'someone'}."
    else:
        reason = form.cleaned_data["reason"]
        try:
            with audit.signed(request, "deadman.clear", episode, reason=reason):
                deadman.clear(episode, actor=_actor(request), reason=reason)
        except resolve.ResolutionError as refused:
            error = str(refused)
    if _htmx(request):
        channel = Channel.objects.filter(pk=episode.channel_id)
        row = dead_man_rows(channel, timezone.now())[0]
        return render(
            request, "reconciliation/dead_man.html#dead-man-row", {"row": row, "error": error}
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"Dead-man switch of {episode.channel.code} cleared.")
    return _back(request, "reconciliation:dead-man")


# --- cycle-count discrepancies --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShrinkageTable:
    quarters: list  # newest first
    rows: list[tuple[str, list[int]]]  # location code, units lost per quarter


def shrinkage_table(items: list[discrepancies.Shrinkage]) -> ShrinkageTable:
    quarters = sorted({item.quarter for item in items}, reverse=True)[:QUARTERS_SHOWN]
    units: dict[str, dict] = defaultdict(dict)
    for item in items:
        units[item.location][item.quarter] = item.units
    rows = [
        (location, [by_quarter.get(quarter, 0) for quarter in quarters])
        for location, by_quarter in sorted(units.items())
    ]
    return ShrinkageTable(quarters=quarters, rows=rows)


@requires()
@require_GET
def discrepancy_list(request: HttpRequest) -> HttpResponse:
    """Open cycle-count discrepancies to review, the recently reviewed, and shrinkage per
    location and quarter."""
    items = CycleCountDiscrepancy.objects.select_related("sku", "location")
    context = {
        "open": items.filter(status=CycleCountDiscrepancy.Status.OPEN)[:DISCREPANCIES_SHOWN],
        "open_count": items.filter(status=CycleCountDiscrepancy.Status.OPEN).count(),
        "reviewed": items.filter(
            ~Q(status=CycleCountDiscrepancy.Status.OPEN), reviewed_at__isnull=False
        ).order_by("-reviewed_at")[:RELEASED_SHOWN],
        "shrinkage": shrinkage_table(discrepancies.shrinkage_by_quarter()),
    }
    return render(request, "reconciliation/discrepancies.html", context)


@requires(Capability.OPERATE)
@require_POST
def discrepancy_review(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(CycleCountDiscrepancy.objects.select_related("sku", "location"), pk=pk)
    form = ReviewForm(request.POST)
    error = ""
    if not form.is_valid():
        error = "Say what the review found."
    elif item.status != CycleCountDiscrepancy.Status.OPEN:
        error = f"Already reviewed by {item.reviewed_by or 'someone'}."
    else:
        note = form.cleaned_data["note"]
        try:
            with audit.signed(request, "discrepancy.review", item, reason=note) as change:
                change.target = item = discrepancies.review(item, actor=_actor(request), note=note)
        except resolve.ResolutionError as refused:
            error = str(refused)
    if _htmx(request):
        context = {"item": item, "error": error}
        return render(request, "reconciliation/discrepancies.html#discrepancy-row", context)
    if error:
        messages.error(request, error)
    else:
        messages.success(
            request, f"Discrepancy of {item.sku.code} at {item.location.code} reviewed."
        )
    return _back(request, "reconciliation:discrepancies")


@requires(Capability.OPERATE)
@require_POST
def listing_push_now(request: HttpRequest) -> HttpResponse:
    """Send a listing's desired quantity again now, compare-and-set from what we expect (the
    channel page's "push now": a person who doubts what the channel shows)."""
    listing = get_object_or_404(
        Listing.objects.select_related("channel"), pk=posted_id(request, "listing")
    )
    with audit.signed(request, "listing.push_now", listing) as change:
        change.after = {"due": resolve.make_due([listing.pk])}
    if change.after["due"]:
        told = f"{listing.desired_quantity} queued for {listing.channel.code}"
    else:
        told = "nothing sent: a push is in flight, or the listing was never pushed (it is due)"
    if _htmx(request):
        return HttpResponse(
            f'<span class="badge ok" role="status" data-field="pushed-now">{told}</span>'
        )
    messages.success(request, f"{listing.external_id}: {told}.")
    return redirect("channels:channel-detail", code=listing.channel.code)
