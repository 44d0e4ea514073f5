"""REST API of reconciliation: drift and its resolution, sales halts, and runs on demand.

Thin: each write parses its input, calls a reconciliation service and answers with the row.
A resolution the services refuse (already resolved, nowhere to count) answers 409 with their
message; a missing reason answers 400 naming the field.
"""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from access import audit
from access.drf import reason_of
from access.roles import Capability
from allocation.models import SalesHalt
from channels.models import Channel
from inventory_sync.lib.api import CodeRelatedField
from inventory_sync.lib.errors import Conflict, DomainError
from ledger.models import Sku

from . import resolve, services, tasks
from .forms import DRIFT_ACTION_CHOICES, DRIFT_ACTIONS, REASON_OPTIONAL, missing_reason
from .models import Drift, ReconciliationRun

MAX_RUN_SKUS = 1000


class DriftOutput(serializers.ModelSerializer):
    channel = serializers.SlugRelatedField(slug_field="code", read_only=True)
    sku = serializers.SlugRelatedField(slug_field="code", read_only=True)
    listing_external_id = serializers.CharField(source="listing.external_id", read_only=True)

    class Meta:
        model = Drift
        fields = [
            "id",
            "run",
            "channel",
            "sku",
            "listing",
            "listing_external_id",
            "expected",
            "observed",
            "delta",
            "cause",
            "evidence",
            "detected_at",
            "resolution",
            "resolved_at",
            "resolved_by",
            "resolution_reason",
            "halt",
            "event",
        ]


class DriftFilter(django_filters.FilterSet):
    channel = django_filters.CharFilter(field_name="channel__code")
    sku = django_filters.CharFilter(field_name="sku__code")
    run = django_filters.NumberFilter(field_name="run_id")
    listing = django_filters.NumberFilter(field_name="listing_id")

    class Meta:
        model = Drift
        fields = ["channel", "sku", "cause", "resolution", "run", "listing"]


class DriftResolveInput(serializers.Serializer):
    action = serializers.ChoiceField(choices=DRIFT_ACTION_CHOICES)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    def validate(self, attrs: dict) -> dict:
        if attrs["action"] not in REASON_OPTIONAL and not attrs["reason"]:
            raise serializers.ValidationError({"reason": missing_reason(attrs["action"])})
        return attrs


class DriftViewSet(viewsets.ReadOnlyModelViewSet):
    """Drift found by reconciliation (newest first). POST .../resolve/ with
    `{"action": "resync|halt|adopt|dismiss", "reason": ...}`: the reason is required except to
    resync."""

    serializer_class = DriftOutput
    filterset_class = DriftFilter
    action_capabilities = {"resolve_drift": Capability.OPERATE}

    def get_queryset(self):  # type: ignore[override]
        return Drift.objects.select_related("channel", "sku", "listing").order_by("-id")

    @extend_schema(request=DriftResolveInput, responses=DriftOutput)
    @action(detail=True, methods=["post"], url_path="resolve")
    def resolve_drift(self, request: Request, pk: str) -> Response:
        data = DriftResolveInput(data=request.data)
        data.is_valid(raise_exception=True)
        drift = self.get_object()
        chosen, reason = data.validated_data["action"], data.validated_data["reason"]
        try:
            with audit.signed(request, f"drift.{chosen}", drift, reason=reason):
                DRIFT_ACTIONS[chosen](drift, actor=request.user.get_username(), reason=reason)
        except resolve.ResolutionError as refused:
            raise Conflict(str(refused)) from None
        drift = self.get_queryset().get(pk=drift.pk)
        return Response(self.get_serializer(drift).data)


class HaltSerializer(serializers.ModelSerializer):
    sku = CodeRelatedField(slug_field="code", queryset=Sku.objects.all())
    channel = CodeRelatedField(
        slug_field="code", queryset=Channel.objects.all(), required=False, allow_null=True
    )

    class Meta:
        model = SalesHalt
        fields = [
            "id",
            "sku",
            "channel",
            "reason",
            "created_by",
            "created_at",
            "released_at",
            "released_by",
            "release_reason",
        ]
        read_only_fields = [
            "created_by",
            "created_at",
            "released_at",
            "released_by",
            "release_reason",
        ]
        extra_kwargs = {
            "reason": {
                "error_messages": {
                    "required": "A halt needs a reason.",
                    "blank": "A halt needs a reason.",
                }
            }
        }


class HaltReleaseInput(serializers.Serializer):
    reason = serializers.CharField(
        max_length=500,
        error_messages={
            "required": "Say why the halt can end.",
            "blank": "Say why the halt can end.",
        },
    )


class HaltFilter(django_filters.FilterSet):
    sku = django_filters.CharFilter(field_name="sku__code")
    channel = django_filters.CharFilter(field_name="channel__code")
    active = django_filters.BooleanFilter(field_name="released_at", lookup_expr="isnull")

    class Meta:
        model = SalesHalt
        fields = ["sku", "channel", "active"]


class HaltViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Sales halts: a SKU forced to 0 everywhere or on one channel, with a reason.
    POST .../release/ with `{"reason": ...}` ends one (and resolves the drift it held);
    releasing again keeps the first release."""

    serializer_class = HaltSerializer
    filterset_class = HaltFilter
    write_capability = Capability.OPERATE

    def get_queryset(self):  # type: ignore[override]
        return SalesHalt.objects.select_related("sku", "channel").order_by("-id")

    def perform_create(self, serializer: HaltSerializer) -> None:
        data = serializer.validated_data
        try:
            with audit.signed(self.request, "halt.open", reason=data["reason"]) as change:
                change.target = serializer.instance = resolve.open_halt(
                    sku=data["sku"],
                    channel=data.get("channel"),
                    reason=data["reason"],
                    actor=self.request.user.get_username(),
                )
        except resolve.ResolutionError as refused:
            raise DomainError(str(refused), field_errors={"reason": str(refused)}) from None

    @extend_schema(request=HaltReleaseInput, responses=HaltSerializer)
    @action(detail=True, methods=["post"])
    def release(self, request: Request, pk: str) -> Response:
        data = HaltReleaseInput(data=request.data)
        data.is_valid(raise_exception=True)
        halt, reason = self.get_object(), data.validated_data["reason"]
        try:
            with audit.signed(request, "halt.release", halt, reason=reason) as change:
                change.target = halt = resolve.release_halt(
                    halt, actor=request.user.get_username(), reason=reason
                )
        except resolve.ResolutionError as refused:
            raise DomainError(str(refused), field_errors={"reason": str(refused)}) from None
        return Response(self.get_serializer(halt).data)


class RunOutput(serializers.ModelSerializer):
    channel = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    drift_rate = serializers.FloatField(read_only=True, help_text="drifted / listings_checked")

    class Meta:
        model = ReconciliationRun
        fields = [
            "id",
            "trigger",
            "status",
            "channel",
            "sku_codes",
            "velocity_tier",
            "requested_by",
            "started_at",
            "confirm_after",
            "finished_at",
            "listings_total",
            "listings_checked",
            "drifted",
            "resynced",
            "halted",
            "api_calls",
            "throttled",
            "duration_ms",
            "channels",
            "error",
            "drift_rate",
        ]


class RunInput(serializers.Serializer):
    channel = CodeRelatedField(
        slug_field="code",
        queryset=Channel.objects.all(),
        required=False,
        allow_null=True,
        help_text="Read only this channel (blank: every live channel).",
    )
    skus = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        max_length=MAX_RUN_SKUS,
        help_text="Read only these SKUs' listings (blank: every SKU).",
    )

    def validate_channel(self, channel: Channel | None) -> Channel | None:
        if channel is not None and channel.mode != Channel.Mode.LIVE:
            raise serializers.ValidationError(
                f"{channel.code} is {channel.get_mode_display().lower()}: only live channels "
                "are read back."
            )
        return channel

    def validate_skus(self, codes: list[str]) -> list[str]:
        codes = sorted(set(codes))
        known = set(Sku.objects.filter(code__in=codes).values_list("code", flat=True))
        unknown = [code for code in codes if code not in known]
        if unknown:
            raise serializers.ValidationError(f"Unknown SKU code(s): {', '.join(unknown[:20])}.")
        return codes


class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Reconciliation runs (newest first). POST starts one now: `{"channel"?: code,
    "skus"?: [codes]}` answers 202 with the run, which a worker then reads; poll it until its
    status is done or failed."""

    serializer_class = RunOutput
    filterset_fields = ["status", "trigger"]
    write_capability = Capability.OPERATE

    def get_queryset(self):  # type: ignore[override]
        return ReconciliationRun.objects.select_related("channel").order_by("-id")

    @extend_schema(request=RunInput, responses={status.HTTP_202_ACCEPTED: RunOutput})
    def create(self, request: Request) -> Response:
        data = RunInput(data=request.data)
        data.is_valid(raise_exception=True)
        with audit.signed(request, "reconciliation.run", reason=reason_of(request)) as change:
            change.target = run = services.start_run(
                trigger=ReconciliationRun.Trigger.MANUAL,
                channel=data.validated_data.get("channel"),
                sku_codes=data.validated_data.get("skus", []),
                requested_by=request.user.get_username(),
            )
        # Queued after the run row commits, so the worker always finds it.
        tasks.reconcile_task.delay_on_commit(run_id=run.pk)
        return Response(RunOutput(run).data, status=status.HTTP_202_ACCEPTED)
