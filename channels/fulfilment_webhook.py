"""`POST /webhooks/fulfilment/<partner id>/`: a fulfilment partner acknowledges a request or
reports a shipment (channels.fulfilment), signed like the requests we send it.

Hostile input is answered before anything is read into the database: a body over the upload
limit is 413, the signature (HMAC-SHA256 of the exact body under the partner's secret,
compared in constant time) is checked before the body is parsed (401), and a body that is
not a JSON object of the documented shape is 400 with the reason. The partner is told of a
withdrawn request (409) so it does not ship it; every answer is JSON. What the partner
changes is signed in the audit trail by the system, naming the partner.
"""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from rest_framework import serializers

from access import audit
from inventory_sync.lib import secrets
from inventory_sync.lib.api import StrictIntegerField, refuse_control_characters
from inventory_sync.lib.errors import DomainError
from inventory_sync.lib.inputs import holds_nul

from . import fulfilment
from .models import FulfilmentPartner

logger = logging.getLogger(__name__)


class _Line(serializers.Serializer):
    line = serializers.CharField(max_length=255, validators=[refuse_control_characters])
    quantity = StrictIntegerField(min_value=1, max_value=1_000_000)


def _text(max_length: int) -> serializers.CharField:
    return serializers.CharField(
        max_length=max_length,
        required=False,
        allow_blank=True,
        default="",
        validators=[refuse_control_characters],
    )


class PartnerMessage(serializers.Serializer):
    type = serializers.ChoiceField(choices=["acknowledged", "shipped"])
    request = StrictIntegerField(min_value=1, max_value=2**62)
    reference = _text(255)
    # shipped
    shipment = _text(100)
    carrier = _text(64)
    carrier_name = _text(64)
    tracking_number = _text(128)
    tracking_url = serializers.URLField(
        max_length=500, required=False, allow_blank=True, default=""
    )
    shipping_method = _text(64)
    shipped_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    lines = _Line(many=True, required=False, allow_empty=False, max_length=500)

    def validate(self, attrs: dict) -> dict:
        if attrs["type"] == "shipped" and not (attrs["carrier"] and attrs["tracking_number"]):
            raise serializers.ValidationError(
                {"tracking_number": "A shipment names its carrier and tracking number."}
            )
        return attrs


@csrf_exempt
@require_POST
def partner_webhook(request: HttpRequest, partner_id: int) -> JsonResponse:
    try:
        body = request.body
    except RequestDataTooBig:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return JsonResponse({"detail": f"Body larger than {limit} bytes."}, status=413)
    partner = FulfilmentPartner.objects.filter(pk=partner_id).first()
    if partner is None:
        return JsonResponse({"detail": "No such fulfilment partner."}, status=404)
    try:
        secret = partner.secret
    except secrets.SecretUnreadable as error:
        logger.error("fulfilment partner %s: message refused (503). %s", partner_id, error)
        return JsonResponse({"detail": "Partner secret unreadable."}, status=503)
    given = request.headers.get(fulfilment.SIGNATURE_HEADER, "")
    if not fulfilment.signature_valid(secret, body, given):
        return JsonResponse(
            {"detail": f"Missing or wrong {fulfilment.SIGNATURE_HEADER}."}, status=401
        )
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):
        return JsonResponse({"detail": "The body is not JSON."}, status=400)
    if not isinstance(decoded, dict) or holds_nul(decoded):
        return JsonResponse({"detail": "The body is not a JSON object of text."}, status=400)
    message = PartnerMessage(data=decoded)
    if not message.is_valid():
        return JsonResponse({"detail": "Invalid message.", "errors": message.errors}, status=400)
    try:
        return JsonResponse(_apply(partner, message.validated_data))
    except DomainError as error:
        return JsonResponse(error.as_dict(), status=error.http_status)


def _apply(partner: FulfilmentPartner, data: dict) -> dict:
    """Run the message's service, signed in the audit trail as the system on the partner's
    word (the partner's name in the reason); a repeated message is not signed again."""
    reason = f"Told by fulfilment partner {partner.name} (request {data['request']})."
    if data["type"] == "acknowledged":
        with audit.signed(None, "fulfilment_request.acknowledge", reason=reason) as change:
            request = fulfilment.acknowledge(
                partner=partner, request_id=data["request"], reference=data["reference"]
            )
            change.target, change.skip = request, request.replayed
        return {"request": request.pk, "status": request.status}
    lines = data.get("lines")
    with audit.signed(None, "order.ship", reason=reason) as change:
        shipment = fulfilment.partner_shipped(
            partner=partner,
            request_id=data["request"],
            carrier=data["carrier"],
            carrier_name=data["carrier_name"],
            tracking_number=data["tracking_number"],
            tracking_url=data["tracking_url"],
            shipping_method=data["shipping_method"],
            shipped_at=data["shipped_at"],
            lines=[(line["line"], line["quantity"]) for line in lines] if lines else None,
            shipment_ref=data["shipment"],
        )
        change.target, change.skip = shipment.order, shipment.replayed
        change.after = {"shipment": shipment.pk, "lines": shipment.lines}
    return {
        "request": data["request"],
        "shipment": shipment.pk,
        "status": shipment.status,
        "replayed": shipment.replayed,
    }
