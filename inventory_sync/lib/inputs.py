"""Hostile input at the door: no C0 control character (NUL to 0x1F) in a URL, no time that
PostgreSQL would refuse.

PostgreSQL refuses NUL in text outright (a server error from the query), and the other control
characters have no business in a code, a key or a search either. The middleware answers 400
before any view runs: JSON for the API and the webhooks (machines read those answers), plain
text for the console.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.dateparse import parse_datetime
from django.views.defaults import page_not_found

_CONTROL = re.compile(r"[\x00-\x1f]")
_JSON_PREFIXES = ("/api/", "/webhooks/")


def has_control_characters(value: str) -> bool:
    return _CONTROL.search(value) is not None


def printable(text: str) -> str:
    """Text a person typed, without control characters but line breaks and tabs: PostgreSQL
    refuses a NUL in text, and a pasted control character must not fail the action it explains."""
    return "".join(ch for ch in text if ch.isprintable() or ch in "\n\t")


def holds_nul(decoded: object) -> bool:
    """Whether decoded JSON holds a NUL character in any key or string, however deep.

    A webhook body is stored raw (bytes) and applied later, where its strings reach text and
    jsonb columns: PostgreSQL refuses NUL in both, so such a delivery would be stored, then fail
    at ingest on every retry. The endpoints refuse it at the door instead. Walked with a list,
    not recursion, so a deeply nested body cannot exhaust the stack."""
    pending = [decoded]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return True
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


# Real zones run from UTC-12:00 to UTC+14:00; PostgreSQL refuses offsets from ±16:00 while
# Python accepts anything under a day, which turned a typo into a server error.
MAX_UTC_OFFSET = timedelta(hours=14)


def in_utc(value: datetime, name: str = "The time") -> datetime:
    """A time as UTC (I10; one without a zone is taken as UTC). ValueError for an offset no
    zone has, or a time that leaves the calendar once moved to UTC (0001-01-01T00:00+01:00),
    with a sentence that starts with `name` (the header or field it came from)."""
    offset = value.utcoffset()
    if offset is not None and abs(offset) > MAX_UTC_OFFSET:
        raise ValueError(f"{name} has a UTC offset outside -14:00 to +14:00.")
    try:
        return value.astimezone(UTC) if offset is not None else value.replace(tzinfo=UTC)
    except OverflowError:
        raise ValueError(f"{name} is out of range once moved to UTC.") from None


def parse_time(text: str, name: str = "The time") -> datetime:
    """An ISO 8601 time from outside as UTC; for anything else (no such date, no such zone,
    not a time at all) ValueError with a sentence that starts with `name` and says why."""
    try:
        parsed = parse_datetime(text)
    except ValueError as error:
        raise ValueError(f"{name} is not a real date and time ({error}).") from None
    if parsed is None:
        raise ValueError(f"{name} is not an ISO 8601 date and time.")
    return in_utc(parsed, name)


def url_has_control_characters(request: HttpRequest) -> bool:
    if has_control_characters(request.path_info):
        return True
    return any(
        has_control_characters(key) or any(has_control_characters(value) for value in values)
        for key, values in request.GET.lists()
    )


def for_machines(request: HttpRequest) -> bool:
    """The API and the webhook endpoints answer JSON, errors included."""
    return request.path_info.startswith(_JSON_PREFIXES)


class RefuseControlCharactersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not url_has_control_characters(request):
            return self.get_response(request)
        detail = "The path or query string contains a control character."
        if for_machines(request):
            return JsonResponse({"code": "invalid", "detail": detail}, status=400)
        return HttpResponse(detail, status=400, content_type="text/plain; charset=utf-8")


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler404: a URL no pattern matches (an id of 0.5) is JSON under /api/ and /webhooks/
    like every other error there, Django's page elsewhere."""
    if for_machines(request):
        return JsonResponse({"code": "not_found", "detail": "Not found."}, status=404)
    return page_not_found(request, exception)


def posted_id(request: HttpRequest, name: str) -> int:
    """A row id from a console form: anything but a plain whole number of a bigint's range is
    no such row (404), never a database error."""
    raw = request.POST.get(name, "")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise Http404(f"No such {name}.")
    return int(raw)


def posted_code(request: HttpRequest, name: str) -> str:
    """A code from a console form; one with a control character names nothing (404)."""
    raw = request.POST.get(name, "")
    if has_control_characters(raw):
        raise Http404(f"No such {name}.")
    return raw
