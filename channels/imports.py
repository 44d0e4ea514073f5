"""A channel's listings import started from the console and run by a worker, its progress
written as it goes (the channel page polls it)."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from inventory_sync.lib.errors import Conflict

from .lanes.base import ChannelError, CredentialsError
from .lanes.registry import lane_for_kind
from .models import Channel, MappingImport

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 25  # items read between two progress writes
UNMATCHED_KEPT = 100


def start_import(channel: Channel, *, actor: str) -> MappingImport:
    """Record an import of the channel's listings for a worker to run
    (channels.tasks.import_mapping_task, queued by the caller once this commits); Conflict
    while one is running."""
    try:
        with transaction.atomic():
            return MappingImport.objects.create(channel=channel, requested_by=actor)
    except IntegrityError:
        raise Conflict(f"An import of {channel.name}'s listings is running already.") from None


def run_import(import_id: int) -> MappingImport:
    """Run a queued import (the worker's task): the lane reads the channel's catalogue and maps
    what it can; progress is written every PROGRESS_EVERY items."""
    job = MappingImport.objects.select_related("channel").get(pk=import_id)
    if job.status != MappingImport.Status.RUNNING:
        return job  # a redelivered task: it ran already
    lane = lane_for_kind(job.channel.kind)

    def progress(count: int, _item) -> None:
        if count % PROGRESS_EVERY == 0:
            MappingImport.objects.filter(pk=job.pk).update(read=count)

    try:
        report = lane.import_mapping(job.channel, progress=progress)
    except (ChannelError, CredentialsError, NotImplementedError) as error:
        logger.warning(
            "channel %s: listings import failed: %s", job.channel.code, error,
            extra={"channel": job.channel.code, "mapping_import_id": job.pk},
        )  # fmt: skip
        return _finish(job, status=MappingImport.Status.FAILED, error=str(error) or "no import")
    missing = report.unmatched + report.ambiguous
    return _finish(
        job,
        status=MappingImport.Status.DONE,
        read=report.already_mapped + len(report.created) + len(missing),
        created=len(report.created),
        already_mapped=report.already_mapped,
        unmatched=[lane.describe_unmapped(row) for row in missing[:UNMATCHED_KEPT]],
        unmatched_count=len(missing),
    )


def _finish(job: MappingImport, **fields) -> MappingImport:
    for name, value in fields.items():
        setattr(job, name, value)
    job.finished_at = timezone.now()
    job.save()
    return job
