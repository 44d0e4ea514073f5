"""/metrics, /healthz and /readyz: parse, ask observability's services, render."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from access.permissions import requires
from access.roles import Capability, can

from .metrics import InventorySyncCollector
from .readiness import readiness
from .signals import operator_signals, oversell_rate, sync_latency
from .trends import dashboard_charts

_registry = CollectorRegistry(auto_describe=False)
_registry.register(InventorySyncCollector())


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus's text format or OpenMetrics. Answers a scraper with `Authorization: Bearer <METRICS_TOKEN>`
    or a person logged in to the console: the figures name channels and their trouble."""
    if not _may_scrape(request):
        response = HttpResponse("Metrics need a bearer token or a console login.\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    # OpenMetrics when the scraper asks for it (Prometheus does): it carries the latency gauge
    # histogram as such; the classic text format calls it a histogram.
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encode(_registry), content_type=content_type)


def _may_scrape(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    if token and given.startswith("Bearer "):
        return hmac.compare_digest(given.removeprefix("Bearer ").encode(), token.encode())
    return can(request.user, Capability.VIEW)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: this web process answers. Touches nothing else, so a database outage does
    not get every web process restarted."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness: 200 when the database, the broker and every worker queue answer, else 503
    with the failing checks."""
    found = readiness()
    body = {
        "status": "ready" if found.ready else "not ready",
        "checks": {check.name: check.detail or "ok" for check in found.checks},
    }
    return JsonResponse(body, status=200 if found.ready else 503)


@requires()
@require_GET
def signals(request: HttpRequest) -> HttpResponse:
    """The dashboard's "needs attention" panel, polled: each signal links to its page."""
    context = {
        "signals": operator_signals(),
        "latency": sync_latency(),
        "oversells": oversell_rate(),
    }
    return render(request, "observability/_signals.html", context)


@requires()
@require_GET
def trends(request: HttpRequest) -> HttpResponse:
    """The dashboard's charts (loaded after the page: they read days of history)."""
    return render(request, "observability/_trends.html", {"charts": dashboard_charts()})
