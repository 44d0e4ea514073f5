"""The push pipeline's rules for channels whose acceptance only means "queued" (Amazon): a
newer set may replace a queued one, but the queued one's bound (I7b) and read-back stay until
it can no longer land. Driven through a lane that queues everything and shows nothing, so the
rules are seen on their own; tests/channels/lanes/amazon/test_amazon_lane.py drives the real lane."""

from datetime import timedelta

import pytest

from channels import push
from channels.lanes.base import Lane
from channels.models import Listing, PushAttempt
from channels.push import SendResult
from tests.factories import ChannelFactory, ListingFactory, SkuFactory

pytestmark = pytest.mark.django_db


class QueueingLane(Lane):
    """Accepts what it is sent and never shows it during a test; `mode` says what the next
    send does with its items (refuse them, or leave them unsent as a trimmed batch)."""

    max_batch = 2000
    confirm_interval = timedelta(hours=1)
    apply_deadline = timedelta(hours=2)

    def __init__(self):
        self.mode = "accept"
        self.sent: list[list[tuple[int, bool]]] = []

    def send(self, channel, items, key):
        self.sent.append([(item.quantity, item.decrease) for item in items])
        result = SendResult()
        for item in items:
            if self.mode == "accept":
                result.accepted.add(item.listing_id)
            elif self.mode == "refuse":
                result.refused[item.listing_id] = "INVALID"
        return result

    def confirm(self, channel, items, attempt):
        return SendResult(accepted={item.listing_id for item in items})

    def read_levels(self, channel, listings):
        return {listing.pk: listing.pushed_quantity for listing in listings}


def queued_increase():
    """Shown 3, an increase to 10 accepted and queued."""
    channel = ChannelFactory(code="amz", kind="amazon")
    listing = ListingFactory(
        channel=channel,
        sku=SkuFactory(code="X"),
        external_id="X",
        ring_fenced=True,
        pushed_quantity=3,
        pushed_version=1,
        desired_quantity=10,
        desired_version=2,
    )
    lane = QueueingLane()
    push.push_channel(channel, lane)
    listing.refresh_from_db()
    assert push.advertised_upper_bound(listing) == 10
    return channel, listing, lane


@pytest.mark.parametrize("mode", ["refuse", "drop"])
def test_a_replacing_set_that_does_not_land_gives_the_queued_set_its_bound_back(mode):
    channel, listing, lane = queued_increase()
    Listing.objects.filter(pk=listing.pk).update(desired_quantity=1, desired_version=3)
    lane.mode = mode
    push.push_channel(channel, lane)
    listing.refresh_from_db()
    assert lane.sent[-1] == [(1, True)]
    # The 10 may still land: the listing may show 10 (I7b), and its read-back still comes.
    assert push.advertised_upper_bound(listing) == 10
    queued = PushAttempt.objects.get(status="accepted")
    assert listing.in_flight_attempt_id == queued.pk


def test_a_quantity_below_a_queued_increase_is_a_decrease_and_goes_at_once():
    channel, listing, lane = queued_increase()
    Listing.objects.filter(pk=listing.pk).update(desired_quantity=5, desired_version=3)
    outcome = push.push_channel(channel, lane)
    assert (outcome.attempts, outcome.rebalance_waiting) == (1, 0)
    assert lane.sent[-1] == [(5, True)]
    listing.refresh_from_db()
    assert push.advertised_upper_bound(listing) == 10  # until the 10 can no longer land


class AcknowledgingLane(Lane):
    max_batch = 250

    def __init__(self):
        self.sent = []

    def send(self, channel, items, key):
        self.sent.append([item.quantity for item in items])
        return SendResult(acknowledged={item.listing_id for item in items})

    def read_levels(self, channel, listings):
        return {listing.pk: 0 for listing in listings}


def test_an_fba_listing_does_not_hold_back_a_ring_fenced_increase_elsewhere():
    sku = SkuFactory(code="MUG")
    amazon = ChannelFactory(code="amz", kind="amazon")
    shop = ChannelFactory(code="shop", kind="shopify")
    # FBA offers sell Amazon's pool and are never set by us, nor read: no bound of ours.
    ListingFactory(
        channel=amazon,
        sku=sku,
        external_id="MUG",
        fulfilment=Listing.Fulfilment.FBA,
        ring_fenced=True,
        desired_quantity=20,
        desired_version=3,
    )
    ListingFactory(
        channel=shop,
        sku=sku,
        ring_fenced=True,
        pushed_quantity=2,
        pushed_version=1,
        desired_quantity=6,
        desired_version=2,
    )
    lane = AcknowledgingLane()
    push.push_channel(shop, lane)
    assert lane.sent == [[6]]


class UnreadableLane(QueueingLane):
    confirm_interval = timedelta(0)

    def confirm(self, channel, items, attempt):
        return SendResult(retry=True, error="searchListingsItems: 503")


def test_a_failing_read_back_does_not_hold_back_new_decreases():
    channel = ChannelFactory(code="amz", kind="amazon")
    ListingFactory(
        channel=channel,
        sku=SkuFactory(code="A"),
        external_id="A",
        pushed_quantity=3,
        pushed_version=1,
        desired_quantity=4,
        desired_version=2,
    )
    lane = UnreadableLane()
    push.push_channel(channel, lane)  # A's increase is queued, its read-back fails from now on
    sold_out = ListingFactory(
        channel=channel,
        sku=SkuFactory(code="B"),
        external_id="B",
        pushed_quantity=10,
        pushed_version=1,
        desired_quantity=0,
        desired_version=2,
    )
    outcome = push.push_channel(channel, lane)
    assert outcome.failed
    assert lane.sent[-1] == [(0, True)]
    sold_out.refresh_from_db()
    assert sold_out.in_flight_quantity == 0


class FinishedFeedClient:
    """The SP-API client's answers for a feed Amazon has finished, whose listing shows one
    less than we set (an Amazon sale on its way to us): read-backs keep waiting for it."""

    on_call = None

    def __init__(self):
        self.report_reads = 0

    def feed(self, feed_id):
        from channels.lanes.amazon.client import FeedStatus

        return FeedStatus(feed_id, None, "DONE", "doc-1", None, None, raw={})

    def feed_report(self, document_id, skus_by_message_id=None):
        from channels.lanes.amazon.client import FeedReport

        self.report_reads += 1
        return FeedReport(None, 1, 1, 0, 0, 0, (), raw={})

    def listing_levels(self, skus):
        from channels.lanes.amazon.client import ListingLevel

        return dict.fromkeys(skus, ListingLevel(7))


def test_a_finished_feed_reads_its_processing_report_once():
    from channels.lanes.amazon.lane import AmazonLane

    channel = ChannelFactory(code="amz", kind="amazon")
    listing = ListingFactory(
        channel=channel,
        sku=SkuFactory(code="C"),
        external_id="C",
        pushed_quantity=3,
        pushed_version=1,
        desired_quantity=8,
        desired_version=2,
    )
    attempt = PushAttempt.objects.create(
        channel=channel,
        idempotency_key="k",
        status="accepted",
        items=[
            {
                "listing": listing.pk,
                "version": 2,
                "quantity": 8,
                "change_from": 3,
                "delta_at_claim": 0,
                "external_id": "C",
            }
        ],  # fmt: skip
        request={"feed": [["C", 8]]},
        response={"feed_id": "F1"},
        confirm_after="2000-01-01T00:00:00Z",
    )
    Listing.objects.filter(pk=listing.pk).update(
        in_flight_attempt=attempt, in_flight_quantity=8, in_flight_version=2
    )
    client = FinishedFeedClient()
    lane = AmazonLane(client=client)
    lane.confirm_interval = timedelta(0)
    for _ in range(12):
        push.push_channel(channel, lane)
    # getFeedDocument allows about one call a minute: the report is read once, then kept.
    assert client.report_reads == 1
    attempt.refresh_from_db()
    assert attempt.status == "accepted"
    assert attempt.response["confirm"]["rejected"] == {}
