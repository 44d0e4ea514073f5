"""Sign an action: who did it, when, through which door, to what (before and after) and why.

Edges (API views, console views, admin) sign through `signed()`, which runs the change and
its entry in one transaction, so a change is never committed without its signature; only a
change that calls a channel (no network I/O inside a transaction) is signed by `record()` after
the channel answered.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.db.models import Q
from django.forms.models import model_to_dict

from inventory_sync.lib.inputs import printable
from inventory_sync.lib.lockout import client_ip

from .models import AuditEntry

# Never copy a secret into the trail: it is readable by every viewer.
# An alert destination's webhook URL is itself its credential.
# An API token's own field is plain `key`.
_SECRET = re.compile(
    r"secret|password|credential|token|api_key|private|webhook_url|^key$", re.IGNORECASE
)
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
    """The client's address as the login lockout reads it: behind the documented proxy,
    REMOTE_ADDR is always the proxy's."""
    address = client_ip(request) if getattr(request, "META", None) is not None else ""
    return address if address and len(address) <= 45 else None


def describe(target: models.Model) -> str:
    """How the trail names an object; an API token's own text is its secret key."""
    if target._meta.app_label == "authtoken":
        return f"API token of {getattr(target, 'user', '?')}"
    return str(target)


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
        target_repr = target_repr or describe(target)
    return AuditEntry.objects.create(
        actor=user.get_username() if signed_in else SYSTEM_ACTOR,
        actor_id=user.pk if signed_in else None,
        via=via or (via_of(request) if request is not None else AuditEntry.Via.SYSTEM),
        action=action[:64],
        target_type=target_type[:100],
        target_id=str(target_id if target_id is not None else "")[:100],
        target_repr=printable(target_repr)[:200],
        before=_json(before),
        after=_json(after),
        reason=printable(reason or ""),
        remote_addr=_remote_addr(request) if request is not None else None,
    )


@dataclass
class Change:
    """What `signed()` yields: the edge sets `target` (when the service returns the object or
    creates it) and may set `after` (when the object alone does not say what changed)."""

    target: models.Model | None
    before: Any
    after: Any = None
    skip: bool = False  # nothing changed (a replay): leave no entry


@contextmanager
def signed(
    request, action: str, target: models.Model | None = None, *, reason: str = ""
) -> Iterator[Change]:
    """Run a change and sign it in one transaction: `target` as it was before, as it is after.

    A change that raises is rolled back with nothing signed."""
    change = Change(target=target, before=snapshot(target))
    with transaction.atomic():
        yield change
        if change.skip:
            return
        after = change.after
        if after is None and change.target is not None:
            after = snapshot(type(change.target).objects.filter(pk=change.target.pk).first())
            if change.before is not None and after == change.before:
                return  # asked twice (a second release of a released halt): nothing changed
        record(request, action, change.target, before=change.before, after=after, reason=reason)


def was_signed(action: str, target: models.Model) -> bool:
    return AuditEntry.objects.filter(
        action=action, target_type=target._meta.label_lower, target_id=str(target.pk)
    ).exists()


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
    # The object pages list who, when, what and why; the before and after stay on /audit/.
    return list(AuditEntry.objects.filter(about).defer("before", "after")[:limit])
