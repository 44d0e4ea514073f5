"""Console pieces of the channels app."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from inventory_sync.lib.htmx import login_required
from ledger.models import Sku

from . import planner


@login_required
def sku_listings(request: HttpRequest, code: str) -> HttpResponse:
    """The SKU page's listings panel: what each listing shows now, and why (loaded by htmx)."""
    sku = get_object_or_404(Sku, code=code)
    rows = planner.allocations_for_sku(sku)
    return render(request, "channels/_sku_listings.html", {"sku": sku, "rows": rows})
