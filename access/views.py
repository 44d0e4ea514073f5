"""The audit page: every signed action, newest first, filtered by who, what and which object."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .models import AuditEntry
from .permissions import requires

ENTRIES_PER_PAGE = 50
FILTERS = ("actor", "action", "via", "target_type", "target_id")


def filtered_entries(params) -> tuple[QuerySet[AuditEntry], dict[str, str]]:
    chosen = {}
    for name in FILTERS:
        value = "".join(ch for ch in str(params.get(name, "")) if ch.isprintable())[:100].strip()
        if value:
            chosen[name] = value
    entries = AuditEntry.objects.all()
    for name, value in chosen.items():
        lookup = f"{name}__istartswith" if name in ("actor", "action") else name
        entries = entries.filter(**{lookup: value})
    return entries, chosen


@requires()
def audit_list(request: HttpRequest) -> HttpResponse:
    entries, chosen = filtered_entries(request.GET)
    page = Paginator(entries, ENTRIES_PER_PAGE).get_page(request.GET.get("page"))
    template = "access/audit.html"
    if getattr(request, "htmx", False) and not request.htmx.history_restore_request:
        template += "#audit-table"
    return render(
        request,
        template,
        {"page": page, "chosen": chosen, "vias": AuditEntry.Via.choices},
    )
