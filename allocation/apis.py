"""REST API of allocation: rules, reservations, oversell incidents and sales halts.

Every write goes through allocation.services, which marks the affected SKUs for the planner.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from access import audit
from access.drf import SignedWrites, reason_of
from access.roles import Capability
from inventory_sync.lib.api import CodeRelatedField, StrictIntegerField
from ledger.apis import idempotency_key_of
from ledger.models import Location, Sku
from ledger.rules import MAX_QUANTITY

from . import services
from .models import AllocationRule, OversellIncident, Reservation
from .rules import RuleKind, Scope

PERCENT_KINDS = {RuleKind.BUFFER_PERCENT.value, RuleKind.SHARE_PERCENT.value}


class AllocationRuleSerializer(serializers.ModelSerializer):
    class Meta:
        model = AllocationRule
        fields = ["id", "name", "kind", "value", "scope", "target", "priority", "is_enabled"]

    def validate(self, attrs):
        kind = attrs.get("kind", getattr(self.instance, "kind", None))
        scope = attrs.get("scope", getattr(self.instance, "scope", None))
        value = attrs.get("value", getattr(self.instance, "value", None))
        target = attrs.get("target", getattr(self.instance, "target", ""))
        if kind in PERCENT_KINDS and value is not None and value > 100:
            raise serializers.ValidationError({"value": "A percentage is at most 100."})
        needs_target = scope not in (Scope.ALL.value, Scope.MARKETPLACES.value)
        if needs_target and not target:
            raise serializers.ValidationError({"target": f"Required for scope {scope}."})
        if not needs_target and target:
            raise serializers.ValidationError({"target": f"Not used by scope {scope}."})
        return attrs


class AllocationRuleViewSet(SignedWrites, viewsets.ModelViewSet):
    """Allocation rules: buffers, shares, floors and ceilings with a scope and a priority."""

    queryset = AllocationRule.objects.order_by("priority", "id")
    serializer_class = AllocationRuleSerializer
    filterset_fields = ["kind", "scope", "is_enabled"]
    write_capability = Capability.ADMINISTER
    audit_name = "rule"

    def write(self, serializer):
        serializer.save()
        services.skus_mark_dirty()

    def remove(self, instance):
        instance.delete()
        services.skus_mark_dirty()


class ReservationSerializer(serializers.ModelSerializer):
    sku = CodeRelatedField(slug_field="code", queryset=Sku.objects.all())
    location = CodeRelatedField(slug_field="code", queryset=Location.objects.all())
    quantity = StrictIntegerField(min_value=1, max_value=MAX_QUANTITY)

    class Meta:
        model = Reservation
        fields = [
            "id",
            "sku",
            "location",
            "quantity",
            "partner",
            "expires_at",
            "status",
            "created_by",
            "created_at",
            "ended_at",
            "expiry_failed_at",
            "expiry_error",
        ]
        read_only_fields = [
            "status",
            "created_by",
            "created_at",
            "ended_at",
            "expiry_failed_at",
            "expiry_error",
        ]


class ReservationViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Partner reservations. POST holds stock (Idempotency-Key header required; 409 with
    `available` when short); DELETE releases it."""

    serializer_class = ReservationSerializer
    filterset_fields = ["status", "partner"]
    # Partner programmes are set-up: who holds how much for whom.
    write_capability = Capability.ADMINISTER

    def get_queryset(self):  # type: ignore[override]
        return Reservation.objects.select_related("sku", "location").order_by("-id")

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True
            )
        ]
    )
    def create(self, request: Request) -> Response:
        key = idempotency_key_of(request)
        payload = self.get_serializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data, reason = payload.validated_data, reason_of(request)
        with audit.signed(request, "reservation.create", reason=reason) as change:
            reservation = services.reservation_create(
                sku=data["sku"],
                location=data["location"],
                quantity=data["quantity"],
                partner=data["partner"],
                expires_at=data.get("expires_at"),
                idempotency_key=f"api:{key}",
                actor=request.user.get_username(),
            )
            change.target = reservation
            if audit.was_signed("reservation.create", reservation):
                change.skip = True  # a retry of the same key: already signed once
        return Response(self.get_serializer(reservation).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: Reservation) -> None:
        reason = reason_of(self.request)
        with audit.signed(self.request, "reservation.end", instance, reason=reason):
            services.reservation_end(reservation=instance, actor=self.request.user.get_username())


class IncidentSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="sku.code")

    class Meta:
        model = OversellIncident
        fields = [
            "id",
            "sku",
            "units_short",
            "sale_event_ids",
            "status",
            "opened_at",
            "ended_at",
            "closed_by",
        ]


class IncidentViewSet(viewsets.ReadOnlyModelViewSet):
    """Oversell incidents; POST .../close/ when a person has handled the orders."""

    serializer_class = IncidentSerializer
    filterset_fields = ["status"]
    action_capabilities = {"close": Capability.OPERATE}

    def get_queryset(self):  # type: ignore[override]
        return OversellIncident.objects.select_related("sku").order_by("-id")

    @extend_schema(request=None, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: str) -> Response:
        incident, reason = self.get_object(), reason_of(request)
        with audit.signed(request, "incident.close", incident, reason=reason) as change:
            incident = services.incident_close(incident=incident, actor=request.user.get_username())
            change.target = incident
        return Response(self.get_serializer(incident).data)
