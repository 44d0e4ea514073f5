"""The dead-man switch over real HTTP: a shop that goes quiet, or refuses every push, inside
business hours trips it; the channel then shows its safety quantity until a person clears it;
outside business hours nothing trips; a stalled planner trips it too."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone

from channels.models import Channel, PushAttempt, WorkerHeartbeat
from ledger.models import Location, Sku
from reconciliation import deadman
from reconciliation.models import Alert, DeadManEpisode, DeadManSwitch
from tests.channels.shopify_world import World
from tests.factories import LocationFactory, SkuFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def world(live_server, receive):
    warehouse = LocationFactory(code="WH-EAST")
    receive(SkuFactory(code="TEE-M"), warehouse, 10)
    built = World(live_server.url)
    yield built
    built.close()


@pytest.fixture
def shop(world):
    shop = world.open_shop(
        "shop-a", stock={"TEE-M": 10}, location=Location.objects.get(code="WH-EAST"), seed=1
    )
    world.settle()
    return shop


def always_open(channel: Channel, **hours) -> DeadManSwitch:
    options = {"opens_at": time(0), "closes_at": time(0), "weekdays": [1, 2, 3, 4, 5, 6, 7]}
    switch, _ = DeadManSwitch.objects.update_or_create(
        channel=channel, defaults={**options, **hours}
    )
    return switch


def test_a_quiet_shop_trips_the_switch_and_shows_its_safety_quantity_until_cleared(world, shop):
    always_open(shop.channel)
    Channel.objects.filter(pk=shop.channel.pk).update(safety_quantity=2)
    assert deadman.check() == []  # it spoke a moment ago

    (episode,) = deadman.check(now=timezone.now() + timedelta(minutes=61))

    assert episode.reason == DeadManEpisode.Reason.CHANNEL_QUIET
    assert Alert.objects.filter(kind="dead_man", key=f"channel:{shop.channel.pk}").exists()
    world.settle()
    assert shop.available("TEE-M") == 2
    # Still tripped however long it stays quiet: one episode, until a person clears it.
    assert deadman.check(now=timezone.now() + timedelta(hours=3)) == []
    assert DeadManEpisode.objects.filter(cleared_at=None).count() == 1

    deadman.clear(episode, actor="ops@example.com", reason="shop answering again")
    world.settle()
    assert shop.available("TEE-M") == 10
    episode.refresh_from_db()
    assert (episode.cleared_by, episode.clear_reason) == ("ops@example.com", "shop answering again")
    assert Alert.objects.filter(kind="dead_man_clear").exists()


def test_a_shop_refusing_every_push_trips_the_switch(world, shop, receive):
    always_open(shop.channel)
    shop.sandbox.faults.add("http_500", count=1000)
    receive(Sku.objects.get(code="TEE-M"), Location.objects.get(code="WH-EAST"), 5)
    with pytest.raises(AssertionError):
        world.settle(rounds=3)  # every push fails and is sent again
    failing = PushAttempt.objects.filter(channel=shop.channel).exclude(status="acknowledged")
    assert failing.exists()
    # ...for an hour now, while the shop's webhooks keep coming (its last sign of life is new).
    failing.update(started_at=timezone.now() - timedelta(minutes=61))

    (episode,) = deadman.check()

    assert episode.reason == DeadManEpisode.Reason.PUSHES_FAILING
    assert Channel.objects.get(pk=shop.channel.pk).capped_since is not None


def test_nothing_trips_outside_business_hours(world, shop):
    always_open(
        shop.channel, time_zone="America/New_York", opens_at=time(8), closes_at=time(20),
        weekdays=[1, 2, 3, 4, 5],
    )  # fmt: skip
    today = timezone.now().date()
    saturday = datetime.combine(
        today + timedelta(days=(5 - today.weekday()) % 7 + 7), time(15), UTC
    )
    monday = saturday + timedelta(days=2)  # 15:00 UTC is 10:00 in New York

    assert deadman.check(now=saturday) == []
    assert deadman.check(now=saturday.replace(hour=3) + timedelta(days=2)) == []  # 22:00 Sunday
    # Quiet counts from opening (08:00 in New York, 13:00 UTC), not across the weekend.
    assert deadman.check(now=monday.replace(hour=13, minute=30)) == []
    (episode,) = deadman.check(now=monday)
    assert episode.reason == DeadManEpisode.Reason.CHANNEL_QUIET


def test_a_stalled_planner_trips_the_switch(world, shop):
    always_open(shop.channel)
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(
        kind="planner", defaults={"beat_at": now - timedelta(minutes=30)}
    )
    Sku.objects.filter(code="TEE-M").update(allocation_dirty_since=now - timedelta(minutes=15))

    (episode,) = deadman.check()

    assert episode.reason == DeadManEpisode.Reason.PIPELINE_STALLED
    assert "planner" in episode.detail
