"""Times in the console are shown in the person's own time zone: the browser names it in a
cookie (templates/base.html), this middleware activates it for the request. UTC otherwise."""

from __future__ import annotations

import zoneinfo

from django.utils import timezone

COOKIE = "tz"


def zone_named(name: str) -> zoneinfo.ZoneInfo | None:
    if not name or len(name) > 64 or ".." in name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        return None


class UserTimeZoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = zone_named(request.COOKIES.get(COOKIE, ""))
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
