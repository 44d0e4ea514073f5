"""The second phase of a run: the suspects read again once the grace window has passed; what
still differs is recorded as drift with its probable cause, then resynced or halted."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from channels.lanes.registry import lane_for
from channels.models import Listing
from ledger.models import Sku

from . import alerts, causes, compare, resolve
from .models import Drift, ReconciliationRun
from .runs import LISTING_FIELDS, LaneFactory, Progress, read_channels, shows_otherwise

BRITTLE_WINDOW = timedelta(hours=24)


def brittle_after() -> int:
    """Drift on one listing this many times within a day marks its integration brittle."""
    return int(getattr(settings, "RECONCILE_BRITTLE_AFTER", 3))


def confirm_phase(
    run: ReconciliationRun,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
    lanes: LaneFactory = lane_for,
) -> ReconciliationRun:
    """Read the run's suspects again and settle them. Does nothing before `confirm_after`."""
    now = now or timezone.now()
    if run.status != ReconciliationRun.Status.WAITING:
        return run
    if run.confirm_after and now < run.confirm_after:
        return run
    # Claimed once: the task scheduled for the end of the grace window and the periodic
    # sweep may both come for it.
    claimed = ReconciliationRun.objects.filter(
        pk=run.pk, status=ReconciliationRun.Status.WAITING
    ).update(status=ReconciliationRun.Status.CONFIRMING)
    if not claimed:
        run.refresh_from_db()
        return run
    started = time.monotonic()
    listings = list(
        Listing.objects.filter(pk__in=[int(pk) for pk in run.suspects])
        .select_related("channel")
        .only(
            *LISTING_FIELDS,
            "channel__code",
            "channel__kind",
            "channel__mode",
            "channel__api_base_url",
        )
    )
    groups = defaultdict(list)
    for listing in listings:
        groups[listing.channel].append(listing)
    drifts: list[Drift] = []
    for outcome in read_channels(dict(groups), progress, lanes):
        if outcome.read is None:
            continue
        run.api_calls += outcome.read.calls
        run.throttled += outcome.read.throttled
        drifts.extend(drift_of(run, outcome.channel, outcome.listings, outcome.read))
    _settle(run, drifts, now)
    run.status = ReconciliationRun.Status.DONE
    run.finished_at = timezone.now()
    run.duration_ms = (run.duration_ms or 0) + int((time.monotonic() - started) * 1000)
    run.save()
    if progress:
        progress(f"run {run.pk}: {run.drifted} drifted, {run.resynced} resynced, "
                 f"{run.halted} halted, {run.api_calls} API call(s)")  # fmt: skip
    return run


def drift_of(run, channel, listings: list[Listing], read) -> list[Drift]:
    """Drift rows (unsaved) for the listings that still differ, each with its probable cause."""
    still = [
        listing
        for listing in listings
        if listing.pk in read.levels and shows_otherwise(listing, read.levels[listing.pk])
    ]  # fmt: skip
    if not still:
        return []
    by_id = {listing.pk: listing for listing in still}
    sets = causes.last_sets(channel.pk, by_id)
    refunds = causes.refunded_units(by_id)
    ours = causes.committed_expected(by_id) if read.committed else {}
    found = []
    for listing in still:
        observed = read.levels[listing.pk]
        expected = listing.expected_quantity or 0
        before, last = sets.get(listing.pk, (None, None))
        cause, evidence = causes.probable_cause(
            causes.Evidence(
                expected=expected,
                observed=observed or 0,
                before_last_set=before,
                last_set=last,
                refunded_units=refunds.get(listing.pk, 0),
                committed_observed=read.committed.get(listing.pk),
                committed_expected=ours.get(listing.pk, 0) if read.committed else None,
            )
        )
        found.append(
            Drift(
                run=run,
                channel=channel,
                listing_id=listing.pk,
                sku_id=listing.sku_id,
                expected=expected,
                observed=observed,
                delta=(observed or 0) - expected,
                cause=cause,
                evidence=evidence[:500],
            )
        )
    return found


def record_and_resolve(drifts: list[Drift], *, now: datetime) -> tuple[int, int]:
    """Save drift rows, then resync the small ones and lost writes, halt the large ones.
    Returns (resynced, halted)."""
    if not drifts:
        return 0, 0
    Drift.objects.bulk_create(drifts)
    tiers = dict(
        Sku.objects.filter(pk__in={d.sku_id for d in drifts}).values_list("id", "velocity_tier")
    )
    to_resync: list[Drift] = []
    to_halt: list[Drift] = []
    for drift in drifts:
        threshold = compare.threshold_for(drift.channel.code, tiers.get(drift.sku_id, ""))
        large = compare.is_large(drift.delta, drift.expected, threshold)
        if drift.cause == Drift.Cause.LOST_WRITE or not large:
            to_resync.append(drift)
        else:
            to_halt.append(drift)
    with transaction.atomic():
        resolve.rebase(
            {d.listing_id: d.observed for d in to_resync},
            now=now,
            expected_at_read={d.listing_id: d.expected for d in to_resync},
            unseen=[d.listing_id for d in to_resync if resolve.probably_unseen(d)],
        )
        Drift.objects.filter(pk__in=[d.pk for d in to_resync]).update(
            resolution=Drift.Resolution.RESYNCED,
            resolved_at=now,
            resolved_by=resolve.SYSTEM_ACTOR,
            resolution_reason="small drift: the desired quantity sent again",
        )
    for drift in to_halt:
        drift.resolution_reason = (
            f"drift on {drift.channel.code}: shows {drift.observed}, expected {drift.expected} "
            f"({drift.get_cause_display().lower()})"
        )
    if to_halt:
        resolve.halt_drifts(to_halt, actor=resolve.SYSTEM_ACTOR, now=now)
    for drift in to_halt:
        alerts.raise_alert(
            "drift_halt",
            key=f"listing:{drift.listing_id}",
            subject=f"Halted SKU on {drift.channel.code}: {drift.resolution_reason}",
            link=f"/reconciliation/drift/?listing={drift.listing_id}",
        )
    _flag_brittle(drifts, now)
    return len(to_resync), len(to_halt)


def _settle(run: ReconciliationRun, drifts: list[Drift], now: datetime) -> None:
    resynced, halted = record_and_resolve(drifts, now=now)
    run.drifted = len(drifts)
    run.resynced = resynced
    run.halted = halted
    for code, summary in run.channels.items():
        summary["drifted"] = sum(1 for d in drifts if d.channel.code == code)


def _flag_brittle(drifts: list[Drift], now: datetime) -> None:
    counts = defaultdict(int)
    for listing_id in Drift.objects.filter(
        listing_id__in={d.listing_id for d in drifts}, detected_at__gte=now - BRITTLE_WINDOW
    ).values_list("listing_id", flat=True):
        counts[listing_id] += 1
    for drift in drifts:
        if counts[drift.listing_id] >= brittle_after():
            alerts.raise_alert(
                "brittle",
                key=f"listing:{drift.listing_id}",
                subject=(
                    f"Listing {drift.listing_id} on {drift.channel.code} drifted "
                    f"{counts[drift.listing_id]} times in 24 h: check the integration"
                ),
                link=f"/reconciliation/drift/?listing={drift.listing_id}",
            )
