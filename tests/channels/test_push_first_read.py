"""A listing never pushed is read from the channel first (so even its first set compares). When
that read fails because something is down for a moment (the channel, or the Redis that holds
the shop's shared rate limit), the round fails and nothing is held: the listing goes as soon
as the read works. Only a read the channel refuses holds the listings it named, so the other
listings go on."""

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from channels import push
from channels.lanes.base import ChannelError, Lane
from channels.push import SendResult
from tests.factories import ChannelFactory, ListingFactory, SkuFactory

pytestmark = pytest.mark.django_db


class Unavailable(ChannelError):
    retryable = True


class Refused(ChannelError):
    retryable = False


class FirstReadLane(Lane):
    """Its read raises `failure` while one is set; it acknowledges every set."""

    max_batch = 250

    def __init__(self, failure: Exception | None):
        self.failure = failure
        self.sent: list[list[int]] = []

    def read_levels(self, channel, listings):
        if self.failure is not None:
            raise self.failure
        return {listing.pk: 40 for listing in listings}

    def send(self, channel, items, key):
        self.sent.append([item.quantity for item in items])
        return SendResult(acknowledged={item.listing_id for item in items})


def never_pushed_listing():
    channel = ChannelFactory(code="shop")
    listing = ListingFactory(
        channel=channel, sku=SkuFactory(code="TEE"), desired_quantity=31, desired_version=1
    )
    assert listing.pushed_quantity is None
    return channel, listing


@pytest.mark.parametrize(
    "failure",
    [
        RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
        Unavailable("503 from the shop"),
    ],
    ids=["rate-limit-redis-down", "channel-unavailable"],
)
def test_a_first_read_that_fails_for_a_moment_holds_nothing(failure):
    channel, listing = never_pushed_listing()
    lane = FirstReadLane(failure)

    outcome = push.push_channel(channel, lane)

    assert outcome.failed  # the pusher tries again after a short pause
    listing.refresh_from_db()
    assert listing.push_held_until is None
    assert push.due_count(channel) == 1
    assert lane.sent == []

    lane.failure = None  # back
    outcome = push.push_channel(channel, lane)

    assert (outcome.failed, outcome.acknowledged, lane.sent) == (False, 1, [[31]])
    listing.refresh_from_db()
    assert (listing.pushed_quantity, listing.pushed_version) == (31, 1)


def test_a_first_read_the_channel_refuses_holds_those_listings():
    channel, listing = never_pushed_listing()
    lane = FirstReadLane(Refused("ACCESS_DENIED: inventory item"))

    outcome = push.push_channel(channel, lane)

    assert not outcome.failed
    listing.refresh_from_db()
    assert listing.push_held_until is not None
    assert "ACCESS_DENIED" in listing.push_error
    assert push.due_count(channel) == 0  # held: the channel's other listings go on
