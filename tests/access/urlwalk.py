"""Walks the project's URL patterns: every route with the view that answers it."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, get_resolver

# Guarded otherwise: the admin by Django's model permissions, login/logout are the door itself,
# webhooks by the channel's signature or API key, the schema by login (API_DOCS_PUBLIC opens it),
# /metrics by a bearer token or a console login; the probes are open, read only and show no
# data (tests/inventory_sync/test_observability.py).
GUARDED_ELSEWHERE = ("admin/", "accounts/", "webhooks/", "metrics", "healthz", "readyz")
API_DOCS = ("api/v1/schema/", "api/v1/docs/", "api/v1/redoc/")
WRITE_METHODS = ("post", "put", "patch", "delete")


def walk(resolver=None, prefix=""):
    for entry in (resolver or get_resolver()).url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from walk(entry, route)
        elif isinstance(entry, URLPattern):
            yield route, entry.callback


def project_views():
    return [
        (route, view)
        for route, view in walk()
        if not route.startswith(GUARDED_ELSEWHERE) and route not in API_DOCS
    ]
