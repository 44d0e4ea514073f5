"""Console pages of the ledger: dashboard, SKU list with search, SKU detail."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from . import selectors
from .models import Bucket, Sku

SKUS_PER_PAGE = 50
ENTRIES_PER_PAGE = 25


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "ledger/dashboard.html",
        {"totals": selectors.ledger_totals(), "oversold": selectors.oversold_accounts()},
    )


@login_required
def sku_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()[:100]
    page = Paginator(selectors.sku_list(search=search), SKUS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    template = "ledger/sku_list.html"
    if getattr(request, "htmx", False) and not request.htmx.history_restore_request:
        template += "#sku-table"
    return render(request, template, {"page": page, "search": search})


@login_required
def sku_detail(request: HttpRequest, code: str) -> HttpResponse:
    sku = get_object_or_404(Sku, code=code)
    entries = Paginator(selectors.sku_entries(sku=sku), ENTRIES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    template = "ledger/sku_detail.html"
    if getattr(request, "htmx", False) and request.htmx.target == "ledger-history":
        template += "#ledger-history"
    return render(
        request,
        template,
        {
            "sku": sku,
            "rows": selectors.sku_balances_by_location(sku=sku),
            "buckets": Bucket.values,
            "entries": entries,
        },
    )
