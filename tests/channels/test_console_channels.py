"""The channels console: health per channel and listings with desired / pushed / observed."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from channels.health import percentile
from channels.models import Listing, PushAttempt
from tests.factories import ChannelFactory, ListingFactory, SkuFactory


def test_percentile_is_nearest_rank():
    assert percentile([], 0.5) is None
    assert percentile([30, 10, 20], 0.5) == 20
    assert percentile(list(range(1, 101)), 0.95) == 95
    assert percentile([7], 0.95) == 7


@pytest.mark.django_db
def test_channel_health_shows_push_latency_and_errors(client, user):
    shop = ChannelFactory(code="demo-shop", name="Demo shop")
    for number, latency in enumerate([100, 200, 300, 400]):
        PushAttempt.objects.create(
            channel=shop, idempotency_key=f"k{number}", status="acknowledged", latency_ms=latency
        )
    PushAttempt.objects.create(channel=shop, idempotency_key="bad", status="refused", error="x")
    client.force_login(user)
    page = client.get(reverse("channels:channel-list")).content.decode()
    assert 'data-channel="demo-shop"' in page
    assert "200 ms" in page  # p50
    assert "400 ms" in page  # p95


@pytest.mark.django_db
def test_the_channel_list_reads_as_many_queries_for_many_channels_as_for_one(client, user):
    client.force_login(user)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("channels:channel-list")).status_code == 200
        return len(captured)

    def busy_channel(code):
        channel = ChannelFactory(code=code)
        ListingFactory(channel=channel)
        PushAttempt.objects.create(
            channel=channel, idempotency_key=f"{code}-1", status="acknowledged", latency_ms=300
        )

    busy_channel("first")
    queries()  # the listing totals are cached for a minute: both reads below use them
    one = queries()
    for n in range(5):
        busy_channel(f"more-{n}")
    assert queries() == one


@pytest.mark.django_db
def test_listing_view_filters_to_listings_not_in_sync(client, user):
    shop = ChannelFactory(code="demo-shop")
    ListingFactory(channel=shop, sku=SkuFactory(code="IN-SYNC"), external_id="v1")
    behind = ListingFactory(channel=shop, sku=SkuFactory(code="BEHIND"), external_id="v2")
    Listing.objects.filter(pk=behind.pk).update(desired_quantity=5, desired_version=2)
    client.force_login(user)
    url = reverse("channels:channel-detail", args=["demo-shop"])
    everything = client.get(url).content.decode()
    assert "IN-SYNC" in everything
    assert "BEHIND" in everything
    differing = client.get(url, {"show": "differing"}, HTTP_HX_REQUEST="true").content.decode()
    assert "BEHIND" in differing
    assert "IN-SYNC" not in differing
    assert "<html" not in differing  # the htmx answer is the table partial only


@pytest.mark.django_db
def test_channel_pages_need_a_login(client):
    ChannelFactory(code="demo-shop")
    response = client.get(reverse("channels:channel-list"))
    assert response.status_code == 302


@pytest.mark.django_db
def test_quarantined_events_are_listed_and_can_be_applied_again(client, user):
    from channels.models import InboundEvent

    shop = ChannelFactory(code="demo-shop", name="Demo shop")
    waiting = InboundEvent.objects.create(
        channel=shop,
        source="webhook",
        topic="orders/create",
        dedupe_key="event:1",
        body=b"{}",
        status="quarantined",
        outcome="no SKU 'MUG-RED'",
    )
    client.force_login(user)
    url = reverse("channels:quarantine")
    page = client.get(url).content.decode()
    assert "no SKU &#x27;MUG-RED&#x27;" in page
    assert "Demo shop: 1 quarantined" in " ".join(page.split())
    response = client.post(url, {"channel": "demo-shop"})
    assert response.status_code == 302
    waiting.refresh_from_db()
    assert waiting.status == "received"
    assert client.post(url, {"channel": "nope"}).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "latency_ms", "state"),
    [("shopify", 900, "ok"), ("shopify", 1500, "warn"), ("shopify", 3000, "bad"),
     ("amazon", 3000, "ok")],
)  # fmt: skip
def test_push_latency_is_coloured_against_the_channels_target(
    client, user, kind, latency_ms, state
):
    shop = ChannelFactory(code="chan", kind=kind)
    PushAttempt.objects.create(
        channel=shop, idempotency_key="k", status="acknowledged", latency_ms=latency_ms
    )
    client.force_login(user)
    page = client.get(reverse("channels:channel-list")).content.decode()
    assert f'data-field="p95" data-state="{state}"' in page
