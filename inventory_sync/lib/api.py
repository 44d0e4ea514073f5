"""Shared REST plumbing: one error shape for every endpoint, and bounded request bodies.

Every error answer is JSON `{"code": ..., "detail": ..., "errors": {field: message}}` so
internal tools can branch on `code` and show `errors` next to their fields.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db.models import ProtectedError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.fields import IntegerField
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import DomainError

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
