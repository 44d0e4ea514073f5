"""The registry is the only switch on channel kind: a kind added there (here a stand-in POS
lane) is served by the core's ingest, webhook URLs, polling and beat schedule without any
other change, and the Amazon jobs keep the task names beat rows already carry."""

import json

import pytest
from django.conf import settings
from django.urls import path

from channels import inbound, polling, wiring
from channels.lanes import registry
from channels.lanes.base import Lane, PeriodicJob, PolledOrder
from channels.models import Channel, InboundEvent
from inventory_sync.celery import app
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db


def _sale(channel, payload, event):
    return InboundEvent.Status.APPLIED, f"sale of {payload['units']} at till {payload['till']}"


class TillLane(Lane):
    kind = Channel.Kind.POS
    label = "Store POS"
    orders_poll_seconds = 0
    inbound_handlers = {"sale": _sale}
    supersede_keys = {"count": lambda payload: (payload["till"],)}
    periodic_jobs = (PeriodicJob("pos-tills", "channels.tasks.sweep_task", 300.0, 60),)

    def poll_orders(self, channel, since, until):
        yield PolledOrder("T-1", "stamp-1", None, None, {"units": 2, "till": 4}, "sale")

    def webhook_urls(self):
        return [path("pos/<int:channel_id>/", lambda request, channel_id: None, name="pos")]


@pytest.fixture
def till_lane(monkeypatch):
    monkeypatch.setitem(registry.LANES, Channel.Kind.POS, TillLane)
    monkeypatch.setattr(registry, "_shared", {})
    return ChannelFactory(code="store-1", kind=Channel.Kind.POS)


def store(channel, topic, body, key):
    return inbound.store(
        channel=channel, source="webhook", topic=topic, dedupe_key=key,
        body=json.dumps(body).encode(),
    )  # fmt: skip


def test_ingest_applies_a_new_kinds_topics_through_its_lane(till_lane):
    stored = store(till_lane, "sale", {"units": 2, "till": 4}, "sale-1")
    unknown = store(till_lane, "refund", {"till": 4}, "refund-1")

    inbound.process_pending()

    applied = InboundEvent.objects.get(pk=stored.id)
    assert (applied.status, applied.outcome) == ("applied", "sale of 2 at till 4")
    ignored = InboundEvent.objects.get(pk=unknown.id)
    assert (ignored.status, ignored.outcome) == ("ignored", "no handler for pos refund")


def test_only_the_newest_event_of_a_lanes_superseding_key_is_applied(till_lane):
    older = store(till_lane, "count", {"till": 4, "n": 1}, "count-1")
    newer = store(till_lane, "count", {"till": 4, "n": 2}, "count-2")
    other_till = store(till_lane, "count", {"till": 5, "n": 1}, "count-3")

    inbound.process_pending()

    statuses = dict(InboundEvent.objects.values_list("id", "outcome"))
    assert statuses[older.id] == "superseded by a newer level of the same item"
    # No handler for "count" here: the survivors reach the lane and are ignored by it.
    assert statuses[newer.id] == statuses[other_till.id] == "no handler for pos count"


def test_polling_reads_a_new_kinds_orders_through_its_lane(till_lane):
    polling.poll_orders(till_lane)  # the first poll only starts the watermark
    till_lane.refresh_from_db()

    outcome = polling.poll_orders(till_lane)

    assert (outcome.seen, outcome.stored) == (1, 1)
    assert InboundEvent.objects.get(source="poll").topic == "sale"


def test_a_new_kinds_webhook_url_and_jobs_come_from_its_lane(till_lane, monkeypatch):
    monkeypatch.setattr(settings, "CELERY_BEAT_SCHEDULE", {})

    wiring.connect()

    assert [p.name for p in registry.webhook_urlpatterns()] == ["shopify", "amazon", "pos"]
    assert settings.CELERY_BEAT_SCHEDULE["pos-tills"]["task"] == "channels.tasks.sweep_task"


def test_a_kind_without_a_lane_says_so():
    channel = ChannelFactory(code="wholesale", kind=Channel.Kind.EDI)

    with pytest.raises(NotImplementedError, match="no lane for channel kind 'edi'"):
        registry.lane_for(channel)
    assert registry.lane_for_kind(Channel.Kind.EDI).inbound_handlers == {}


def test_amazons_jobs_keep_their_beat_entries_and_task_names():
    schedule = app.conf.beat_schedule

    assert {
        name: schedule[name]["task"] for name in schedule if "fba" in name or "amazon" in name
    } == {
        "channels-sync-fba-returns": "channels.tasks.sync_fba_returns_task",
        "channels-sync-fba": "channels.tasks.sync_fba_inventory_task",
        "channels-check-amazon-fulfilment": "channels.tasks.check_amazon_fulfilment_task",
    }
    for job in registry.periodic_jobs():
        assert job.task in app.tasks, job.task


def test_an_entry_in_settings_wins_over_a_lanes_default(monkeypatch):
    mine = {"task": "channels.tasks.sync_fba_inventory_task", "schedule": 60.0}
    monkeypatch.setattr(settings, "CELERY_BEAT_SCHEDULE", {"channels-sync-fba": mine})

    wiring.connect()

    assert settings.CELERY_BEAT_SCHEDULE["channels-sync-fba"] is mine
