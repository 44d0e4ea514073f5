"""A broker that is down never reaches the request that stored a row: the wake-up after the
commit is logged and left to the sweep, the webhook answers 200, wake-ups pause for a few
seconds instead of each waiting for the broker, and a redelivery of an event still waiting
rings the ingest worker again."""

from __future__ import annotations

import json
import logging

import pytest
from kombu.exceptions import OperationalError

from channels import tasks
from channels.models import InboundEvent
from inventory_sync.lib import loops, wakeups
from tests.channels.test_webhook_intake import post as post_signed
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "shpss_broker_down"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(wakeups.time, "monotonic", clock)
    wakeups.resume()
    yield clock
    wakeups.resume()


class Broker:
    """Stands in for `ingest_task.delay`: records each publish, or fails as kombu does when
    it cannot reach the broker."""

    def __init__(self) -> None:
        self.published: list[tuple] = []
        self.down = False

    def delay(self, *args, **kwargs) -> None:
        if self.down:
            raise OperationalError("Error 111 connecting to 127.0.0.1:6399. Connection refused.")
        self.published.append(args)


@pytest.fixture
def broker(monkeypatch):
    broker = Broker()
    monkeypatch.setattr(tasks.ingest_task, "delay", broker.delay)
    return broker


def forget_loops():
    """No ingest loop alive (as after a broker restart): the next ring publishes."""
    loops._die(tasks.INGEST_LOOP)
    loops._clear(tasks.INGEST_LOOP)


@pytest.fixture
def shop():
    channel = ChannelFactory(code="blink-shop")
    channel.credentials = {"access_token": "shpat_x", "webhook_secret": SECRET}
    channel.save()
    return channel


def post(shop, body: bytes, event_id: str):
    return post_signed(shop, body, secret=SECRET, event_id=event_id)


def order(number: int) -> bytes:
    return json.dumps({"id": number, "created_at": "2026-12-01T10:00:00Z"}).encode()


def test_a_webhook_stored_while_the_broker_is_down_answers_200(shop, broker, clock, caplog):
    forget_loops()
    broker.down = True

    with caplog.at_level(logging.WARNING, logger="inventory_sync.lib.wakeups"):
        response = post(shop, order(1), "e-1")

    assert (response.status_code, response.json) == (200, {"status": "received"})
    assert InboundEvent.objects.filter(status="received").count() == 1
    assert "wake-up ingest failed (OperationalError" in caplog.text
    assert "periodic sweep will catch up" in caplog.text
    assert broker.published == []


def test_wake_ups_pause_after_a_failure_and_the_sweep_resumes_them(shop, broker, clock):
    forget_loops()
    broker.down = True
    tasks.wake_ingest()  # fails: the broker is down
    broker.down = False

    assert post(shop, order(2), "e-2").status_code == 200
    assert broker.published == []  # skipped: the pause spares each request the broker's timeout

    clock.now += wakeups.PAUSE_AFTER_FAILURE_SECONDS
    assert post(shop, order(3), "e-3").status_code == 200
    assert len(broker.published) == 1  # the pause is over: rung again

    forget_loops()
    broker.down = True
    tasks.wake_ingest()
    broker.down = False
    tasks.sweep_task()  # delivered, so the broker is back: no pause for the sweep's rings
    assert len(broker.published) == 2


def test_every_wake_up_swallows_a_broker_error(monkeypatch, clock):
    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(loops, "ring", down)
    for wake in (tasks.wake_planner, tasks.wake_ingest, lambda: tasks.wake_pusher(1)):
        wakeups.resume()
        wake()  # raises nothing


def test_a_redelivery_of_an_event_still_waiting_rings_the_ingest_worker_again(shop, broker, clock):
    forget_loops()
    broker.down = True
    assert post(shop, order(4), "e-4").json == {"status": "received"}  # its wake-up lost
    broker.down = False
    wakeups.resume()

    again = post(shop, order(4), "e-4")

    assert again.json == {"status": "duplicate"}
    assert len(broker.published) == 1
    assert InboundEvent.objects.get().deliveries == 2


def test_a_redelivery_of_an_applied_event_rings_nothing(shop, broker, clock):
    assert post(shop, order(5), "e-5").status_code == 200
    InboundEvent.objects.update(status=InboundEvent.Status.APPLIED)
    forget_loops()
    before = len(broker.published)

    assert post(shop, order(5), "e-5").json == {"status": "duplicate"}
    assert len(broker.published) == before
