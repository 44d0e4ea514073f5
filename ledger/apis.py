"""REST API of the ledger: catalog CRUD, events (POST records one), balances (read only)."""

from __future__ import annotations

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from access import audit
from access.drf import SignedWrites
from access.roles import Capability
from inventory_sync.lib.api import StrictIntegerField, UtcDateTimeFilter, refuse_control_characters
from inventory_sync.lib.errors import Conflict, DomainError

from . import selectors, services
from .models import CODE_VALIDATOR, Balance, Bucket, EventKind, InventoryEvent, Location, Sku
from .rules import KINDS_NEEDING_A_REASON, MAX_LINES, MAX_QUANTITY, OWNED_KINDS, InboundStage

API_KEY_PREFIX = "api:"


def idempotency_key_of(request: Request) -> str:
    """The Idempotency-Key header, or a DomainError (400) naming what a key must be.

    WSGI hands header bytes over as latin-1, so a UTF-8 key would be stored garbled, and HTTP
    does not say which charset a client meant: keys are printable ASCII (a UUID)."""
    key = (request.headers.get("Idempotency-Key") or "").strip()
    if not key or len(key) > 200 or not (key.isascii() and key.isprintable()):
        raise DomainError(
            "The Idempotency-Key header is required: 1-200 printable ASCII characters "
            "(e.g. a UUID).",
            field_errors={"Idempotency-Key": "Required, 1-200 printable ASCII characters."},
        )
    return key


class _CatalogSerializer(serializers.ModelSerializer):
    def validate_code(self, value: str) -> str:
        # Event payloads, idempotency fingerprints and import keys carry the code as it was:
        # renaming would make the ledger history name a SKU or location that no longer exists.
        if self.instance is not None and value != self.instance.code:
            raise serializers.ValidationError("A code cannot change once created.")
        return value


class SkuSerializer(_CatalogSerializer):
    tags = serializers.ListField(
        child=serializers.CharField(max_length=64), max_length=50, required=False
    )
    weight_grams = StrictIntegerField(
        min_value=0, max_value=10_000_000, required=False, allow_null=True
    )

    class Meta:
        model = Sku
        fields = [
            "code", "title", "barcode", "weight_grams", "is_bundle", "tags", "velocity_tier",
            "supplier",
        ]  # fmt: skip


class LocationSerializer(_CatalogSerializer):
    class Meta:
        model = Location
        fields = [
            "code",
            "name",
            "kind",
            "region",
            "time_zone",
            "can_ship",
            "can_pickup",
            "is_active",
        ]


class _CatalogViewSet(SignedWrites, viewsets.ModelViewSet):
    lookup_field = "code"
    lookup_value_regex = "[^/]+"

    def get_object(self):  # type: ignore[override]
        # A code that cannot exist (e.g. with a NUL, which PostgreSQL refuses in a query) is a
        # plain 404, not a database error.
        try:
            CODE_VALIDATOR(self.kwargs[self.lookup_field])
        except DjangoValidationError:
            raise NotFound() from None
        return super().get_object()

    def write(self, serializer: serializers.BaseSerializer) -> None:
        try:
            with transaction.atomic():
                serializer.save()
        except IntegrityError as exc:  # a concurrent create of the same code
            raise Conflict(f"Could not save: {exc}") from exc


class SkuViewSet(_CatalogViewSet):
    """Canonical SKUs. Deleting a SKU with ledger history is refused (409)."""

    queryset = Sku.objects.order_by("code")
    serializer_class = SkuSerializer
    # New products arrive with the day's work; locations are set-up.
    write_capability = Capability.OPERATE
    filterset_fields = ["is_bundle", "velocity_tier", "barcode"]


class LocationViewSet(_CatalogViewSet):
    """Stock locations: warehouses, stores, 3PLs and FBA pools."""

    queryset = Location.objects.order_by("code")
    serializer_class = LocationSerializer
    write_capability = Capability.ADMINISTER
    filterset_fields = ["kind", "region", "is_active"]


class EventLineInput(serializers.Serializer):
    sku = serializers.CharField(max_length=64, validators=[CODE_VALIDATOR])
    location = serializers.CharField(max_length=64, validators=[CODE_VALIDATOR])
    quantity = StrictIntegerField(min_value=0, max_value=MAX_QUANTITY)
    bucket = serializers.ChoiceField(choices=Bucket.choices, required=False)
    to_location = serializers.CharField(max_length=64, required=False, validators=[CODE_VALIDATOR])
    stage = serializers.ChoiceField(choices=[(s, s) for s in InboundStage.ALL], required=False)


class EventInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=EventKind.choices)
    lines = EventLineInput(many=True, allow_empty=False, max_length=MAX_LINES)
    occurred_at = serializers.DateTimeField(required=False)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    reference = serializers.CharField(
        max_length=255,
        required=False,
        allow_blank=True,
        default="",
        validators=[refuse_control_characters],
    )

    def validate(self, attrs: dict) -> dict:
        if attrs["kind"] in KINDS_NEEDING_A_REASON and not attrs["reason"].strip():
            raise serializers.ValidationError(
                {"reason": f"A {attrs['kind']} needs a reason: say why the stock changes."}
            )
        return attrs


class EntryOutput(serializers.Serializer):
    sku = serializers.CharField(source="sku.code")
    location = serializers.CharField(source="location.code")
    bucket = serializers.CharField()
    delta = serializers.IntegerField()


class EventOutput(serializers.ModelSerializer):
    lines = serializers.JSONField(source="payload.lines")
    entries = EntryOutput(many=True)

    class Meta:
        model = InventoryEvent
        fields = [
            "id",
            "kind",
            "source",
            "idempotency_key",
            "occurred_at",
            "recorded_at",
            "actor",
            "reason",
            "reference",
            "lines",
            "entries",
        ]


class EventFilter(django_filters.FilterSet):
    sku = django_filters.CharFilter(field_name="entries__sku__code", distinct=True)
    location = django_filters.CharFilter(field_name="entries__location__code", distinct=True)
    occurred_after = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = InventoryEvent
        fields = ["kind", "source", "reference"]


class EventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Ledger events. POST records one; the `Idempotency-Key` header is required.

    The same key with the same body answers with the original event (header
    `Idempotent-Replayed: true`); the same key with a different body answers 409. Kinds
    another service owns (reserve, release) are refused with 400 naming that service's path.
    """

    serializer_class = EventOutput
    filterset_class = EventFilter
    write_capability = Capability.OPERATE

    def get_queryset(self):  # type: ignore[override]
        return selectors.event_list()

    @extend_schema(
        request=EventInput,
        responses={201: EventOutput},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=True,
                description="Unique per business fact; a retry must reuse it.",
            )
        ],
    )
    def create(self, request: Request) -> Response:
        key = idempotency_key_of(request)
        payload = EventInput(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        # The event carries its actor and reason itself; the entry puts it on the one page where
        # every change is found. A replay changed nothing, so it is not signed again.
        with audit.signed(request, f"event.{data['kind']}", reason=data["reason"]) as change:
            recorded = services.record_event(
                kind=data["kind"],
                lines=[services.EventLine(**line) for line in data["lines"]],
                idempotency_key=API_KEY_PREFIX + key,
                source="api",
                occurred_at=data.get("occurred_at"),
                actor=getattr(request.user, "username", "") or "",
                reason=data["reason"],
                reference=data["reference"],
                refuse_kinds=OWNED_KINDS,
            )
            change.target, change.after = recorded.event, {"lines": data["lines"]}
            change.skip = not recorded.created
        event = selectors.event_list().get(pk=recorded.event.pk)
        headers = {} if recorded.created else {"Idempotent-Replayed": "true"}
        return Response(EventOutput(event).data, status=status.HTTP_201_CREATED, headers=headers)


class BalanceOutput(serializers.ModelSerializer):
    sku = serializers.CharField(source="sku.code")
    location = serializers.CharField(source="location.code")

    class Meta:
        model = Balance
        fields = ["sku", "location", "bucket", "quantity", "version", "updated_at"]


class BalanceFilter(django_filters.FilterSet):
    sku = django_filters.CharFilter(field_name="sku__code")
    location = django_filters.CharFilter(field_name="location__code")
    bucket = django_filters.ChoiceFilter(choices=Bucket.choices)

    class Meta:
        model = Balance
        fields = ["sku", "location", "bucket"]


class BalanceViewSet(viewsets.ReadOnlyModelViewSet):
    """Current balances per SKU, location and bucket (each equals the sum of its entries)."""

    serializer_class = BalanceOutput
    filterset_class = BalanceFilter

    def get_queryset(self):  # type: ignore[override]
        return selectors.balance_list()
