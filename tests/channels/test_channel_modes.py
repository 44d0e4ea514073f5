"""A channel's mode switched from its page (shadow / live / paused, with a reason and the
audit trail), and a listing pushed again on demand."""

from __future__ import annotations

import pytest
from django.urls import reverse

from access.models import AuditEntry
from access.roles import Role
from channels import modes, push
from channels.lanes.base import Lane, SendResult
from channels.models import Channel, Listing
from inventory_sync.lib.errors import Conflict, DomainError
from tests.factories import ChannelFactory, ListingFactory, SkuFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client, person_of):
    client.force_login(person_of(Role.OPERATOR, "operator"))
    return client


@pytest.fixture
def shop():
    return ChannelFactory(code="shop", name="Shop", mode=Channel.Mode.LIVE)


def test_the_mode_changes_once_and_says_so_otherwise(shop):
    assert modes.change_mode(shop, "paused").mode == "paused"
    with pytest.raises(Conflict, match="paused already"):
        modes.change_mode(shop, "paused")
    with pytest.raises(DomainError, match="No mode 'loud'"):
        modes.change_mode(shop, "loud")
    assert Channel.objects.get(pk=shop.pk).mode == "paused"


class RecordingLane(Lane):
    """Acknowledges every set and keeps the listings it was asked to set."""

    max_batch = 250

    def __init__(self):
        self.sent = []

    def send(self, channel, items, key):
        self.sent.extend(items)
        return SendResult(acknowledged={item.listing_id for item in items})

    def read_levels(self, channel, listings):
        return {listing.pk: listing.expected_quantity for listing in listings}


def test_a_paused_channel_sends_nothing_and_going_live_sends_what_is_due(shop, operator):
    listing = ListingFactory(
        channel=shop, sku=SkuFactory(), desired_quantity=4, desired_version=2, pushed_version=1
    )
    url = reverse("channels:channel-mode", args=[shop.code])

    response = operator.post(url, {"mode": "paused", "reason": "stocktake"}, HTTP_HX_REQUEST="true")

    page = response.content.decode()
    assert 'data-mode="paused"' in page
    assert "Now paused." in page
    shop.refresh_from_db()
    assert push.push_channel(shop, RecordingLane()).skipped == "paused"
    entry = AuditEntry.objects.get(action="channel.mode")
    assert (entry.before["mode"], entry.after["mode"], entry.reason) == (
        "live",
        "paused",
        "stocktake",
    )
    # the same mode again, or no reason: refused, said beside the form
    again = operator.post(url, {"mode": "paused", "reason": "x"}, HTTP_HX_REQUEST="true")
    assert "paused already" in again.content.decode()
    blank = operator.post(url, {"mode": "live", "reason": " "}, HTTP_HX_REQUEST="true")
    assert "Say why the mode changes" in blank.content.decode()
    assert AuditEntry.objects.filter(action="channel.mode").count() == 1

    operator.post(url, {"mode": "live", "reason": "stocktake done"})
    shop.refresh_from_db()
    assert shop.mode == "live"
    assert listing.pk in {item.listing_id for item in _pushed(shop)}


def _pushed(shop):
    lane = RecordingLane()
    push.push_channel(shop, lane)
    return lane.sent


def test_push_now_sends_an_in_sync_listing_again(shop, operator):
    listing = ListingFactory(
        channel=shop, sku=SkuFactory(), desired_quantity=6, desired_version=3, pushed_version=3,
        pushed_quantity=6,
    )  # fmt: skip
    assert _pushed(shop) == []

    response = operator.post(
        reverse("reconciliation:listing-push-now"), {"listing": listing.pk}, HTTP_HX_REQUEST="true"
    )

    assert "6 queued for shop" in response.content.decode()
    assert Listing.objects.get(pk=listing.pk).pushed_version == 2
    assert AuditEntry.objects.get(action="listing.push_now").target_id == str(listing.pk)


def test_the_channel_page_offers_the_actions_to_operators_only(shop, operator, client):
    ListingFactory(channel=shop, sku=SkuFactory(), pushed_quantity=1, desired_version=1)
    page = operator.get(reverse("channels:channel-detail", args=[shop.code])).content.decode()
    assert 'hx-confirm="Change the mode of Shop?' in page
    assert "Push now" in page
