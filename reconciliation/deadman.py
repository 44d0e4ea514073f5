"""The dead-man switch: when a channel shows no sign of life for too long inside its business
hours, or refuses every push, or our own pipeline stalls, we can no longer tell what it sells:
every listing of it drops to its safety quantity until a person clears the switch.

Signs of life: an inbound event received from the channel, an acknowledged push to it. Our
pipeline stalls when work waits (a stored event not applied, a dirty SKU, a due listing) and
the worker that should take it has not finished a round (its heartbeat) for the stall limit.
Outside business hours nothing trips (a quiet night is not an outage); an episode already open
stays open.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Min
from django.utils import timezone

from channels.models import Channel, InboundEvent, Listing, PushAttempt, WorkerHeartbeat
from ledger.models import Sku

from . import alerts
from .models import DeadManEpisode, DeadManSwitch
from .resolve import ResolutionError, mark_dirty_in_order

logger = logging.getLogger(__name__)

Reason = DeadManEpisode.Reason


def stall_limit() -> timedelta:
    return timedelta(minutes=getattr(settings, "DEAD_MAN_PIPELINE_STALL_MINUTES", 10))


def in_business_hours(switch: DeadManSwitch, now: datetime) -> bool:
    local = now.astimezone(ZoneInfo(switch.time_zone or "UTC"))
    if switch.weekdays and local.isoweekday() not in switch.weekdays:
        return False
    opens, closes = switch.opens_at, switch.closes_at
    if opens == closes:
        return True  # open all day
    if opens < closes:
        return opens <= local.time() < closes
    return local.time() >= opens or local.time() < closes  # hours across midnight


def window_start(switch: DeadManSwitch, now: datetime) -> datetime | None:
    """When the business hours `now` falls in began (UTC): quiet is counted from then at the
    earliest, so a quiet night does not trip the switch at opening. None: open all day."""
    opens, closes = switch.opens_at, switch.closes_at
    if opens == closes:
        return None
    zone = ZoneInfo(switch.time_zone or "UTC")
    local = now.astimezone(zone)
    day = local.date()
    if opens > closes and local.time() < closes:
        day -= timedelta(days=1)  # hours across midnight, now after it
    return datetime.combine(day, opens, tzinfo=zone).astimezone(now.tzinfo)


@dataclass(frozen=True, slots=True)
class Verdict:
    reason: str
    detail: str
    last_sign_of_life: datetime | None


def last_sign_of_life(channel: Channel) -> datetime | None:
    inbound = (
        InboundEvent.objects.filter(channel=channel)
        .order_by("-id")
        .values_list("received_at", flat=True)
        .first()
    )
    pushed = (
        PushAttempt.objects.filter(channel=channel, status=PushAttempt.Status.ACKNOWLEDGED)
        .order_by("-id")
        .values_list("finished_at", flat=True)
        .first()
    )
    signs = [sign for sign in (inbound, pushed) if sign is not None]
    # A channel never heard from counts from when it was created.
    return max(signs) if signs else channel.created_at


def judge(channel: Channel, switch: DeadManSwitch, now: datetime) -> Verdict | None:
    """Why the switch should trip for this channel now, or None."""
    quiet = timedelta(minutes=switch.quiet_minutes)
    alive = last_sign_of_life(channel)
    opened = window_start(switch, now)
    counted_from = max(alive, opened) if alive and opened else alive or opened
    if counted_from is not None and now - counted_from >= quiet:
        return Verdict(
            Reason.CHANNEL_QUIET, f"nothing from or to it since {alive:%H:%M} UTC", alive
        )
    last_ok = (
        PushAttempt.objects.filter(channel=channel, status=PushAttempt.Status.ACKNOWLEDGED)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    failing_since = (
        PushAttempt.objects.filter(channel=channel, pk__gt=last_ok or 0)
        .exclude(status=PushAttempt.Status.SHADOW)
        .aggregate(first=Min("started_at"))["first"]
    )
    if failing_since is not None and opened is not None:
        failing_since = max(failing_since, opened)
    if failing_since is not None and now - failing_since >= quiet:
        return Verdict(
            Reason.PUSHES_FAILING, f"every push refused or failing since {failing_since:%H:%M} UTC",
            alive,
        )  # fmt: skip
    return _pipeline_stalled(channel, now)


def _pipeline_stalled(channel: Channel, now: datetime) -> Verdict | None:
    limit = now - stall_limit()
    beats = dict(WorkerHeartbeat.objects.values_list("kind", "beat_at"))
    planner = beats.get("planner")
    waiting = Sku.objects.filter(allocation_dirty_since__lt=limit, listings__channel=channel)
    if (planner is None or planner < limit) and waiting.exists():
        return Verdict(Reason.PIPELINE_STALLED, "the planner has not run with SKUs waiting", None)
    # Webhooks still arriving keep the channel looking alive; stored and never applied, they
    # mean our ingest worker is gone (a broker outage, a worker that exited).
    ingest = beats.get("ingest")
    unapplied = InboundEvent.objects.filter(
        channel=channel, status=InboundEvent.Status.RECEIVED, received_at__lt=limit
    )
    if (ingest is None or ingest < limit) and unapplied.exists():
        return Verdict(
            Reason.PIPELINE_STALLED, "the ingest worker has not run with events waiting", None
        )
    pusher = beats.get(f"push:{channel.pk}")
    due = Listing.objects.filter(
        channel=channel, desired_at__lt=limit, desired_version__gt=0, is_active=True
    ).exclude(fulfilment=Listing.Fulfilment.FBA)
    if (pusher is None or pusher < limit) and due.filter(
        pushed_version__lt=F("desired_version")
    ).exists():
        return Verdict(Reason.PIPELINE_STALLED, "the pusher has not run with listings due", None)
    return None


def check(*, now: datetime | None = None) -> list[DeadManEpisode]:
    """Trip the switch of every live channel that needs it. Returns the new episodes."""
    now = now or timezone.now()
    tripped = []
    open_ids = set(
        DeadManEpisode.objects.filter(cleared_at__isnull=True).values_list("channel_id", flat=True)
    )
    for channel in Channel.objects.filter(mode=Channel.Mode.LIVE).order_by("id"):
        switch, _ = DeadManSwitch.objects.get_or_create(channel=channel)
        if not switch.is_enabled or channel.pk in open_ids or not in_business_hours(switch, now):
            continue
        verdict = judge(channel, switch, now)
        if verdict is not None:
            episode = trip(channel, verdict)
            if episode is not None:
                tripped.append(episode)
    return tripped


def trip(channel: Channel, verdict: Verdict) -> DeadManEpisode | None:
    try:
        with transaction.atomic():
            episode = DeadManEpisode.objects.create(
                channel=channel,
                reason=verdict.reason,
                detail=verdict.detail[:500],
                last_sign_of_life=verdict.last_sign_of_life,
            )
            _cap(channel, f"dead-man switch: {verdict.detail}")
    except IntegrityError:
        return None  # another checker tripped it first
    logger.error("dead-man switch tripped on %s: %s", channel.code, verdict.detail)
    alerts.raise_alert(
        "dead_man",
        key=f"channel:{channel.pk}",
        subject=(
            f"{channel.code}: dead-man switch tripped ({episode.get_reason_display().lower()}: "
            f"{verdict.detail}); listings capped at {channel.safety_quantity}"
        ),
        link="/reconciliation/dead-man/",
    )
    return episode


def clear(episode: DeadManEpisode, *, actor: str, reason: str) -> DeadManEpisode:
    """A person clears the switch: the channel shows its allocated quantities again."""
    if not reason.strip():
        raise ResolutionError("Say why the channel can be trusted again.")
    with transaction.atomic():
        updated = DeadManEpisode.objects.filter(pk=episode.pk, cleared_at__isnull=True).update(
            cleared_at=timezone.now(), cleared_by=actor, clear_reason=reason[:500]
        )
        if updated:
            _cap(episode.channel, "")
    episode.refresh_from_db()
    if updated:
        alerts.raise_alert(
            "dead_man_clear",
            key=f"channel:{episode.channel_id}",
            subject=f"{episode.channel.code}: dead-man switch cleared by {actor}: {reason}",
            link="/reconciliation/dead-man/",
        )
    return episode


def _cap(channel: Channel, reason: str) -> None:
    """Cap (reason given) or uncap the channel, and have the planner recompute its SKUs."""
    Channel.objects.filter(pk=channel.pk).update(
        capped_since=timezone.now() if reason else None, capped_reason=reason[:255]
    )
    mark_dirty_in_order(
        Listing.objects.filter(channel=channel, is_active=True)
        .order_by()
        .values_list("sku_id", flat=True)
        .distinct()
    )
