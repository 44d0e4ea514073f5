"""GET /api/v1/audit/: the audit trail, read-only, filtered like the console page."""

from __future__ import annotations

import django_filters
from rest_framework import serializers, viewsets

from .models import AuditEntry


class AuditEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "at",
            "actor",
            "via",
            "action",
            "target_type",
            "target_id",
            "target_repr",
            "before",
            "after",
            "reason",
        ]


class AuditEntryFilter(django_filters.FilterSet):
    actor = django_filters.CharFilter(max_length=150)
    action = django_filters.CharFilter(lookup_expr="startswith", max_length=64)
    target_type = django_filters.CharFilter(max_length=100)
    target_id = django_filters.CharFilter(max_length=100)

    class Meta:
        model = AuditEntry
        fields = ["actor", "action", "via", "target_type", "target_id"]


class AuditEntryViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = AuditEntry.objects.all()
    serializer_class = AuditEntrySerializer
    filterset_class = AuditEntryFilter
