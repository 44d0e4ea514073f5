"""Shared REST plumbing: one error shape for every endpoint, bounded request bodies, bounded
pages, validated times, and the schema saying which error answers each operation may give.

Every error answer is JSON `{"code": ..., "detail": ..., "errors": {field: message}}` so
internal tools can branch on `code` and show `errors` next to their fields.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db.models import ProtectedError
from django.http import Http404
from django_filters import IsoDateTimeFilter
from django_filters.fields import IsoDateTimeField
from rest_framework import exceptions, status
from rest_framework.fields import IntegerField
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import JSONParser
from rest_framework.relations import SlugRelatedField
from rest_framework.response import Response
from rest_framework.settings import api_settings

from .errors import DomainError
from .inputs import has_control_characters, in_utc

logger = logging.getLogger(__name__)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "payload_too_large"


class BoundedJSONParser(JSONParser):
    """JSON bodies only up to DATA_UPLOAD_MAX_MEMORY_SIZE, and never a server error.

    Older DRF read the request stream directly, bypassing Django's own size check, so an
    absurd body would be parsed in full before any validation ran; the check below covers
    that. DRF 3.18 reads `request.body` for JSON first, so Django raises RequestDataTooBig
    before this parser runs: `exception_handler` turns that into the same 413.
    Deeply nested JSON exhausts the decoder's recursion limit, which DRF does not catch.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        request = (parser_context or {}).get("request")
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if request is not None and limit is not None:
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > limit:
                raise PayloadTooLarge(f"Request body is {length} bytes; the limit is {limit}.")
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply.") from None


class StrictIntegerField(IntegerField):
    """An integer that must arrive as a JSON number: "5", 5.0 and true are refused."""

    default_error_messages = {"invalid": "A whole number is required (not a string or decimal)."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


def refuse_control_characters(value: str) -> None:
    """A serializer validator: codes, keys and references are printed, searched and sent to
    channels; a control character in one is a mistake or an attack, never data."""
    if has_control_characters(value):
        raise exceptions.ValidationError("Control characters are not allowed.")


class CodeRelatedField(SlugRelatedField):
    """A SKU, location or channel named by its code in a request body. A code with a control
    character names nothing (400), before PostgreSQL would refuse a NUL in the lookup."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str) and has_control_characters(data):
            self.fail("does_not_exist", slug_name=self.slug_field, value=data)
        return super().to_internal_value(data)


# --- pages ------------------------------------------------------------------------------------

MAX_PAGE_SIZE = 500
# Far beyond any table of ours, and short of PostgreSQL's bigint, so OFFSET never overflows.
MAX_OFFSET = 1_000_000_000


class BoundedPagination(LimitOffsetPagination):
    """`limit` 1-500 (100 when absent) and `offset` 0-1,000,000,000, both plain whole numbers.

    Anything else is refused with 400 instead of DRF's silent fallback: a client that asks
    for a million rows learns the maximum rather than receiving the whole table, and a
    page too large for PostgreSQL's bigint never reaches the query.
    """

    max_limit = MAX_PAGE_SIZE
    max_offset = MAX_OFFSET

    def get_limit(self, request: Any) -> int | None:
        if self.default_limit is None and self.limit_query_param not in request.query_params:
            return None
        return self._whole_number(
            request, self.limit_query_param, 1, self.max_limit, self.default_limit
        )

    def get_offset(self, request: Any) -> int:
        return self._whole_number(request, self.offset_query_param, 0, self.max_offset, 0)

    @staticmethod
    def _whole_number(request: Any, name: str, lowest: int, highest: int, absent: Any) -> Any:
        raw = request.query_params.get(name, "")
        if raw == "":
            return absent
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 10) or not (
            lowest <= int(raw) <= highest
        ):
            raise exceptions.ValidationError({name: f"A whole number from {lowest} to {highest}."})
        return int(raw)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.limit_query_param: (
                1,
                self.max_limit,
                f" At most {self.max_limit}; more is refused (400).",
            ),
            self.offset_query_param: (0, self.max_offset, ""),
        }
        for parameter in parameters:
            if parameter["name"] in bounds:
                lowest, highest, note = bounds[parameter["name"]]
                parameter["schema"].update(minimum=lowest, maximum=highest)
                parameter["description"] = parameter.get("description", "") + note
        return parameters


# --- times ------------------------------------------------------------------------------------


class UtcDateTimeFormField(IsoDateTimeField):
    default_error_messages = {
        "invalid": "Enter an ISO 8601 date and time, e.g. 2026-11-30T10:00:00Z.",
    }

    def to_python(self, value: Any) -> datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return in_utc(parsed)
        except ValueError as error:
            raise forms.ValidationError(str(error), code="invalid") from None


class UtcDateTimeFilter(IsoDateTimeFilter):
    """An ISO 8601 time filter that answers 400 on anything PostgreSQL would refuse: no such
    date, an offset beyond ±14:00, a year that overflows in UTC."""

    field_class = UtcDateTimeFormField


def _field_name(prefix: str, key: Any) -> str:
    """`lines[0].sku`, the same names the services use in DomainError.field_errors.

    DRF keys list items by their index (ListSerializer, ListField) and puts a nested
    serializer's own errors (not a list, empty, too long) under "non_field_errors": those
    belong to the field that holds them.
    """
    if isinstance(key, int) or (isinstance(key, str) and key.isdigit() and prefix):
        return f"{prefix}[{key}]"
    if key == api_settings.NON_FIELD_ERRORS_KEY and prefix:
        return prefix
    return f"{prefix}.{key}" if prefix else str(key)


def _flatten(detail: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(detail, dict):
        flat: dict[str, Any] = {}
        for key, value in detail.items():
            flat.update(_flatten(value, _field_name(prefix, key)))
        return flat
    if isinstance(detail, list) and detail and all(isinstance(item, str) for item in detail):
        return {prefix or "non_field_errors": " ".join(str(item) for item in detail)}
    if isinstance(detail, list):
        flat = {}
        for index, value in enumerate(detail):
            if value:
                flat.update(_flatten(value, f"{prefix}[{index}]"))
        return flat
    return {prefix or "non_field_errors": str(detail)}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    # Imported here: rest_framework.views reads DEFAULT_PARSER_CLASSES, which name this module
    # (and DRF's system check imports DEFAULT_PAGINATION_CLASS, also here, before any view).
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge(
            f"Request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
        )
    elif isinstance(exc, Http404):
        # DRF answers these itself but keeps its own body shape; give them ours.
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, DomainError):
        return Response(exc.as_dict(), status=exc.http_status)
    if isinstance(exc, ProtectedError):
        return Response(
            {"code": "protected", "detail": "Still referenced by ledger history; cannot delete."},
            status=status.HTTP_409_CONFLICT,
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "code": "invalid",
            "detail": "The request is not valid.",
            "errors": _flatten(exc.detail),
        }
    elif isinstance(exc, exceptions.APIException):
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else "error"
        response.data = {"code": code, "detail": str(exc.detail)}
    return response


# --- the schema ---------------------------------------------------------------------------------

ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error answer: branch on `code`, show `errors` next to their fields.",
    "properties": {
        "code": {"type": "string"},
        "detail": {"type": "string"},
        "errors": {"type": "object", "description": "Message per field, by field path."},
    },
    "required": ["code", "detail"],
}
_ERROR_ANSWERS = {
    "400": "The request is not valid (body, query or header).",
    "401": "No or an unknown token.",
    "403": "The token's user lacks the permission this action needs.",
    "404": "No such object.",
    "409": "Conflicts with the current state or an earlier request of the same key.",
    "413": "The request body is too large.",
    "415": "The request body is not JSON.",
    "429": "Too many requests; try again after Retry-After seconds.",
}
_WRITES = {"post", "put", "patch", "delete"}


def _error_answers(path: str, method: str, operation: dict) -> list[str]:
    answers = ["400", "401", "403", "429"]
    if "{" in path:
        answers.append("404")
    if method in _WRITES:
        answers.append("409")
    if "requestBody" in operation:
        answers += ["413", "415"]
    return answers


def document_error_answers(result: dict, generator: Any, request: Any, public: Any) -> dict:
    """drf-spectacular postprocessing hook: the error answers any operation may give, in the
    one shape `exception_handler` renders, so clients (and the schema fuzz test) know them."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for code in _error_answers(path, method, operation):
                operation["responses"].setdefault(
                    code, {"description": _ERROR_ANSWERS[code], "content": content}
                )
    return result
