"""Celery entry points of the channels app: thin wrappers around loops of service calls.

Three kinds of loop, each woken by a doorbell (inventory_sync.lib.loops) so a burst of
events costs a handful of tasks, not one per event: ingest (apply stored webhooks), planner
(dirty SKUs → listings' desired state), and one pusher per channel. A periodic sweep rings
them all: the durable work list is always in the database.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from functools import partial

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from inventory_sync.lib import loops, wakeups

from . import (
    demo_warehouse,
    fulfilment,
    fulfilment_sync,
    health,
    imports,
    inbound,
    outbox,
    planner,
    push,
    routing,
)
from .lanes import registry
from .models import Channel
from .polling import poll_orders

logger = logging.getLogger(__name__)

PLANNER_LOOP = "planner"
INGEST_LOOP = "ingest"
SHIPMENTS_LOOP = "shipments"
FULFILMENT_LOOP = "fulfilment-requests"


def _push_loop(channel_id: int) -> str:
    return f"push:{channel_id}"


# --- wake-ups (called on commit) -------------------------------------------------------------
# Each one runs after its transaction committed, often inside a request: a broker (or doorbell)
# error is logged and left to the periodic sweep, never raised (inventory_sync.lib.wakeups).


def wake_planner() -> None:
    wakeups.attempt(PLANNER_LOOP, partial(loops.ring, PLANNER_LOOP, plan_allocations_task.delay))


def _ingest_loop(slot: int) -> str:
    return INGEST_LOOP if slot == 0 else f"{INGEST_LOOP}:{slot}"


def wake_ingest(slot: int = 0) -> None:
    name = _ingest_loop(slot)
    wakeups.attempt(name, partial(loops.ring, name, partial(ingest_task.delay, slot)))


def wake_pusher(channel_id: int) -> None:
    name = _push_loop(channel_id)
    wakeups.attempt(name, partial(loops.ring, name, partial(push_channel_task.delay, channel_id)))


def wake_shipments() -> None:
    wakeups.attempt(
        SHIPMENTS_LOOP, partial(loops.ring, SHIPMENTS_LOOP, deliver_shipments_task.delay)
    )


def wake_fulfilment_requests() -> None:
    wakeups.attempt(
        FULFILMENT_LOOP,
        partial(loops.ring, FULFILMENT_LOOP, deliver_fulfilment_requests_task.delay),
    )


def wake_pushers(channel_ids=None) -> None:
    ids = channel_ids
    if ids is None:
        ids = Channel.objects.filter(mode=Channel.Mode.LIVE).values_list("id", flat=True)
    for channel_id in ids:
        wake_pusher(channel_id)


# --- loops -------------------------------------------------------------------------------------


def _plan_round() -> bool:
    outcome = planner.plan_dirty_skus()
    health.beat(PLANNER_LOOP)
    for sku_id in outcome.stranded:
        routing.unstrand_sku(sku_id)  # its events mark the SKU dirty: the next round plans it
    if outcome.listings_changed:
        wake_pushers()
    return outcome.skus > 0


@shared_task(ignore_result=True)
def plan_allocations_task() -> int:
    """Recompute listings of dirty SKUs while there are any (and briefly after).

    Idempotent: recomputing a clean SKU writes nothing. No retry: the periodic sweep runs it
    again, and the dirty flags are the durable record of what is still to do.
    """
    return loops.run(PLANNER_LOOP, _plan_round, plan_allocations_task.delay)


@shared_task(ignore_result=True)
def ingest_task(slot: int = 0) -> int:
    """One of settings.INGEST_LOOPS ingest loops. Every stored event rings the first; a loop
    that finds more than a claim's worth waiting brings in the next, so a quiet shop runs one
    loop and a flash sale all of them, sharing the inbox through SKIP LOCKED claims."""

    def round_() -> bool:
        applied = inbound.process_pending(limit=INGEST_ROUND_EVENTS)
        health.beat(INGEST_LOOP)
        if applied >= inbound.CLAIM_SIZE and slot + 1 < settings.INGEST_LOOPS:
            wake_ingest(slot + 1)
        return applied > 0

    return loops.run(_ingest_loop(slot), round_, partial(ingest_task.delay, slot))


# Events one ingest round reads: two claims, so a loop looks up from its work (and calls in
# the next loop) every few hundred milliseconds during a backlog.
INGEST_ROUND_EVENTS = 2 * inbound.CLAIM_SIZE


@shared_task(ignore_result=True)
def push_channel_task(channel_id: int) -> int:
    """The channel's pusher. The first change after a quiet spell goes at once; during a
    stream a call goes so that the oldest waiting change is acknowledged when it has waited
    the channel's push window (push.push_wait), so each call carries every change of that
    window."""
    last_call_at = None
    failures = 0
    # How long this pusher's last few calls took (the round: claim, call, acknowledgement).
    recent_calls: deque[float] = deque(maxlen=8)

    def round_() -> bool:
        nonlocal last_call_at, failures
        channel = Channel.objects.filter(pk=channel_id).first()
        if channel is None:
            return False
        oldest = push.oldest_due_cause(channel)
        if oldest is None and last_call_at is not None and not failures:
            # Nothing due. (A loop's first round and a round after a failure still go: they
            # resend an attempt left in flight, which is not due but waits for its answer.)
            next_read = push.next_confirm_at(channel)
            if next_read is None:
                return False
            # An accepted push (Amazon) waits to be read back: stay for it rather than leave
            # it to the periodic sweep.
            wait = (next_read - timezone.now()).total_seconds()
            if wait > 0:
                time.sleep(min(wait, loops.ALIVE_SECONDS / 2))
                return True
        if oldest is not None:
            wait = push.push_wait(
                now=timezone.now(),
                last_call_at=last_call_at,
                oldest_cause_at=oldest,
                window=channel.push_window,
                # The slowest of them: the window is a deadline for the oldest change.
                call_seconds=max(recent_calls, default=0.0),
            )
            # A plan made meanwhile rings us: its change may be older than the one we wait for
            # (ingest and the planner took longer over it), and due sooner. Look again.
            if wait > 0 and loops.pause(_push_loop(channel_id), wait):
                return True
        started = time.monotonic()
        outcome = push.push_channel(channel, registry.lane_for(channel))
        health.beat(_push_loop(channel_id))
        if outcome.attempts:
            last_call_at = timezone.now()
            recent_calls.append(time.monotonic() - started)
        elif outcome.already_shown:
            # Settling what the channel already shows (its own sales took it there) needs no
            # call, but it locks the channel's listings that its orders' ingest wants: such
            # rounds keep the window's pace too, rather than one per sale.
            last_call_at = timezone.now()
        settled = outcome.acknowledged + outcome.already_shown + outcome.stale
        if settled and channel.listings.filter(ring_fenced=True).exists():
            # A confirmed (or re-read) decrease may let another channel's increase go
            # (break-before-make).
            wake_pushers(
                Channel.objects.filter(mode=Channel.Mode.LIVE)
                .exclude(pk=channel_id)
                .values_list("id", flat=True)
            )
        if outcome.failed:
            # The channel is down or throttling hard: try again here with a growing pause
            # (kept under the loop's alive mark), rather than wait for the sweep.
            failures += 1
            time.sleep(min(2**failures * 0.5, loops.ALIVE_SECONDS * 0.8))
            return True
        failures = 0
        return (outcome.attempts + outcome.already_shown + outcome.acknowledged) > 0

    return loops.run(_push_loop(channel_id), round_, lambda: push_channel_task.delay(channel_id))


@shared_task(ignore_result=True)
def sweep_task() -> None:
    """The periodic safety net: ring every loop that may have work a lost wake-up left."""
    # Delivered, so the broker is back: this worker process stops skipping wake-ups at once,
    # so the rings below go out. The pause is per process; the web processes and the other
    # workers each end theirs by themselves, 5 s after their own last failed wake-up.
    wakeups.resume()
    wake_planner()
    wake_ingest()
    wake_pushers()


@shared_task(ignore_result=True)
def deliver_shipments_task() -> int:
    """Confirm due shipments on their channels while there are any (channels.outbox).

    Idempotent: each shipment is claimed by one worker at a time and confirmed once. No task
    retry: a failed confirmation carries its own next attempt, which the sweep picks up.
    """

    def round_() -> bool:
        return outbox.deliver_due_shipments().attempted > 0

    return loops.run(SHIPMENTS_LOOP, round_, deliver_shipments_task.delay)


@shared_task(ignore_result=True)
def deliver_fulfilment_requests_task() -> int:
    """Send due fulfilment requests to their partners' webhooks (channels.fulfilment); the
    same claim and retry rules as shipments."""

    def round_() -> bool:
        return fulfilment.deliver_due_requests().attempted > 0

    return loops.run(FULFILMENT_LOOP, round_, deliver_fulfilment_requests_task.delay)


@shared_task(ignore_result=True)
def sweep_outboxes_task() -> None:
    """Every minute (beat): ring the shipment and fulfilment-request deliveries, which pick
    up retries that came due and any wake-up that was lost."""
    wakeups.resume()
    wake_shipments()
    wake_fulfilment_requests()


@shared_task(ignore_result=True)
def worker_heartbeat_task(queue: str) -> None:
    """Beat sends one to each queue: the console shows, per queue, when a worker last took
    one (a worker that exited, or cannot reach the broker, stops beating)."""
    health.beat(health.queue_kind(queue))


@shared_task(ignore_result=True)
def poll_orders_task() -> int:
    """Every live or shadow channel's orders since its watermark (the net under webhooks and
    notifications). Runs every minute; a lane may ask for a longer interval between two
    polls of one channel (Amazon's searchOrders allows about one call in three minutes)."""
    stored = 0
    channels = Channel.objects.filter(kind__in=registry.kinds_polling_orders()).exclude(
        mode=Channel.Mode.PAUSED
    )
    for channel in channels.order_by("id"):
        every = registry.lane_for_kind(channel.kind).orders_poll_seconds or 0
        if every > 5 and not cache.add(
            f"inventory-sync:orders-poll:{channel.pk}", 1, timeout=every - 5
        ):
            continue
        try:
            stored += poll_orders(channel).stored
        except Exception:  # one channel's outage must not stop the others' polls
            logger.exception("channel %s: order poll failed", channel.code)
    return stored


@shared_task(ignore_result=True)
def reroute_for_rules_task() -> int:
    """The routing rules changed: move the open lines whose place changes (channels.routing)."""
    return routing.apply_rule_change()


def wake_rule_change() -> None:
    wakeups.attempt("routing-rules", reroute_for_rules_task.delay)


@shared_task(ignore_result=True)
def sync_fulfilment_requests_task() -> None:
    """Ask fulfilment partners for what was routed to them, withdraw what moved away
    (channels.fulfilment_sync): on a routing wake-up and every minute (beat)."""
    fulfilment_sync.sync_requests()


def wake_fulfilment_sync() -> None:
    wakeups.attempt("fulfilment-sync", sync_fulfilment_requests_task.delay)


@shared_task(ignore_result=True)
def demo_warehouse_task() -> int:
    """Demo mode only (beat): the demo's warehouse ships waiting merchant orders."""
    return demo_warehouse.ship_waiting()


@shared_task(ignore_result=True)
def import_mapping_task(import_id: int) -> str:
    """A listings import a person started from the console (channels.imports)."""
    return imports.run_import(import_id).status
