"""Login throttling (django-axes): whose attempt it is, and what a locked-out login sees.

A person gets LOGIN_FAILURE_LIMIT wrong passwords per username and address, then the login
is refused for LOGIN_LOCKOUT_MINUTES whatever the password, on the console and the admin
alike; a successful login clears the count (settings, "Login throttling").
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


def client_ip(request: HttpRequest) -> str:
    """The address our nearest proxy saw, as DRF's throttles read it (NUM_PROXIES).

    Each trusted proxy appends the address it received from to X-Forwarded-For, so with N of
    them the client is the N-th entry from the right; anything further left was written by
    the client and is not believed.
    """
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies and forwarded:
        addresses = [address.strip() for address in forwarded.split(",")]
        return addresses[-min(proxies, len(addresses))]
    return request.META.get("REMOTE_ADDR", "")


def _wants_json(request: HttpRequest) -> bool:
    if request.headers.get("X-Requested-With") == "XMLHttpRequest":
        return True
    return request.accepts("application/json") and not request.accepts("text/html")


def lockout_response(request: HttpRequest, original_response=None, credentials=None):
    """429 with Retry-After: JSON for scripts, the console's own page for people."""
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    minutes = max(1, round(seconds / 60))
    detail = f"Too many failed logins. Try again in {minutes} minutes."
    if _wants_json(request):
        response: HttpResponse = JsonResponse(
            {"code": "locked_out", "detail": detail, "retry_after": seconds}, status=429
        )
    else:
        response = render(request, "registration/locked_out.html", {"detail": detail}, status=429)
    response["Retry-After"] = str(seconds)
    return response
