"""Console pages of the ledger: dashboard, SKU list with search, SKU detail."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.cache import patch_vary_headers

from access.permissions import requires

from . import selectors
from .models import CODE_VALIDATOR, Bucket, Sku

SKUS_PER_PAGE = 50
ENTRIES_PER_PAGE = 25


@requires()
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "ledger/dashboard.html",
        {"totals": selectors.ledger_totals(), "oversold": selectors.oversold_accounts()},
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
    entries = Paginator(selectors.sku_entries(sku=sku), ENTRIES_PER_PAGE).get_page(
        request.GET.get("page")
    )
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
