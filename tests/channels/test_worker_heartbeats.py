"""The channel list shows each worker queue's last heartbeat and its age (stale when beat
stopped reaching it), and each loop's; a heartbeat task records its queue's beat."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from channels import health, tasks
from channels.models import WorkerHeartbeat
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db


def beat(kind: str, seconds_ago: float) -> None:
    WorkerHeartbeat.objects.update_or_create(
        kind=kind, defaults={"beat_at": timezone.now() - timedelta(seconds=seconds_ago)}
    )


def row(page: str, kind: str) -> str:
    found = re.search(rf'<tr data-worker="{re.escape(kind)}"[^>]*>.*?</tr>', page, re.S)
    assert found, f"no row for {kind}"
    return found.group(0)


def test_the_channel_list_shows_each_queue_and_loop_heartbeat_with_its_age(client, user):
    shop = ChannelFactory(code="beat-shop", name="Beat shop")
    beat("queue:ingest", 12)
    beat("queue:push", 600)
    beat("ingest", 3)
    beat(f"push:{shop.pk}", 40)
    client.force_login(user)

    page = client.get(reverse("channels:channel-list")).content.decode()

    ingest = row(page, "queue:ingest")
    assert "ingest queue" in ingest
    assert "12 s" in ingest
    assert "stale" not in ingest
    assert "stale" in row(page, "queue:push")  # 10 minutes: no worker takes that queue
    assert "never" in row(page, "queue:reconcile")
    assert "pusher of Beat shop" in row(page, f"push:{shop.pk}")
    assert "3 s" in row(page, "ingest")


def test_a_heartbeat_task_records_its_queue(monkeypatch):
    monkeypatch.setattr(health, "_last_beats", {})
    tasks.worker_heartbeat_task("reconcile")

    recorded = WorkerHeartbeat.objects.get(kind="queue:reconcile").beat_at
    assert timezone.now() - recorded < timedelta(minutes=1)


def test_beat_sends_a_heartbeat_through_every_worker_queue(settings):
    sent = {
        entry["options"]["queue"]
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == "channels.tasks.worker_heartbeat_task"
    }
    assert sent == set(settings.WORKER_QUEUES) == {"ingest", "push", "default", "reconcile"}


def test_the_beat_check_fails_until_a_queue_heartbeat_is_fresh():
    with pytest.raises(CommandError, match="is beat running"):
        call_command("worker_heartbeats", "--beat-within", "120", stdout=StringIO())
    beat("queue:default", 300)
    with pytest.raises(CommandError):
        call_command("worker_heartbeats", "--beat-within", "120", stdout=StringIO())
    beat("queue:ingest", 20)
    out = StringIO()
    call_command("worker_heartbeats", "--beat-within", "120", stdout=out)
    assert "ingest queue" in out.getvalue()
    assert "20 s" in out.getvalue()
