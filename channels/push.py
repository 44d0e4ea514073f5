"""The push pipeline (I5, I6, I7b): send each listing's latest desired quantity to its
channel, coalesced, batched, decreases first, compare-and-set where the channel has it, and
never losing a push to a crash.

One round per channel, single flight across workers (a PostgreSQL advisory lock, released by
the server if the worker dies):
1. resend any attempt a previous worker left in flight — same idempotency key, same request,
   so the channel answers with the first result instead of applying it twice;
2. claim due listings (desired version ahead of pushed) with SKIP LOCKED, decreases before
   increases, an increase of a ring-fenced SKU only once every other listing of the SKU has
   confirmed its decrease (break-before-make);
3. write the attempt (status sending, request, key) and the listings' in-flight quantity in
   one transaction, then call the channel;
4. record the answer: acknowledged listings take the pushed quantity; a stale compare is
   re-read and either retried (the difference is explained by orders we ingested), held for
   the order we have not seen yet, or — after the grace period — recorded as drift.

A channel without compare-and-set whose acceptance only means "queued" (Amazon) answers
`accepted`: the attempt waits, its listings in flight, and later rounds read it back
(`Lane.confirm`). It counts as applied only when the channel shows it; one not shown by the
lane's apply deadline is sent again. A newer quantity may supersede an accepted one without
waiting for it (a decrease must not queue behind a slow read-back); the listing's in-flight
bound then keeps the larger of the two until the channel shows the newer (I7b).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from inventory_sync.lib import wakeups
from inventory_sync.lib.locks import lock_one, lock_rows

from .lanes.base import ChannelError, Lane, PushItem, SendResult
from .models import Channel, Listing, PushAttempt

logger = logging.getLogger(__name__)

# How long a difference no ingested order explains may wait for its order before it is
# recorded as drift and overwritten (webhooks usually arrive within seconds; the orders poll
# runs every minute).
UNSEEN_SALE_GRACE = timedelta(seconds=90)
REFUSED_HOLD = timedelta(minutes=5)
STALE_RETRIES_PER_ROUND = 3
# Announced when a channel acknowledged a push: reconciliation reads cheap channels back (a
# write that answers success and is not kept shows within seconds).
PUSHES_ACKNOWLEDGED = "channels.pushes_acknowledged"


# The lane protocol (what this pipeline asks of a channel kind) and its types live with the
# lanes; they are named here too for the callers that know them from the pipeline.
__all__ = ["Lane", "PushItem", "SendResult", "push_channel"]


@dataclass(slots=True)
class PushRound:
    attempts: int = 0
    acknowledged: int = 0
    stale: int = 0
    held: int = 0
    refused: int = 0
    failed: bool = False
    skipped: str = ""
    rebalance_waiting: int = 0
    already_shown: int = 0
    increases_deferred: bool = False
    accepted: int = 0
    not_applied: int = 0


_AGAIN = object()  # a claim that settled listings without a call: claim again


def push_channel(channel: Channel, lane: Lane, *, now: datetime | None = None) -> PushRound:
    """One round of pushes for a channel: until nothing is due, or the channel fails."""
    outcome = PushRound()
    if channel.mode == Channel.Mode.PAUSED:
        outcome.skipped = "paused"
        return outcome
    if channel.mode == Channel.Mode.SHADOW:
        due = _due(channel, now or timezone.now()).count()
        if due:
            logger.info("channel %s (shadow): %d listing(s) would be pushed", channel.code, due)
        outcome.skipped = "shadow"
        return outcome
    with single_flight(channel.pk) as acquired:
        if not acquired:
            outcome.skipped = "busy"
            return outcome
        for attempt in channel.push_attempts.filter(status=PushAttempt.Status.SENDING).order_by(
            "id"
        ):
            if not _send(channel, lane, attempt, outcome):
                return outcome
        for attempt in _confirm_due(channel, now or timezone.now()):
            if not _confirm(channel, lane, attempt, outcome):
                # The read-back failed (it is rescheduled): new decreases must still go.
                break
        stale_rounds = 0
        while True:
            attempt = _claim(channel, lane, now or timezone.now(), outcome)
            if attempt is _AGAIN:
                continue
            if attempt is None:
                return outcome
            before = outcome.stale
            if not _send(channel, lane, attempt, outcome):
                return outcome
            if outcome.stale > before:
                stale_rounds += 1
                if stale_rounds >= STALE_RETRIES_PER_ROUND:
                    return outcome
            elif not (len(attempt.items) == lane.max_batch or outcome.increases_deferred):
                # Everything due when we claimed went in this call. Changes since then wait
                # for the caller's next round (the pusher lingers between calls to coalesce),
                # except increases held back behind the decreases just confirmed.
                return outcome


def due_count(channel: Channel) -> int:
    return _due(channel, timezone.now()).count()


def _confirm_due(channel: Channel, now: datetime):
    return channel.push_attempts.filter(
        status=PushAttempt.Status.ACCEPTED, confirm_after__lte=now
    ).order_by("id")


def next_confirm_at(channel: Channel) -> datetime | None:
    """When the next accepted attempt is due to be read back (None: none waits)."""
    return (
        channel.push_attempts.filter(status=PushAttempt.Status.ACCEPTED)
        .order_by("confirm_after")
        .values_list("confirm_after", flat=True)
        .first()
    )


def oldest_due_cause(channel: Channel, now: datetime | None = None) -> datetime | None:
    """When the oldest change waiting for this channel was written; None when nothing is due."""
    now = now or timezone.now()
    due = _due(channel, now).values_list("desired_cause_at", "desired_at")
    oldest = None
    for cause_at, desired_at in due.order_by(F("desired_cause_at").asc(nulls_last=True))[:1]:
        oldest = cause_at or desired_at or now
    return oldest


def push_wait(
    *,
    now: datetime,
    last_call_at: datetime | None,
    oldest_cause_at: datetime,
    window: timedelta,
    call_seconds: float = 0.0,
) -> float:
    """Seconds the pusher waits before its next call, given the oldest change waiting.

    After a quiet spell (no call within the window) a change goes at once. During a stream the
    call goes when the oldest waiting change has waited the window, less the time a call
    takes (`call_seconds`: the slowest of the pusher's recent calls, at most half the window):
    each call then carries about a window's worth of changes, and the oldest is acknowledged
    within the window of its arrival. A fixed pause after each call would instead let a change
    wait the pause plus the time it spent in ingest and planning, so it needs a shorter pause
    (more calls) for the same latency. Capped at the window, so a clock step between database
    and worker cannot stall.
    """
    if last_call_at is None or now - last_call_at >= window:
        return 0.0
    ahead = min(max(call_seconds, 0.0), window.total_seconds() / 2)
    wait = (oldest_cause_at + window - now).total_seconds() - ahead
    return min(max(wait, 0.0), window.total_seconds())


UNKNOWN_UPPER_BOUND = 2**31  # a listing never read nor pushed may show anything


def advertised_upper_bound(listing: Listing) -> int:
    """The most the channel may be showing: confirmed, or in flight to it (I7b)."""
    if listing.expected_quantity is not None:
        confirmed = listing.expected_quantity
    elif listing.observed_quantity is not None:
        confirmed = listing.observed_quantity
    else:
        confirmed = UNKNOWN_UPPER_BOUND
    return max(confirmed, listing.in_flight_quantity or 0, 0)


def _due(channel: Channel, now: datetime):
    return (
        Listing.objects.filter(
            channel=channel,
            is_active=True,
            desired_quantity__isnull=False,
            desired_version__gt=F("pushed_version"),
        )
        # A listing the channel fulfils from its own warehouses (Amazon FBA) shows the
        # channel's count: a quantity of ours must never be sent to one.
        .exclude(fulfilment=Listing.Fulfilment.FBA)
        .filter(
            Q(in_flight_attempt__isnull=True)
            # Accepted and waiting to show: only a newer quantity supersedes it.
            | Q(
                in_flight_attempt__status=PushAttempt.Status.ACCEPTED,
                desired_version__gt=F("in_flight_version"),
            )
        )
        .filter(Q(push_held_until__isnull=True) | Q(push_held_until__lte=now))
    )


def _claim(channel: Channel, lane: Lane, now: datetime, outcome: PushRound) -> PushAttempt | None:
    unknown = list(_due(channel, now).filter(pushed_quantity__isnull=True)[: lane.max_batch])
    if unknown:
        # Never pushed: learn what the channel shows first, so even the first set compares.
        try:
            levels = lane.read_levels(channel, unknown)
        except Exception as error:  # noqa: BLE001 — one bad listing must not stop the channel
            if not _refused_by_channel(error):
                # The channel, or the rate limit shared through Redis, is down for a moment:
                # holding these listings would keep them off the channel for REFUSED_HOLD
                # after it is back. The round fails; the pusher and the sweep try again.
                logger.warning(
                    "channel %s: reading new listings failed, will retry: %s", channel.code, error
                )
                outcome.failed = True
                return None
            logger.warning("channel %s: reading new listings refused: %s", channel.code, error)
            Listing.objects.filter(pk__in=[listing.pk for listing in unknown]).update(
                push_error=f"could not read the channel's level: {error}"[:2000],
                push_held_until=now + REFUSED_HOLD,
            )
            return _AGAIN
        with transaction.atomic():
            for listing in unknown:
                observed = levels.get(listing.pk)
                Listing.objects.filter(pk=listing.pk, pushed_quantity__isnull=True).update(
                    pushed_quantity=max(observed or 0, 0),
                    channel_delta=0,
                    observed_quantity=observed,
                    observed_at=now,
                )
    with transaction.atomic():
        # Waits for a planner or ingest write on these rows (short) rather than skipping them
        # to the next window: one pusher per channel holds this anyway.
        candidates = list(lock_rows(_due(channel, now))[: lane.max_batch * 4])
        if not candidates:
            return None
        # The channel already shows what we want (its own sale took it there): nothing to send.
        # (Not while an accepted set is queued: it may still land and change what is shown.)
        shown = [
            c
            for c in candidates
            if c.desired_quantity == _expected(c) and c.in_flight_attempt_id is None
        ]
        if shown:
            for listing in shown:
                Listing.objects.filter(pk=listing.pk).update(
                    pushed_version=listing.desired_version, push_error="", unseen_since=None
                )
            outcome.already_shown += len(shown)
            candidates = [c for c in candidates if c not in shown]
            if not candidates:
                return _AGAIN
        decreases = [c for c in candidates if c.desired_quantity < _shown_at_most(c)]
        outcome.increases_deferred = False
        if decreases:
            batch = decreases[: lane.max_batch]
            outcome.increases_deferred = len(decreases) < len(candidates)
        else:
            batch = _rebalance_ready(candidates, outcome)[: lane.max_batch]
            if not batch:
                return None  # waiting for other channels' decreases; their ack wakes us
        items = [
            PushItem(
                listing_id=listing.pk,
                version=listing.desired_version,
                quantity=listing.desired_quantity,
                change_from=_expected(listing),
                delta_at_claim=listing.channel_delta,
                external_id=listing.external_id,
                payload=lane.push_payload(channel, listing),
                cause_at=(listing.desired_cause_at or listing.desired_at or now).isoformat(),
                decrease=listing.desired_quantity < _shown_at_most(listing),
                supersedes=(
                    (
                        listing.in_flight_attempt_id,
                        listing.in_flight_quantity or 0,
                        listing.in_flight_version or 0,
                    )
                    if listing.in_flight_attempt_id
                    else None
                ),
            )
            for listing in batch
        ]
        attempt = PushAttempt.objects.create(
            channel=channel,
            idempotency_key=str(uuid.uuid4()),
            items=[item.as_dict() for item in items],
        )
        for listing, item in zip(batch, items, strict=True):
            # Superseding an accepted set that may still land: bound by the larger of the two.
            superseded = listing.in_flight_quantity if listing.in_flight_attempt_id else None
            Listing.objects.filter(pk=item.listing_id).update(
                in_flight_quantity=max(item.quantity, superseded or 0),
                in_flight_version=item.version,
                in_flight_attempt=attempt,
            )
        return attempt


def _refused_by_channel(error: Exception) -> bool:
    """The channel answered no to this read (not throttled, not down): the listings' own
    problem, held so the others go on. Anything else (the channel unavailable, the shared rate
    limit's Redis unreachable) passes, and nothing is held for it."""
    return isinstance(error, ChannelError) and not error.retryable


def _expected(listing: Listing) -> int:
    # Claimed listings always have a pushed (or read) quantity: _claim reads the others first.
    return listing.expected_quantity or 0


def _rebalance_ready(candidates: list[Listing], outcome: PushRound) -> list[Listing]:
    """Increases that may go now: shared-pool SKUs always; a ring-fenced SKU's only once no
    other listing of it (on any channel) still advertises more than it should (I7b). The
    candidate itself never blocks its own increase. FBA listings sell Amazon's pool, not the
    stock the others share, and we never set them: they bound nothing here."""
    fenced = {c.sku_id for c in candidates if c.ring_fenced}
    if not fenced:
        return candidates
    over: dict[int, set[int]] = {}
    siblings = Listing.objects.filter(sku_id__in=fenced, is_active=True).exclude(
        fulfilment=Listing.Fulfilment.FBA
    )
    for sibling in siblings:
        if advertised_upper_bound(sibling) > (sibling.desired_quantity or 0):
            over.setdefault(sibling.sku_id, set()).add(sibling.pk)
    ready = []
    for candidate in candidates:
        if candidate.ring_fenced and over.get(candidate.sku_id, set()) - {candidate.pk}:
            outcome.rebalance_waiting += 1
        else:
            ready.append(candidate)
    return ready


def _shown_at_most(listing: Listing) -> int:
    """The most the channel may show once what is in flight to it lands: an accepted set
    (Amazon) may still land, so a new quantity below it is a decrease however low the last
    acknowledged one was."""
    return max(_expected(listing), listing.in_flight_quantity or 0)


def _send(channel: Channel, lane: Lane, attempt: PushAttempt, outcome: PushRound) -> bool:
    """Send one attempt and record its answer. False when the channel failed (stop)."""
    items = [PushItem.from_dict(data) for data in attempt.items]
    outcome.attempts += 1
    result = lane.send(channel, items, attempt.idempotency_key)
    finished = timezone.now()
    with transaction.atomic():
        attempt = lock_one(PushAttempt.objects, pk=attempt.pk)
        attempt.request = result.request or attempt.request
        attempt.response = result.response
        attempt.http_status = result.http_status
        attempt.calls += result.calls
        attempt.throttled += result.throttled
        attempt.error = result.error
        if result.retry:
            # Stays in flight: the next round resends it byte for byte under the same key.
            attempt.save()
            outcome.failed = True
            logger.warning(
                "channel %s: push %s will be resent: %s",
                channel.code,
                attempt.pk,
                result.error,
                extra={"channel": channel.code, "push_attempt_id": attempt.pk},
            )
            return False
        listings = {
            listing.pk: listing
            for listing in lock_rows(
                Listing.objects.filter(pk__in=[item.listing_id for item in items])
            )
        }
        causes = []
        for item in items:
            listing = listings.get(item.listing_id)
            if listing is None or listing.in_flight_attempt_id != attempt.pk:
                continue
            if item.listing_id in result.accepted:
                outcome.accepted += 1  # stays in flight until a read-back shows it
                continue
            if item.listing_id in result.acknowledged:
                _clear_in_flight(listing, attempt)
            else:
                _release(listing, attempt, item)
            if item.listing_id in result.acknowledged:
                # Orders ingested since the claim happened on the channel after our set.
                _acknowledge(listing, item, finished, listing.channel_delta - item.delta_at_claim)
                outcome.acknowledged += 1
                if item.cause_at:
                    causes.append(datetime.fromisoformat(item.cause_at))
            elif item.listing_id in result.refused:
                _refuse(listing, result.refused[item.listing_id], finished)
                outcome.refused += 1
            elif item.listing_id in result.stale:
                outcome.stale += 1
            listing.save()
        stale = [
            listings[i.listing_id]
            for i in items
            if i.listing_id in result.stale and i.listing_id in listings
        ]
        if result.acknowledged and not result.stale and not result.refused:
            attempt.status = PushAttempt.Status.ACKNOWLEDGED
        elif result.stale and not result.acknowledged:
            attempt.status = PushAttempt.Status.STALE
        elif result.refused and not result.acknowledged:
            attempt.status = PushAttempt.Status.REFUSED
        else:
            attempt.status = PushAttempt.Status.ACKNOWLEDGED
        if result.accepted:
            attempt.status = PushAttempt.Status.ACCEPTED
            attempt.confirm_after = finished + lane.confirm_interval
        else:
            attempt.finished_at = finished
            if causes:
                attempt.latency_ms = max(0, int((finished - min(causes)).total_seconds() * 1000))
        attempt.save()
        if result.acknowledged:
            wakeups.notify_on_commit(PUSHES_ACKNOWLEDGED)
    if stale:
        _after_stale(channel, lane, stale, outcome)
    return True


def _acknowledge(listing: Listing, item: PushItem, at: datetime, channel_delta: int) -> None:
    listing.pushed_quantity = item.quantity
    listing.pushed_version = max(listing.pushed_version, item.version)
    listing.pushed_at = at
    listing.channel_delta = channel_delta
    listing.push_error = ""
    listing.push_held_until = None
    listing.unseen_since = None


def _refuse(listing: Listing, reason: str, at: datetime) -> None:
    listing.push_error = reason[:2000]
    listing.push_held_until = at + REFUSED_HOLD


def _confirm(channel: Channel, lane: Lane, attempt: PushAttempt, outcome: PushRound):
    """Read back an accepted attempt. False when the channel failed (stop the round).

    A listing counts as applied when the channel shows our quantity, or our quantity moved by
    the channel's own orders ingested since the claim (they came after the set landed). If
    such an order came before it landed, the set overwrote it: the channel shows exactly our
    quantity, and the planner's next desired quantity (which counts the order) goes next.
    """
    items = [PushItem.from_dict(data) for data in attempt.items]
    result = lane.confirm(channel, items, attempt)
    now = timezone.now()
    overdue = now >= attempt.started_at + lane.apply_deadline
    with transaction.atomic():
        attempt = lock_one(PushAttempt.objects, pk=attempt.pk)
        attempt.calls += result.calls
        attempt.throttled += result.throttled
        if result.response:
            attempt.response = {**attempt.response, "confirm": result.response}
        if result.retry:
            attempt.error = result.error
            attempt.confirm_after = now + lane.confirm_interval
            attempt.save()
            outcome.failed = True
            logger.warning(
                "channel %s: push %s could not be read back: %s",
                channel.code,
                attempt.pk,
                result.error,
            )
            return False
        listings = {
            listing.pk: listing
            for listing in lock_rows(
                Listing.objects.filter(pk__in=[item.listing_id for item in items])
            )
        }
        tally = _ReadBack()
        for item in items:
            listing = listings.get(item.listing_id)
            if listing is None:
                continue
            if listing.in_flight_attempt_id != attempt.pk:
                # Superseded by a newer set, read back in its own turn. If that one already
                # showed, this older one may have landed after it: check it did not undo it.
                _after_late_landing(listing, result.observed.get(item.listing_id), now)
                continue
            _settle_read_back(listing, item, attempt, result, lane, now, overdue, outcome, tally)
            listing.save()
        waiting, causes, refused = tally.waiting, tally.causes, tally.refused
        if waiting:
            attempt.confirm_after = now + lane.confirm_interval
        else:
            attempt.status = (
                PushAttempt.Status.REFUSED
                if refused and not causes
                else PushAttempt.Status.ACKNOWLEDGED
            )
            attempt.finished_at = now
            if causes:
                attempt.latency_ms = max(0, int((now - min(causes)).total_seconds() * 1000))
        attempt.save()
    return True


@dataclass(slots=True)
class _ReadBack:
    waiting: int = 0
    refused: int = 0
    causes: list[datetime] = field(default_factory=list)


def _settle_read_back(
    listing: Listing,
    item: PushItem,
    attempt: PushAttempt,
    result: SendResult,
    lane: Lane,
    now: datetime,
    overdue: bool,
    outcome: PushRound,
    tally: _ReadBack,
) -> None:
    """One listing of an accepted attempt after its read-back (the caller holds its lock and
    saves it): shown, refused, still processing, or not applied."""
    if item.listing_id in result.refused:
        _release(listing, attempt, item)
        _refuse(listing, result.refused[item.listing_id], now)
        outcome.refused += 1
        tally.refused += 1
    elif item.listing_id in result.observed:
        observed = result.observed[item.listing_id]
        listing.observed_quantity = observed
        listing.observed_at = now
        moved = listing.channel_delta - item.delta_at_claim
        problem = result.problems.get(item.listing_id)
        if observed is not None and observed in (item.quantity, item.quantity + moved):
            _clear_in_flight(listing, attempt)
            _acknowledge(listing, item, now, observed - item.quantity)
            outcome.acknowledged += 1
            if item.cause_at:
                tally.causes.append(datetime.fromisoformat(item.cause_at))
        elif overdue:
            why = f"refused in processing ({problem})" if problem else ""
            _not_applied(listing, attempt, item, lane, observed, why=why)
            outcome.not_applied += 1
        else:
            tally.waiting += 1
            if problem:
                listing.push_error = (
                    f"accepted by the channel, not shown yet (it shows {observed}); "
                    f"it reports: {problem}"
                )[:2000]
    elif item.listing_id in result.accepted and not overdue:
        tally.waiting += 1
    else:
        # Not read back and no longer processing: a feed that ended FATAL or CANCELLED (or a
        # lane that lost track of it).
        _not_applied(
            listing,
            attempt,
            item,
            lane,
            listing.observed_quantity,
            why=f"the channel ended it {(result.response or {}).get('feed', 'unread')}",
        )
        outcome.not_applied += 1


def _not_applied(
    listing: Listing,
    attempt: PushAttempt,
    item: PushItem,
    lane,
    observed: int | None,
    *,
    why: str = "",
) -> None:
    # Still due (its pushed version did not move): the next claim sends the newest quantity.
    _release(listing, attempt, item)
    minutes = lane.apply_deadline.total_seconds() / 60
    why = why or f"not shown within {minutes:g} min"
    listing.push_error = f"accepted by the channel but {why} (it shows {observed}); sending again"
    logger.warning(
        "channel listing %s: %s",
        listing.pk,
        listing.push_error,
        extra={"listing_id": listing.pk, "channel_id": listing.channel_id},
    )


def _release(listing: Listing, attempt: PushAttempt, item: PushItem) -> None:
    """The set did not land (refused, not sent, not shown): the listing is no longer in flight
    with it — but an older accepted set it replaced may still land, so that one's bound (I7b)
    and read-back come back."""
    if listing.in_flight_attempt_id != attempt.pk:
        return
    if item.supersedes is not None:
        previous, quantity, version = item.supersedes
        if PushAttempt.objects.filter(pk=previous, status=PushAttempt.Status.ACCEPTED).exists():
            listing.in_flight_attempt_id = previous
            listing.in_flight_quantity = quantity
            listing.in_flight_version = version
            return
    _clear_in_flight(listing, attempt)


def _after_late_landing(listing: Listing, observed: int | None, now: datetime) -> None:
    """An older accepted set was read back after a newer one had shown. Channels without
    compare-and-set apply queued sets late (an Amazon feed takes minutes, a patch seconds):
    if the older one overwrote the newer, the channel shows more than expected, and the
    listing is made due again so the pusher sets it right. Less than expected is left alone:
    that is a sale whose order is on its way (I6), not our own set."""
    if listing.in_flight_attempt_id is not None or observed is None:
        return
    expected = _expected(listing)
    if observed <= expected:
        return
    listing.observed_quantity = observed
    listing.observed_at = now
    listing.push_error = (
        f"an older set landed after a newer one: channel shows {observed}, expected "
        f"{expected}; sending again"
    )
    # What the channel shows is the base now; the desired quantity goes again.
    listing.pushed_quantity = observed
    listing.channel_delta = 0
    listing.pushed_version = min(listing.pushed_version, max(listing.desired_version - 1, 0))
    listing.save()
    logger.warning(
        "channel listing %s: %s",
        listing.pk,
        listing.push_error,
        extra={"listing_id": listing.pk, "channel_id": listing.channel_id},
    )


def _clear_in_flight(listing: Listing, attempt: PushAttempt) -> None:
    if listing.in_flight_attempt_id == attempt.pk:
        listing.in_flight_quantity = None
        listing.in_flight_version = None
        listing.in_flight_attempt = None


def _after_stale(channel: Channel, lane: Lane, stale: list[Listing], outcome: PushRound) -> None:
    """The channel's quantity moved since we last knew it (I6): re-read; never overwrite a
    sale we have not ingested until the grace period says it is drift."""
    levels = lane.read_levels(channel, stale)
    now = timezone.now()
    with transaction.atomic():
        for listing in lock_rows(Listing.objects.filter(pk__in=[s.pk for s in stale])):
            observed = levels.get(listing.pk)
            listing.observed_quantity = observed
            listing.observed_at = now
            expected = _expected(listing)
            observed = observed or 0
            if observed == expected:
                # Orders ingested meanwhile explain it: the next claim compares right.
                listing.unseen_since = None
            elif observed < expected and (
                listing.unseen_since is None or now < listing.unseen_since + UNSEEN_SALE_GRACE
            ):
                if listing.unseen_since is None:
                    listing.unseen_since = now
                listing.push_held_until = listing.unseen_since + UNSEEN_SALE_GRACE
                listing.push_error = (
                    f"channel shows {observed}, {expected - observed} fewer than expected: "
                    "waiting for the order before overwriting"
                )
                outcome.held += 1
            else:
                listing.push_error = (
                    f"drift: channel shows {observed}, expected {expected}; unexplained, "
                    "overwritten"
                )
                logger.warning(
                    "channel %s listing %s: %s", channel.code, listing.pk, listing.push_error
                )
                if observed < expected:
                    # Sold on the channel, never ingested: when its order does come, the set
                    # we send now has already counted it.
                    listing.unseen_sold_items += expected - observed
                listing.channel_delta = observed - (listing.pushed_quantity or 0)
                listing.push_held_until = None
                listing.unseen_since = None
            listing.save()


_local_flights: dict[int, threading.Lock] = {}
_local_guard = threading.Lock()


@contextmanager
def single_flight(channel_id: int) -> Iterator[bool]:
    """At most one pusher per channel across every worker (PostgreSQL advisory lock, held by
    the session and dropped by the server if the worker dies); in-process on SQLite, where
    the demo runs one worker."""
    if connection.vendor == "postgresql":
        key = _advisory_key(channel_id)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            acquired = cursor.fetchone()[0]
        try:
            yield acquired
        finally:
            if acquired:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        return
    with _local_guard:
        lock = _local_flights.setdefault(channel_id, threading.Lock())
    acquired = lock.acquire(blocking=False)
    try:
        yield acquired
    finally:
        if acquired:
            lock.release()


def _advisory_key(channel_id: int) -> int:
    digest = hashlib.blake2b(f"push:{channel_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
