"""REST API of the channels app: channels, listings, and each SKU's live allocation."""

from __future__ import annotations

import django_filters
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ledger.models import Sku

from . import planner
from .models import Channel, Listing


class ChannelOutput(serializers.ModelSerializer):
    class Meta:
        model = Channel
        fields = [
            "code",
            "name",
            "kind",
            "marketplace",
            "region",
            "is_marketplace",
            "mode",
            "priority",
        ]


class ChannelViewSet(viewsets.ReadOnlyModelViewSet):
    """Sales channels (created in the admin)."""

    queryset = Channel.objects.order_by("priority", "code")
    serializer_class = ChannelOutput
    lookup_field = "code"


class ListingOutput(serializers.ModelSerializer):
    channel = serializers.CharField(source="channel.code")
    sku = serializers.CharField(source="sku.code")

    class Meta:
        model = Listing
        fields = [
            "id",
            "channel",
            "sku",
            "external_id",
            "asin",
            "fulfilment",
            "pack_size",
            "is_active",
            "desired_quantity",
            "desired_version",
            "desired_at",
            "desired_trace",
            "pushed_quantity",
            "pushed_version",
            "pushed_at",
            "observed_quantity",
            "observed_at",
        ]


class ListingFilter(django_filters.FilterSet):
    channel = django_filters.CharFilter(field_name="channel__code")
    sku = django_filters.CharFilter(field_name="sku__code")

    class Meta:
        model = Listing
        fields = ["channel", "sku", "fulfilment", "is_active"]


class ListingViewSet(viewsets.ReadOnlyModelViewSet):
    """Listings with their sync state: desired (planner), pushed and observed (channel lanes)."""

    serializer_class = ListingOutput
    filterset_class = ListingFilter

    def get_queryset(self):  # type: ignore[override]
        return Listing.objects.select_related("channel", "sku").order_by("id")


class StepOutput(serializers.Serializer):
    label = serializers.CharField()
    quantity = serializers.IntegerField()


class ListingAllocationOutput(serializers.Serializer):
    listing = serializers.IntegerField()
    channel = serializers.CharField()
    external_id = serializers.CharField()
    quantity = serializers.IntegerField(help_text="What the listing should show now.")
    explanation = serializers.CharField()
    steps = StepOutput(many=True)
    rules = serializers.ListField(child=serializers.CharField())
    desired_quantity = serializers.IntegerField(allow_null=True)
    pushed_quantity = serializers.IntegerField(allow_null=True)
    observed_quantity = serializers.IntegerField(allow_null=True)


class SkuAllocationOutput(serializers.Serializer):
    sku = serializers.CharField()
    listings = ListingAllocationOutput(many=True)


class SkuAllocationApi(APIView):
    """Every listing's quantity for a SKU, computed now, with its step-by-step trace (I9)."""

    @extend_schema(responses=SkuAllocationOutput)
    def get(self, request: Request, code: str) -> Response:
        sku = get_object_or_404(Sku, code=code)
        rows = [
            {
                "listing": listing.pk,
                "channel": listing.channel.code,
                "external_id": listing.external_id,
                "quantity": allocation.quantity,
                "explanation": allocation.explain(),
                "steps": [step.as_dict() for step in allocation.steps],
                "rules": list(allocation.rules),
                "desired_quantity": listing.desired_quantity,
                "pushed_quantity": listing.pushed_quantity,
                "observed_quantity": listing.observed_quantity,
            }
            for listing, allocation in planner.allocations_for_sku(sku)
        ]
        return Response(SkuAllocationOutput({"sku": sku.code, "listings": rows}).data)
