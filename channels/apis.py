"""REST API of the channels app: channels, listings, orders (and moving a line), customers,
returns and their grading, and each SKU's live allocation.
(Sales halts are served by reconciliation.apis: releasing one also resolves the drift it held.)"""

from __future__ import annotations

import django_filters
from django.db.models import Count, F
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access import audit
from access.roles import Capability
from inventory_sync.lib.api import (
    CodeRelatedField,
    StrictIntegerField,
    UtcDateTimeFilter,
    refuse_control_characters,
)
from ledger.apis import idempotency_key_of
from ledger.models import Location, Sku

from . import customers, incidents, order_health, order_pages, outbox, planner, routing
from . import returns as returns_service
from .models import (
    Channel,
    ChannelOrder,
    ChannelOrderLine,
    ChannelReturn,
    Customer,
    Listing,
    OrderShipment,
)
from .shipment_apis import ShipmentOutput


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
    """Sales channels (created in the admin). GET .../health/ gives the channel's order
    health over the last 30 days (channels.order_health), against Amazon's bars."""

    queryset = Channel.objects.order_by("priority", "code")
    serializer_class = ChannelOutput
    lookup_field = "code"

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["get"])
    def health(self, request: Request, code: str) -> Response:
        channel = self.get_object()
        body = order_health.channel_rates(channels=[channel])[0].as_dict()
        weeks = order_health.weekly_oversell(channels=[channel])
        body["oversell_by_week"] = [week.as_dict() for week in weeks]
        return Response(body)


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
            "in_flight_quantity",
            "push_held_until",
            "push_error",
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


class OrderLineOutput(serializers.ModelSerializer):
    sku = serializers.CharField(source="sku.code", allow_null=True)
    location = serializers.CharField(source="location.code", allow_null=True)
    listing = serializers.CharField(source="listing.external_id", allow_null=True)
    fulfilment = serializers.CharField(source="listing.fulfilment", allow_null=True)
    committed_units = serializers.IntegerField(read_only=True)

    class Meta:
        model = ChannelOrderLine
        fields = [
            "external_id",
            "sku",
            "listing",
            "location",
            "channel_sku",
            "quantity",
            "current_quantity",
            "units_per_item",
            "sold_units",
            "cancelled_units",
            "shipped_units",
            "restocked_units",
            "committed_units",
            "unit_price",
            "fulfilment",
            "routed_by",
            "routed_at",
        ]


class OrderCustomerOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


# The normalised facts every lane fills (channels.order_details).
ORDER_FACTS = [
    "fulfilled_by_channel",
    "is_prime",
    "shipping_tier",
    "ship_by",
    "destination_country",
    "destination_region",
    "weight_grams",
    "total_price",
    "currency",
]


class OrderOutput(serializers.ModelSerializer):
    channel = serializers.CharField(source="channel.code")
    lines = OrderLineOutput(many=True)
    customer = OrderCustomerOutput(allow_null=True)
    shipments = ShipmentOutput(many=True, read_only=True)

    class Meta:
        model = ChannelOrder
        fields = [
            "id",
            "channel",
            "external_id",
            "name",
            "status",
            "placed_at",
            "channel_updated_at",
            "cancelled_at",
            *ORDER_FACTS,
            "customer",
            "conflict_action",
            "conflict_action_at",
            "conflict_action_by",
            "conflict_note",
            "lines",
            "shipments",
        ]


class OrderFilter(django_filters.FilterSet):
    """The console queue's filters (channels.order_pages): `late`, `oversold` and `unrouted`
    mean the same there and here."""

    channel = django_filters.CharFilter(field_name="channel__code")
    sku = django_filters.CharFilter(field_name="lines__sku__code", distinct=True)
    placed_after = UtcDateTimeFilter(field_name="placed_at", lookup_expr="gte")
    placed_before = UtcDateTimeFilter(field_name="placed_at", lookup_expr="lt")
    customer = django_filters.NumberFilter(field_name="customer_id")
    late = django_filters.BooleanFilter(method="_by_rule", help_text="Ship-by passed, still open.")
    oversold = django_filters.BooleanFilter(
        method="_by_rule",
        help_text="A line's SKU is in an open oversell incident, or a person decided on it.",
    )
    unrouted = django_filters.BooleanFilter(method="_by_rule", help_text="A line has no location.")

    class Meta:
        model = ChannelOrder
        fields = ["channel", "status", "external_id", "sku", "customer", "is_prime"]

    def _by_rule(self, orders, name: str, value: bool | None):
        if value is None:
            return orders
        rule = getattr(order_pages, name)()
        return orders.filter(rule) if value else orders.exclude(rule)


class RouteInput(serializers.Serializer):
    line = serializers.CharField(
        max_length=255, validators=[refuse_control_characters], help_text="The line's external id."
    )
    location = CodeRelatedField(slug_field="code", queryset=Location.objects.all())
    reason = serializers.CharField(max_length=500, validators=[refuse_control_characters])


class ShipmentLineInput(serializers.Serializer):
    line = serializers.CharField(max_length=255, validators=[refuse_control_characters])
    quantity = StrictIntegerField(min_value=1, max_value=1_000_000, help_text="Items.")


class ShipmentInput(serializers.Serializer):
    carrier = serializers.CharField(max_length=64, validators=[refuse_control_characters])
    # Amazon: required when the carrier is "Other" (a carrier outside its carrier codes).
    carrier_name = serializers.CharField(
        max_length=50, required=False, allow_blank=True, validators=[refuse_control_characters]
    )
    tracking_number = serializers.CharField(max_length=64, validators=[refuse_control_characters])
    tracking_url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    shipping_method = serializers.CharField(
        max_length=64, required=False, allow_blank=True, validators=[refuse_control_characters]
    )
    ship_date = serializers.DateTimeField(required=False)
    # Omitted: every line still to ship.
    lines = ShipmentLineInput(many=True, required=False, allow_empty=False, max_length=500)

    def validate(self, attrs: dict) -> dict:
        if attrs.get("carrier") == "Other" and not attrs.get("carrier_name"):
            raise serializers.ValidationError(
                {"carrier_name": 'Name the carrier when the carrier is "Other".'}
            )
        return attrs


class CancelForStockInput(serializers.Serializer):
    reason = serializers.CharField(max_length=500, validators=[refuse_control_characters])
    discount_code = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default="",
        validators=[refuse_control_characters],
    )  # fmt: skip
    send_email = serializers.BooleanField(default=True)


class BackorderInput(serializers.Serializer):
    note = serializers.CharField(max_length=500, validators=[refuse_control_characters])


class ConflictActionOutput(serializers.Serializer):
    """What was decided for an order that gave way in an oversell (I8)."""

    id = serializers.IntegerField(source="order.pk")
    channel = serializers.CharField(source="order.channel.code")
    external_id = serializers.CharField(source="order.external_id")
    status = serializers.CharField(source="order.status")
    conflict_action = serializers.CharField(source="order.conflict_action")
    conflict_action_at = serializers.DateTimeField(source="order.conflict_action_at")
    conflict_action_by = serializers.CharField(source="order.conflict_action_by")
    conflict_note = serializers.CharField(source="order.conflict_note")
    refused = serializers.CharField(default="", help_text="The channel's refusal, if any.")
    emailed = serializers.CharField(default="", help_text="Where the apology e-mail went.")
    email_note = serializers.CharField(default="", help_text="Why no e-mail went, if none.")


class OrderViewSet(viewsets.ReadOnlyModelViewSet):
    """Channel orders as the channels last described them, with the units the ledger carries
    for each line (sold, cancelled, shipped, restocked) and the shipments we made. POST
    .../ship/ ships a merchant-fulfilled order (all of it, or `lines`): its units leave the
    ledger at once and the channel is told with carrier and tracking, retried until it
    acknowledges (202 with the shipment, pending). An `Idempotency-Key` header makes a repeat
    answer the same shipment (200)."""

    serializer_class = OrderOutput
    filterset_class = OrderFilter
    action_capabilities = {
        "route": Capability.OPERATE,
        "ship": Capability.OPERATE,
        "cancel": Capability.OPERATE,
        "backorder": Capability.OPERATE,
    }

    @extend_schema(request=ShipmentInput, responses={202: ShipmentOutput, 200: ShipmentOutput})
    @action(detail=True, methods=["post"])
    def ship(self, request: Request, pk: str) -> Response:
        key = idempotency_key_of(request) if "Idempotency-Key" in request.headers else None
        data = ShipmentInput(data=request.data)
        data.is_valid(raise_exception=True)
        given = data.validated_data
        order = self.get_object()
        lines = given.get("lines")
        with audit.signed(request, "order.ship", order) as change:
            shipment = outbox.ship_order(
                order=order,
                lines=[(line["line"], line["quantity"]) for line in lines] if lines else None,
                carrier=given["carrier"],
                carrier_name=given.get("carrier_name", ""),
                tracking_number=given["tracking_number"],
                tracking_url=given.get("tracking_url", ""),
                shipping_method=given.get("shipping_method", ""),
                shipped_at=given.get("ship_date"),
                key=f"api:{key}" if key else None,
                source=OrderShipment.Source.API,
                actor=request.user.get_username(),
            )
            change.after = ShipmentOutput(shipment).data
            change.skip = shipment.replayed
        status = 200 if shipment.replayed else 202
        headers = {"Idempotent-Replayed": "true"} if shipment.replayed else {}
        return Response(ShipmentOutput(shipment).data, status=status, headers=headers)

    @extend_schema(request=CancelForStockInput, responses={202: ConflictActionOutput})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        """Cancel an order that gave way in an oversell on its channel (202: sent, the order
        turns cancelled when the channel confirms; 502: the channel refused, recorded as
        cancel_refused), and e-mail the customer the apology when we have an address."""
        data = CancelForStockInput(data=request.data)
        data.is_valid(raise_exception=True)
        order = self.get_object()
        before = audit.snapshot(order)
        outcome = incidents.cancel_for_stock(
            order,
            reason=data.validated_data["reason"],
            actor=request.user.get_username(),
            discount_code=data.validated_data["discount_code"],
            notify=data.validated_data["send_email"],
        )
        audit.record(
            request, "order.cancel", outcome.order, before=before, after=outcome.as_audit(),
            reason=data.validated_data["reason"],
        )  # fmt: skip
        return Response(ConflictActionOutput(outcome).data, status=502 if outcome.refused else 202)

    @extend_schema(request=BackorderInput, responses=ConflictActionOutput)
    @action(detail=True, methods=["post"])
    def backorder(self, request: Request, pk: str) -> Response:
        """Keep an order that gave way in an oversell open until stock arrives."""
        data = BackorderInput(data=request.data)
        data.is_valid(raise_exception=True)
        order = self.get_object()
        note = data.validated_data["note"]
        with audit.signed(request, "order.backorder", order, reason=note) as change:
            change.target = order = incidents.backorder(
                order, note=note, actor=request.user.get_username()
            )
        return Response(ConflictActionOutput({"order": order}).data)

    @extend_schema(request=RouteInput, responses=OrderOutput)
    @action(detail=True, methods=["post"])
    def route(self, request: Request, pk: str) -> Response:
        """Move an open line's commitment to another location of its listing's pool (one
        ledger event) with why; 409 when the order is closed, the location is outside the
        pool or does not hold the units."""
        data = RouteInput(data=request.data)
        data.is_valid(raise_exception=True)
        order = self.get_object()
        line = get_object_or_404(
            order.lines.select_related("location"), external_id=data.validated_data["line"]
        )
        to, reason = data.validated_data["location"], data.validated_data["reason"]
        was = line.location.code if line.location else None
        with audit.signed(request, "order.reroute", order, reason=reason) as change:
            routing.reroute_line(
                line=line, location=to, actor=request.user.get_username(), reason=reason
            )
            change.after = {"line": line.external_id, "from": was, "to": to.code}
        return Response(self.get_serializer(self.get_queryset().get(pk=order.pk)).data)

    def get_queryset(self):  # type: ignore[override]
        return (
            ChannelOrder.objects.select_related("channel", "customer")
            .prefetch_related("lines__sku", "lines__location", "lines__listing", "shipments")
            .order_by("-placed_at", "-id")
        )


class CustomerOrderOutput(serializers.ModelSerializer):
    channel = serializers.CharField(source="channel.code")
    # Plain text: a second serializer naming ChannelOrder.Status makes the schema's enum name
    # collide with the other "status" enums (drf-spectacular W001).
    status = serializers.CharField(help_text="open, cancelled or fulfilled (as on the order).")

    class Meta:
        model = ChannelOrder
        fields = ["id", "channel", "external_id", "name", "status", "placed_at", "total_price",
                  "currency"]  # fmt: skip


class CustomerOutput(serializers.ModelSerializer):
    order_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Customer
        # The matching keys (salted hashes) stay inside.
        fields = ["id", "name", "email", "phone", "first_order_at", "last_order_at",
                  "order_count"]  # fmt: skip


class CustomerDetailOutput(CustomerOutput):
    orders = serializers.SerializerMethodField(help_text="The latest orders, every channel.")

    class Meta(CustomerOutput.Meta):
        fields = [*CustomerOutput.Meta.fields, "orders"]

    @extend_schema_field(CustomerOrderOutput(many=True))
    def get_orders(self, customer: Customer) -> list:
        latest = customer.orders.select_related("channel").order_by("-placed_at", "-id")
        return CustomerOrderOutput(latest[: order_pages.CUSTOMER_ORDERS], many=True).data


class CustomerFilter(django_filters.FilterSet):
    email = django_filters.CharFilter(method="_by_key", help_text="Matched as orders are.")
    phone = django_filters.CharFilter(method="_by_key", help_text="Matched as orders are.")

    class Meta:
        model = Customer
        fields = ["email", "phone"]

    def _by_key(self, rows, name: str, value: str):
        normalise = customers.normalise_email if name == "email" else customers.normalise_phone
        given = normalise(value)
        if not given:
            return rows.none()
        return rows.filter(**{f"{name}_hash": customers.hash_of(name, given)})


class CustomerViewSet(viewsets.ReadOnlyModelViewSet):
    """Shoppers matched across channels by email or phone (kept as salted hashes; the address
    in clear only where the channel shows it), latest ordering first; one customer with their
    latest orders on every channel (all of them: /api/v1/orders/?customer=<id>)."""

    filterset_class = CustomerFilter

    def get_serializer_class(self):  # type: ignore[override]
        return CustomerDetailOutput if self.action == "retrieve" else CustomerOutput

    def get_queryset(self):  # type: ignore[override]
        return Customer.objects.annotate(order_count=Count("orders")).order_by(
            F("last_order_at").desc(nulls_last=True), "-id"
        )


class ReturnOutput(serializers.ModelSerializer):
    channel = serializers.CharField(source="channel.code")
    sku = serializers.CharField(source="sku.code", allow_null=True)
    event = serializers.IntegerField(source="event_id", allow_null=True)

    class Meta:
        model = ChannelReturn
        fields = [
            "id",
            "channel",
            "order_external_id",
            "sku",
            "channel_sku",
            "quantity",
            "fulfilment",
            "disposition",
            "reason",
            "channel_status",
            "customer_comments",
            "returned_at",
            "handling",
            "event",
        ]


class ReturnFilter(django_filters.FilterSet):
    channel = django_filters.CharFilter(field_name="channel__code")

    class Meta:
        model = ChannelReturn
        fields = ["channel", "handling"]


class GradeInput(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=sorted(returns_service.OUTCOMES))
    location = CodeRelatedField(slug_field="code", queryset=Location.objects.all())
    reason = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        default="",
        validators=[refuse_control_characters],
    )


class ReturnViewSet(viewsets.ReadOnlyModelViewSet):
    """Customer returns as the channels reported them, newest first, and what each did to
    stock. POST .../grade/ with `{"outcome": "restock|unsellable", "location": "<code>",
    "reason": ...}` grades a return waiting to be graded, once (409 after that); the reason is
    required for unsellable."""

    serializer_class = ReturnOutput
    filterset_class = ReturnFilter
    action_capabilities = {"grade": Capability.OPERATE}

    def get_queryset(self):  # type: ignore[override]
        return ChannelReturn.objects.select_related("channel", "sku").order_by(
            "-returned_at", "-id"
        )

    @extend_schema(request=GradeInput, responses=ReturnOutput)
    @action(detail=True, methods=["post"])
    def grade(self, request: Request, pk: str) -> Response:
        data = GradeInput(data=request.data)
        data.is_valid(raise_exception=True)
        ret = self.get_object()
        reason = data.validated_data["reason"]
        with audit.signed(request, "return.grade", ret, reason=reason) as change:
            change.target = ret = returns_service.grade_return(
                ret,
                outcome=data.validated_data["outcome"],
                location=data.validated_data["location"],
                reason=reason,
                actor=request.user.get_username(),
            )
        return Response(self.get_serializer(ret).data)


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
