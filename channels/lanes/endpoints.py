"""The Django view of a lane's webhook endpoint: the lane's receive function does the work
(verify, store raw, answer), the same one the WSGI fast path calls (channels.intake)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .base import Receiver


def webhook_view(receive: Receiver):
    @csrf_exempt
    @require_POST
    def webhook(request: HttpRequest, channel_id: int) -> JsonResponse:
        try:
            body = request.body
        except RequestDataTooBig:
            # Django's own answer is an HTML 400; a channel reads JSON, and 413 says why.
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            return JsonResponse({"detail": f"Body larger than {limit} bytes."}, status=413)
        status, answer = receive(channel_id, request.headers, body)
        return JsonResponse(answer, status=status)

    return webhook
