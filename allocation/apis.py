"""REST API of allocation settings: rules (CRUD). Every write marks SKUs for the planner."""

from __future__ import annotations

from rest_framework import serializers, viewsets

from . import services
from .models import AllocationRule
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


class AllocationRuleViewSet(viewsets.ModelViewSet):
    """Allocation rules: buffers, shares, floors and ceilings with a scope and a priority."""

    queryset = AllocationRule.objects.order_by("priority", "id")
    serializer_class = AllocationRuleSerializer
    filterset_fields = ["kind", "scope", "is_enabled"]

    def perform_create(self, serializer):
        serializer.save()
        services.skus_mark_dirty()

    def perform_update(self, serializer):
        serializer.save()
        services.skus_mark_dirty()

    def perform_destroy(self, instance):
        instance.delete()
        services.skus_mark_dirty()
