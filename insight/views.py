"""Insight pages: low stock with reorder suggestions, FBA health, allocation effectiveness;
and the draft purchase order of one supplier as CSV."""

from __future__ import annotations

import csv

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from access.permissions import requires
from inventory_sync.lib.spreadsheets import safe_cell

from . import cover, effectiveness, fba

LOW_SHOWN = 100


@requires()
def insight(request: HttpRequest) -> HttpResponse:
    low = cover.cached_low_stock()
    context = {
        "low": low[:LOW_SHOWN],
        "low_count": len(low),
        "suppliers": cover.suppliers_of(low),
        "pools": fba.pool_stock()[:LOW_SHOWN],
        "shares": effectiveness.cached_shares(),
        "divergence_points": round(effectiveness.DIVERGENCE * 100),
    }
    return render(request, "insight/insight.html", context)


@requires()
def reorder_csv(request: HttpRequest) -> HttpResponse:
    """`?supplier=NAME` (blank: the SKUs with no supplier)."""
    supplier = request.GET.get("supplier", "")[:100]
    stamp = timezone.now().strftime("%Y%m%d")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in supplier) or "no-supplier"
    response["Content-Disposition"] = f'attachment; filename="reorder-{name}-{stamp}.csv"'
    writer = csv.writer(response)
    writer.writerow(cover.REORDER_COLUMNS)
    for row in cover.reorder_rows(supplier):
        writer.writerow([safe_cell(cell) for cell in row])
    return response
