"""The dead-man switch sees an ingest worker that is gone: webhooks keep arriving (so the
channel looks alive), but what was stored long ago waits unapplied and the ingest loop has not
beaten since."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.utils import timezone

from channels import inbox
from channels.models import InboundEvent, WorkerHeartbeat
from reconciliation import deadman
from reconciliation.models import DeadManEpisode, DeadManSwitch
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    channel = ChannelFactory(code="ingest-shop")
    DeadManSwitch.objects.update_or_create(
        channel=channel,
        defaults={"opens_at": time(0), "closes_at": time(0), "weekdays": [1, 2, 3, 4, 5, 6, 7]},
    )
    return channel


def webhook(channel, key: str, *, minutes_ago: int) -> None:
    stored = inbox.store(
        channel=channel, source="webhook", topic="orders/create", dedupe_key=key, body=b"{}"
    )
    at = timezone.now() - timedelta(minutes=minutes_ago)
    InboundEvent.objects.filter(pk=stored.id).update(received_at=at)


def ingest_beat(minutes_ago: int) -> None:
    WorkerHeartbeat.objects.update_or_create(
        kind="ingest", defaults={"beat_at": timezone.now() - timedelta(minutes=minutes_ago)}
    )


def test_events_waiting_with_a_silent_ingest_worker_trip_the_switch(shop):
    webhook(shop, "old", minutes_ago=15)
    webhook(shop, "new", minutes_ago=0)  # the channel is alive
    ingest_beat(minutes_ago=30)

    (episode,) = deadman.check()

    assert episode.reason == DeadManEpisode.Reason.PIPELINE_STALLED
    assert "ingest" in episode.detail


def test_a_working_ingest_worker_with_a_backlog_trips_nothing(shop):
    webhook(shop, "old", minutes_ago=15)
    webhook(shop, "new", minutes_ago=0)
    ingest_beat(minutes_ago=0)

    assert deadman.check() == []
