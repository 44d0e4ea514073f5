"""The inbound backlog per channel (channels.backlog): how many events wait, how many of them
retry later, how old the oldest is, and whether that is over the channel's push window; and
how the dashboard and the channel page show it to a person who may only read."""

from datetime import timedelta
from itertools import count

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from access.roles import Role
from channels.backlog import ChannelBacklog, inbound_backlog
from channels.models import InboundEvent
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db

_keys = count()


def _event(channel, *, age, status="received", retry_in=None, now):
    return InboundEvent.objects.create(
        channel=channel,
        source="webhook",
        topic="orders/updated",
        dedupe_key=f"event-{next(_keys)}",
        body=b"{}",
        received_at=now - timedelta(seconds=age),
        status=status,
        next_attempt_at=None if retry_in is None else now + timedelta(seconds=retry_in),
    )


def _by_code(rows):
    return {row.channel.code: row for row in rows}


@pytest.fixture
def viewer(django_user_model):
    person = django_user_model.objects.create_user("reader", password="correct-horse")
    person.groups.add(Group.objects.get(name=Role.VIEWER))
    return person


def test_waiting_events_are_counted_per_channel_with_the_age_of_the_oldest():
    now = timezone.now()
    shop, market = ChannelFactory(code="shop"), ChannelFactory(code="market")
    _event(shop, age=0.4, now=now)
    _event(shop, age=0.1, now=now)
    _event(shop, age=0.5, status="failed", now=now)
    # Done with, however old: not the backlog.
    for status in ("applied", "ignored", "quarantined"):
        _event(shop, age=3600, status=status, now=now)
        _event(market, age=3600, status=status, now=now)

    rows = _by_code(inbound_backlog(now=now))

    assert (rows["shop"].waiting, rows["shop"].retrying, rows["shop"].ready) == (3, 0, 3)
    assert rows["shop"].oldest_received_at == now - timedelta(seconds=0.5)
    assert rows["shop"].oldest_age_seconds == pytest.approx(0.5)
    assert rows["market"] == ChannelBacklog(
        channel=market,
        waiting=0,
        retrying=0,
        oldest_received_at=None,
        oldest_age_seconds=None,
        push_window_seconds=0.85,
        urgent=False,
    )


def test_a_channel_is_urgent_once_its_oldest_event_waits_longer_than_its_own_push_window(
    settings,
):
    settings.PUSH_WINDOW_SECONDS = 0.85
    now = timezone.now()
    tight = ChannelFactory(code="tight", push_window_ms=200)
    relaxed = ChannelFactory(code="relaxed", push_window_ms=500)
    exact = ChannelFactory(code="exact", push_window_ms=300)
    default = ChannelFactory(code="default")
    for channel in (tight, relaxed, exact):
        _event(channel, age=0.3, now=now)
    _event(default, age=0.9, now=now)

    rows = _by_code(inbound_backlog(now=now))

    assert rows["tight"].urgent is True
    assert rows["relaxed"].urgent is False
    assert rows["exact"].urgent is False  # at the window, not over it
    assert (rows["default"].push_window_seconds, rows["default"].urgent) == (0.85, True)


def test_events_whose_next_attempt_is_still_ahead_count_as_retrying_and_still_age():
    now = timezone.now()
    shop = ChannelFactory(code="shop", push_window_ms=1000)
    _event(shop, age=30, status="failed", retry_in=60, now=now)  # backing off
    _event(shop, age=0.2, status="received", retry_in=5, now=now)  # put back until it applies
    _event(shop, age=0.1, status="failed", retry_in=-1, now=now)  # due again: ready

    (row,) = inbound_backlog(now=now)

    assert (row.waiting, row.retrying, row.ready) == (3, 2, 1)
    # The stuck retry is the stalest fact: it sets the age and the urgency.
    assert row.oldest_age_seconds == pytest.approx(30)
    assert row.urgent is True


def test_the_backlog_of_every_channel_is_one_aggregate_query(django_assert_num_queries):
    now = timezone.now()
    channels = [ChannelFactory(code=f"shop-{number}") for number in range(5)]
    for channel in channels:
        _event(channel, age=1, now=now)

    with django_assert_num_queries(2):  # the channels, then one GROUP BY over the waiting
        rows = inbound_backlog(now=now)
    with django_assert_num_queries(1):
        given = inbound_backlog(now=now, channels=channels[:2])

    assert [row.waiting for row in rows] == [1] * 5
    assert [row.channel for row in given] == channels[:2]


@pytest.mark.parametrize(
    ("age", "label"),
    [
        (None, ""),
        (0.04, "0.0 s"),
        (1.26, "1.3 s"),
        (59.9, "59.9 s"),
        (754, "12 min"),
        (7380, "2 h 3 min"),
    ],
)
def test_the_age_reads_in_seconds_near_the_window_and_in_minutes_far_past_it(age, label):
    row = ChannelBacklog(None, 1, 0, None, age, 0.85, urgent=False)

    assert row.oldest_age_label == label


def test_the_dashboard_shows_each_channels_inbox_and_marks_the_late_one(client, viewer):
    now = timezone.now()
    late = ChannelFactory(code="late-shop")
    calm = ChannelFactory(code="calm-shop", push_window_ms=600_000)
    ChannelFactory(code="empty-shop")
    _event(late, age=600, status="failed", retry_in=120, now=now)
    _event(late, age=1, now=now)
    _event(calm, age=0, now=now)
    client.force_login(viewer)

    dashboard = client.get(reverse("ledger:dashboard")).content.decode()
    summary = client.get(reverse("reconciliation:dead-man-summary")).content.decode()

    assert f'hx-get="{reverse("reconciliation:dead-man-summary")}"' in dashboard
    assert (
        '<td data-field="inbox" data-waiting="2" data-retrying="1" data-urgent="true">'
        '<span class="badge bad">2 waiting · oldest 10 min</span>'
    ) in summary
    assert "· 1 retrying later" in summary
    assert "over the 0.85 s push window" in summary
    assert '<td data-field="inbox" data-waiting="1" data-retrying="0"><span>1 waiting' in summary
    assert (
        '<td data-field="inbox" data-waiting="0" data-retrying="0"><span class="muted">empty</span>'
    ) in summary
    assert summary.count('data-urgent="true"') == 1


def test_the_channel_page_shows_its_inbox_and_marks_it_late(client, viewer):
    now = timezone.now()
    shop = ChannelFactory(code="shop", push_window_ms=250)
    ChannelFactory(code="quiet")
    _event(shop, age=90, now=now)
    _event(shop, age=5, status="failed", retry_in=30, now=now)
    _event(shop, age=90, status="applied", now=now)
    client.force_login(viewer)

    page = client.get(reverse("channels:channel-detail", args=["shop"])).content.decode()
    empty = client.get(reverse("channels:channel-detail", args=["quiet"])).content.decode()

    assert (
        '<span id="channel-inbox" data-waiting="2" data-retrying="1" data-urgent="true">'
        'inbox: <span class="badge bad">2 waiting, oldest 1 min</span> (1 retrying later), '
        "over the 0.25 s push window</span>"
    ) in page
    assert '<span id="channel-inbox" data-waiting="0" data-retrying="0">inbox empty</span>' in empty
