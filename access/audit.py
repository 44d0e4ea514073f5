"""Sign an action: who did it, when, through which door, to what (before and after) and why.

Edges (API views, console views, admin) call `record()` right after the service they called;
where the change is database-only they wrap both in one transaction, so a change is never
committed without its signature.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.forms.models import model_to_dict

from .models import AuditEntry

# Never copy a secret into the trail: it is readable by every viewer.
# An alert destination's webhook URL is itself its credential.
_SECRET = re.compile(r"secret|password|credential|token|api_key|private|webhook_url", re.IGNORECASE)
SYSTEM_ACTOR = "system"


def snapshot(instance: models.Model | None, fields: list[str] | None = None) -> dict | None:
    """The instance's field values as JSON, secrets redacted."""
    if instance is None:
        return None
    return snapshot_values(model_to_dict(instance, fields=fields))


def snapshot_values(values: dict) -> dict:
    shown = {
        name: "(redacted)" if _SECRET.search(name) else value for name, value in values.items()
    }
    return json.loads(json.dumps(shown, cls=DjangoJSONEncoder, default=str))


def via_of(request) -> str:
    path = getattr(request, "path", "") or ""
    if path.startswith("/api/"):
        return AuditEntry.Via.API
    if path.startswith("/admin/"):
        return AuditEntry.Via.ADMIN
    return AuditEntry.Via.CONSOLE


def _remote_addr(request) -> str | None:
    address = (getattr(request, "META", None) or {}).get("REMOTE_ADDR") or None
    return address if address and len(address) <= 45 else None


def record(
    request,
    action: str,
    target: models.Model | None = None,
    *,
    before: Any = None,
    after: Any = None,
    reason: str = "",
    target_type: str = "",
    target_id: Any = "",
    target_repr: str = "",
    via: str | None = None,
) -> AuditEntry:
    """Append one audit entry for the request's user (or the system when request is None)."""
    user = getattr(request, "user", None)
    signed_in = user is not None and user.is_authenticated
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or target.pk
        target_repr = target_repr or str(target)
    return AuditEntry.objects.create(
        actor=user.get_username() if signed_in else SYSTEM_ACTOR,
        actor_id=user.pk if signed_in else None,
        via=via or (via_of(request) if request is not None else AuditEntry.Via.SYSTEM),
        action=action[:64],
        target_type=target_type[:100],
        target_id=str(target_id if target_id is not None else "")[:100],
        target_repr=target_repr[:200],
        before=_json(before),
        after=_json(after),
        reason=reason or "",
        remote_addr=_remote_addr(request) if request is not None else None,
    )


def _json(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, models.Model):
        return snapshot(value)
    if isinstance(value, dict):
        return snapshot_values(value)
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder, default=str))


def trail_of(*targets: models.Model, limit: int = 50) -> list[AuditEntry]:
    """The latest entries about these objects (a SKU and its halts), newest first, for the page
    that shows them: one query whatever their number."""
    ids_by_type: dict[str, set[str]] = defaultdict(set)
    for target in targets:
        ids_by_type[target._meta.label_lower].add(str(target.pk))
    if not ids_by_type:
        return []
    about = Q()
    for target_type, ids in ids_by_type.items():
        about |= Q(target_type=target_type, target_id__in=sorted(ids))
    return list(AuditEntry.objects.filter(about)[:limit])
