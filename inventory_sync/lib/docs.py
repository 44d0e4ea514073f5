"""Who may read the API's schema and docs: anyone signed in (session or token), or everyone
when API_DOCS_PUBLIC is on. Read on each request, so the setting needs no new URLconf."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from rest_framework.permissions import BasePermission


class SchemaReaders(BasePermission):
    def has_permission(self, request, view) -> bool:
        return settings.API_DOCS_PUBLIC or bool(request.user and request.user.is_authenticated)


def docs_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A docs page (Swagger UI, ReDoc) sends a browser with neither a session nor a token to
    the login page and back, instead of an error page. A request that names a token goes on
    to the view, whose authentication and SchemaReaders judge it."""

    @wraps(view)
    def page(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        signed_in = request.user.is_authenticated or "Authorization" in request.headers
        if not settings.API_DOCS_PUBLIC and not signed_in:
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return page
