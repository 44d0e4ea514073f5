"""Signing for DRF model endpoints: create, update and delete write their audit entry, with the
row before and after, in the same transaction as the change."""

from __future__ import annotations

from django.db import transaction

from inventory_sync.lib.errors import DomainError
from inventory_sync.lib.inputs import has_control_characters

from . import audit


def reason_of(request) -> str:
    """An optional `reason` beside the fields of a write (required ones are validated by the
    endpoint that needs them); a control character in it is refused (400), like in codes."""
    data = getattr(request, "data", None)
    reason = data.get("reason", "") if hasattr(data, "get") else ""
    if not isinstance(reason, str):
        return ""
    if has_control_characters(reason.replace("\n", "").replace("\t", "")):
        raise DomainError(
            "The reason holds a control character.",
            field_errors={"reason": "Control characters are not allowed."},
        )
    return reason.strip()[:500]


class SignedWrites:
    """Mix into a ModelViewSet before it; override `write` / `remove` to add work of your own.

    `audit_name` names the object in the trail ("rule" gives rule.create, rule.update...).
    """

    audit_name = ""

    def write(self, serializer) -> None:
        serializer.save()

    def remove(self, instance) -> None:
        instance.delete()

    def _name(self) -> str:
        return self.audit_name or self.get_queryset().model._meta.model_name

    def perform_create(self, serializer) -> None:
        reason = reason_of(self.request)
        with audit.signed(self.request, f"{self._name()}.create", reason=reason) as change:
            self.write(serializer)
            change.target = serializer.instance

    def perform_update(self, serializer) -> None:
        reason = reason_of(self.request)
        action = f"{self._name()}.update"
        with audit.signed(self.request, action, serializer.instance, reason=reason):
            self.write(serializer)

    def perform_destroy(self, instance) -> None:
        # Not signed(): a deleted instance has lost its pk by the time the entry is written.
        before, reason = audit.snapshot(instance), reason_of(self.request)
        label, pk, text = instance._meta.label_lower, instance.pk, audit.describe(instance)
        with transaction.atomic():
            self.remove(instance)
            audit.record(
                self.request,
                f"{self._name()}.delete",
                target_type=label,
                target_id=pk,
                target_repr=text,
                before=before,
                reason=reason,
            )
