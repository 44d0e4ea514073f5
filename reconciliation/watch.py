"""Alerts for what other apps record without calling up: oversell incidents opened and
channels whose pushes keep failing. Read on the alert sender's schedule, after a watermark."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from allocation.models import OversellIncident
from channels.models import Channel, PushAttempt

from . import alerts
from .models import Watermark

INCIDENTS_MARK = "alerts:oversell-incidents"
# Failed or refused calls to one channel within the window that make "pushes failing".
PUSH_FAILURES = 5
PUSH_FAILURE_WINDOW = timedelta(minutes=15)


def collect(*, now: datetime | None = None) -> int:
    """Raise the alerts due since the last collection. Returns how many were raised."""
    now = now or timezone.now()
    return _incidents() + _push_failures(now)


def _incidents() -> int:
    with transaction.atomic():
        mark, _ = Watermark.objects.select_for_update().get_or_create(name=INCIDENTS_MARK)
        opened = list(
            OversellIncident.objects.filter(pk__gt=mark.position)
            .select_related("sku")
            .order_by("id")[:500]
        )
        for incident in opened:
            alerts.raise_alert(
                "oversell",
                key=f"incident:{incident.pk}",
                subject=f"Oversold {incident.sku.code}: {incident.units_short} unit(s) short",
                link="/incidents/",
            )
        if opened:
            Watermark.objects.filter(pk=mark.pk).update(position=opened[-1].pk)
    return len(opened)


def _push_failures(now: datetime) -> int:
    failing = (
        PushAttempt.objects.filter(
            started_at__gte=now - PUSH_FAILURE_WINDOW,
            status__in=[
                PushAttempt.Status.FAILED,
                PushAttempt.Status.REFUSED,
                PushAttempt.Status.SENDING,
            ],
        )
        .exclude(error="")
        .values("channel_id")
        .annotate(failures=Count("id"))
        .filter(failures__gte=PUSH_FAILURES)
    )
    raised = 0
    codes = dict(Channel.objects.values_list("id", "code"))
    for row in failing:
        code = codes.get(row["channel_id"], row["channel_id"])
        alerts.raise_alert(
            "push_failing",
            key=f"channel:{row['channel_id']}",
            subject=f"{code}: {row['failures']} failed push(es) in the last 15 minutes",
            link=f"/channels/{code}/",
        )
        raised += 1
    return raised
