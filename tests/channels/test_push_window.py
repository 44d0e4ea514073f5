"""When a channel's pusher calls: at once after a quiet spell, else a window after the oldest
waiting change (channels.push.push_wait), and the channel's own window over the default."""

from datetime import timedelta

import pytest
from django.utils import timezone

from channels import push
from tests.factories import ChannelFactory, ListingFactory

WINDOW = timedelta(milliseconds=900)


def test_first_change_after_a_quiet_spell_goes_at_once():
    now = timezone.now()
    assert push.push_wait(now=now, last_call_at=None, oldest_cause_at=now, window=WINDOW) == 0
    quiet = now - timedelta(seconds=2)
    assert push.push_wait(now=now, last_call_at=quiet, oldest_cause_at=now, window=WINDOW) == 0


def test_during_a_stream_the_call_waits_until_the_oldest_change_has_waited_the_window():
    now = timezone.now()
    wait = push.push_wait(
        now=now,
        last_call_at=now - timedelta(milliseconds=200),
        oldest_cause_at=now - timedelta(milliseconds=150),
        window=WINDOW,
    )
    assert wait == pytest.approx(0.75)


def test_the_call_starts_a_calls_time_early_so_the_oldest_is_acknowledged_at_the_window():
    now = timezone.now()
    stream = {
        "now": now,
        "last_call_at": now - timedelta(milliseconds=200),
        "oldest_cause_at": now - timedelta(milliseconds=150),
        "window": WINDOW,
    }
    assert push.push_wait(**stream, call_seconds=0.12) == pytest.approx(0.63)
    # A channel answering slowly never turns the window into a call per change.
    assert push.push_wait(**stream, call_seconds=5) == pytest.approx(0.3)


def test_a_change_that_already_waited_the_window_goes_at_once():
    now = timezone.now()
    wait = push.push_wait(
        now=now,
        last_call_at=now - timedelta(milliseconds=100),
        oldest_cause_at=now - timedelta(seconds=1),
        window=WINDOW,
    )
    assert wait == 0


def test_a_cause_stamped_in_the_future_never_waits_more_than_the_window():
    # The cause is the database's clock, the wait the worker's: a step between them must not
    # stall a channel.
    now = timezone.now()
    wait = push.push_wait(
        now=now,
        last_call_at=now - timedelta(milliseconds=10),
        oldest_cause_at=now + timedelta(minutes=5),
        window=WINDOW,
    )
    assert wait == pytest.approx(WINDOW.total_seconds())


@pytest.mark.django_db
def test_a_channel_window_overrides_the_default(settings):
    settings.PUSH_WINDOW_SECONDS = 0.9
    assert ChannelFactory().push_window == timedelta(seconds=0.9)
    assert ChannelFactory(push_window_ms=2500).push_window == timedelta(seconds=2.5)


@pytest.mark.django_db
def test_oldest_due_cause_is_the_oldest_change_still_to_push():
    channel = ChannelFactory()
    now = timezone.now()
    assert push.oldest_due_cause(channel) is None
    pushed = ListingFactory(channel=channel, desired_quantity=3, desired_version=1)
    pushed.pushed_version = 1
    pushed.desired_cause_at = now - timedelta(minutes=10)
    pushed.save()
    older = now - timedelta(seconds=3)
    for cause_at in (now - timedelta(seconds=1), older):
        ListingFactory(
            channel=channel, desired_quantity=5, desired_version=2, desired_cause_at=cause_at
        )
    assert push.oldest_due_cause(channel) == older
