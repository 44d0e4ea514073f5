"""REST API of the shipment outbox and the fulfilment requests, read-only: which shipments
wait for their channel (with attempts and the last error), and what each fulfilment partner
was asked to ship (JSON, or CSV for partners who take a file instead of a webhook)."""

from __future__ import annotations

import csv
import io

import django_filters
from rest_framework import renderers, serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import DefaultContentNegotiation

from inventory_sync.lib.spreadsheets import safe_cell

from .models import FulfilmentRequest, OrderShipment


class ShipmentLineOutput(serializers.Serializer):
    line = serializers.CharField()
    quantity = serializers.IntegerField(help_text="Items of the order line.")


class ShipmentOutput(serializers.ModelSerializer):
    order = serializers.IntegerField(source="order_id")
    lines = ShipmentLineOutput(many=True)

    class Meta:
        model = OrderShipment
        fields = [
            "id",
            "order",
            "key",
            "lines",
            "carrier",
            "tracking_number",
            "tracking_url",
            "shipping_method",
            "shipped_at",
            "source",
            "created_by",
            "created_at",
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "last_error",
            "channel_reference",
            "confirmed_at",
        ]


class ShipmentFilter(django_filters.FilterSet):
    channel = django_filters.CharFilter(field_name="order__channel__code")

    class Meta:
        model = OrderShipment
        fields = ["status", "order", "source", "channel"]


class ShipmentViewSet(viewsets.ReadOnlyModelViewSet):
    """Shipments we made, newest first, and whether their channel has confirmed them:
    `pending` (with attempts, the last error and the next attempt), `confirmed` (with the
    channel's reference) or `refused` (the channel said no for good: a person must look).
    Filter with `?status=&order=&channel=`."""

    serializer_class = ShipmentOutput
    filterset_class = ShipmentFilter

    def get_queryset(self):  # type: ignore[override]
        return OrderShipment.objects.order_by("-created_at", "-id")


class FulfilmentRequestOutput(serializers.ModelSerializer):
    partner = serializers.CharField(source="partner.name")
    location = serializers.CharField(source="partner.location.code")
    order = serializers.IntegerField(source="order_id")
    channel = serializers.CharField(source="order.channel.code")
    order_external_id = serializers.CharField(source="order.external_id")
    order_name = serializers.CharField(source="order.name")
    placed_at = serializers.DateTimeField(source="order.placed_at")
    ship_by = serializers.DateTimeField(source="order.ship_by", allow_null=True)

    class Meta:
        model = FulfilmentRequest
        fields = [
            "id",
            "partner",
            "location",
            "order",
            "channel",
            "order_external_id",
            "order_name",
            "placed_at",
            "ship_by",
            "lines",
            "status",
            "attempts",
            "next_attempt_at",
            "last_error",
            "sent_at",
            "acknowledged_at",
            "partner_reference",
            "created_at",
        ]


class FulfilmentRequestFilter(django_filters.FilterSet):
    partner = django_filters.NumberFilter(field_name="partner_id")
    location = django_filters.CharFilter(field_name="partner__location__code")
    open = django_filters.BooleanFilter(method="filter_open", label="Open requests only")

    class Meta:
        model = FulfilmentRequest
        fields = ["partner", "location", "status", "order", "open"]

    def filter_open(self, queryset, name, value):
        """Open: not withdrawn, on an order still open (not shipped, not cancelled)."""
        if value is None:
            return queryset
        opened = queryset.exclude(status=FulfilmentRequest.Status.CANCELLED).filter(
            order__status="open"
        )
        return opened if value else queryset.exclude(pk__in=opened.values("pk"))


CSV_COLUMNS = [
    "request",
    "partner",
    "location",
    "status",
    "channel",
    "order",
    "order_external_id",
    "order_name",
    "placed_at",
    "ship_by",
    "line",
    "sku",
    "quantity",
]


class FulfilmentRequestCsvRenderer(renderers.BaseRenderer):
    """One row per requested line; an error answer as one `detail` row."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        out = io.StringIO()
        if isinstance(data, dict) and "results" in data:
            data = data["results"]
        elif isinstance(data, dict) and "lines" in data:
            data = [data]  # one request
        if not isinstance(data, list):
            writer = csv.writer(out)
            writer.writerow(["detail"])
            writer.writerow([(data or {}).get("detail", "") if isinstance(data, dict) else data])
            return out.getvalue().encode()
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for request in data:
            for line in request.get("lines") or ():
                row = {
                    **{column: request.get(column) for column in CSV_COLUMNS},
                    "request": request["id"],
                    "line": line.get("line"),
                    "sku": line.get("sku"),
                    "quantity": line.get("quantity"),
                }
                writer.writerow({column: safe_cell(value) for column, value in row.items()})
        return out.getvalue().encode()


class _FormatNegotiation(DefaultContentNegotiation):
    """An unknown `?format=` is the caller's mistake (400), not a missing page (404)."""

    def filter_renderers(self, renderers_, format):
        found = [renderer for renderer in renderers_ if renderer.format == format]
        if not found:
            raise ValidationError({"format": "Ask for json or csv."})
        return found


class FulfilmentRequestViewSet(viewsets.ReadOnlyModelViewSet):
    """What each fulfilment partner (3PL) was asked to ship, newest first, with its delivery
    state (`pending` → `sent` → `acknowledged`; `cancelled` when withdrawn). `?open=true`
    keeps the requests still to ship; `?format=csv` gives them one row per line, for
    partners who take a file instead of a webhook."""

    serializer_class = FulfilmentRequestOutput
    filterset_class = FulfilmentRequestFilter
    renderer_classes = [renderers.JSONRenderer, FulfilmentRequestCsvRenderer]
    content_negotiation_class = _FormatNegotiation

    def handle_exception(self, exc):
        # An error answers JSON whatever format was asked, as the schema documents errors.
        response = super().handle_exception(exc)
        self.request.accepted_renderer = renderers.JSONRenderer()
        self.request.accepted_media_type = "application/json"
        return response

    def get_queryset(self):  # type: ignore[override]
        return FulfilmentRequest.objects.select_related(
            "partner__location", "order__channel"
        ).order_by("-created_at", "-id")
