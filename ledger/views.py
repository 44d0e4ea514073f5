"""Console pages of the ledger: dashboard, SKU list with search, SKU detail, stock actions."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_vary_headers

from access import audit
from access.permissions import requires
from access.roles import Capability
from inventory_sync.lib.errors import DomainError
from inventory_sync.lib.paging import CappedPaginator

from . import selectors, services
from .forms import StockActionForm
from .models import CODE_VALIDATOR, Bucket, EventKind, Location, Sku

SKUS_PER_PAGE = 50
ENTRIES_PER_PAGE = 25


@requires()
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "ledger/dashboard.html", {"totals": selectors.ledger_totals()})


@requires()
def oversold(request: HttpRequest) -> HttpResponse:
    """The dashboard's oversold accounts (read from every balance: loaded after the page)."""
    return render(
        request, "ledger/dashboard.html#oversold", {"oversold": selectors.oversold_accounts()}
    )


@requires()
def sku_list(request: HttpRequest) -> HttpResponse:
    # PostgreSQL refuses NUL in a query parameter; nothing stored can contain one anyway.
    search = request.GET.get("q", "").replace("\x00", "").strip()[:100]
    page = Paginator(selectors.sku_list(search=search), SKUS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    template = "ledger/sku_list.html"
    if getattr(request, "htmx", False) and not request.htmx.history_restore_request:
        template += "#sku-table"
    response = render(request, template, {"page": page, "search": search})
    # One URL answers with a page or a partial: caches (and the browser's back button) must
    # not serve one for the other.
    patch_vary_headers(response, ["HX-Request", "HX-History-Restore-Request"])
    return response


@requires()
def sku_detail(request: HttpRequest, code: str) -> HttpResponse:
    try:
        CODE_VALIDATOR(code)
    except ValidationError:
        raise Http404("No SKU has that code.") from None  # and a NUL would fail the query
    sku = get_object_or_404(Sku, code=code)
    wanted = request.GET.get("page")
    entries = CappedPaginator(
        selectors.sku_entries(sku=sku), ENTRIES_PER_PAGE, page=wanted
    ).get_page(wanted)
    template = "ledger/sku_detail.html"
    if getattr(request, "htmx", False) and request.htmx.target == "ledger-history":
        template += "#ledger-history"
    response = render(
        request,
        template,
        {
            "sku": sku,
            "rows": selectors.sku_balances_by_location(sku=sku),
            "buckets": Bucket.values,
            "entries": entries,
        },
    )
    patch_vary_headers(response, ["HX-Request", "HX-Target"])
    return response


@requires(Capability.OPERATE)
def stock_action(request: HttpRequest) -> HttpResponse:
    """Receipt, write-off, cycle count or transfer of one SKU at one location, scanned or
    typed: each submit is one ledger event, keyed by the form's token (a double submit records
    once). The next form is ready for the next scan."""
    if request.method != "POST":
        initial = {"token": StockActionForm.fresh_token(), "location": _main_warehouse()}
        return _stock_page(request, StockActionForm(initial=initial))
    form = StockActionForm(request.POST)
    if not form.is_valid():
        return _stock_page(request, form, status=400)
    try:
        recorded = _record_stock_action(request, form.cleaned_data)
    except DomainError as refused:
        form.add_error(None, str(refused))
        return _stock_page(request, form, status=400)
    data = form.cleaned_data
    done = (
        f"{'Recorded' if recorded.created else 'Already recorded'}: "
        f"{EventKind(data['kind']).label.lower()} of {data['quantity']} × {data['sku'].code} "
        f"at {data['location'].code} (event #{recorded.event.pk})."
    )
    if getattr(request, "htmx", False):
        fresh = StockActionForm(
            initial={"token": StockActionForm.fresh_token(), "kind": data["kind"],
                     "location": data["location"].code}
        )  # fmt: skip
        return _stock_page(request, fresh, done=done)
    messages.success(request, done)
    return redirect("ledger:stock")


def _main_warehouse() -> str | None:
    """The location a first scan most likely happens at: the first warehouse by code."""
    return (
        Location.objects.filter(is_active=True, kind=Location.Kind.WAREHOUSE)
        .order_by("code")
        .values_list("code", flat=True)
        .first()
    )


def _record_stock_action(request: HttpRequest, data: dict) -> services.RecordedEvent:
    reason = data["reason"].strip()
    to_location = data["to_location"].code if data["to_location"] else None
    line = services.EventLine(
        sku=data["sku"].code,
        location=data["location"].code,
        quantity=data["quantity"],
        to_location=to_location if data["kind"] == "transfer_out" else None,
    )
    with audit.signed(request, f"event.{data['kind']}", reason=reason) as change:
        recorded = services.record_event(
            kind=data["kind"],
            lines=[line],
            idempotency_key=f"console:{data['token']}",
            source="console",
            actor=request.user.get_username(),
            reason=reason,
        )
        change.target = recorded.event
        change.after = {"lines": recorded.event.payload.get("lines")}
        change.skip = not recorded.created  # a double submit changed nothing
    return recorded


def _stock_page(request, form, *, status: int = 200, done: str = "") -> HttpResponse:
    template = "ledger/stock.html"
    if getattr(request, "htmx", False):
        template += "#stock-form"
    return render(request, template, {"form": form, "done": done}, status=status)
