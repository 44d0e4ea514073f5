"""What the observability tests share: a database with something wrong in every corner."""

from datetime import timedelta

import pytest
from django.utils import timezone

from allocation.models import OversellIncident, SalesHalt
from channels.health import queue_kind
from channels.models import InboundEvent, PushAttempt, WorkerHeartbeat
from reconciliation.models import DeadManEpisode, Drift
from tests.factories import ChannelFactory, ListingFactory, SkuFactory


@pytest.fixture
def trouble(db):
    """Two channels; the shop has pushes, drift, a halt, a tripped switch and waiting events."""
    now = timezone.now()
    shop, amazon = ChannelFactory(code="shop"), ChannelFactory(code="amazon-us", kind="amazon")
    listing = ListingFactory(
        channel=shop,
        desired_version=3,
        pushed_version=1,
        desired_cause_at=now - timedelta(minutes=5),
    )
    ListingFactory(channel=amazon)
    for n, (status, latency_ms, throttled) in enumerate(
        [("acknowledged", 400, 0), ("acknowledged", 1500, 2), ("failed", None, 1)]
    ):
        PushAttempt.objects.create(
            channel=shop,
            status=status,
            idempotency_key=f"m-{n}",
            latency_ms=latency_ms,
            throttled=throttled,
        )
    Drift.objects.create(
        channel=shop, listing=listing, sku=listing.sku, expected=5, observed=7, delta=2
    )
    SalesHalt.objects.create(sku=listing.sku, channel=shop, reason="drift")
    SalesHalt.objects.create(sku=SkuFactory(), reason="recount")
    OversellIncident.objects.create(sku=listing.sku, units_short=2)
    DeadManEpisode.objects.create(channel=shop, reason=DeadManEpisode.Reason.CHANNEL_QUIET)
    for n, status in enumerate(["received", "received", "quarantined", "applied"]):
        InboundEvent.objects.create(
            channel=shop,
            source="webhook",
            topic="orders/create",
            dedupe_key=f"e-{n}",
            body=b"{}",
            status=status,
        )
    InboundEvent.objects.filter(channel=shop).update(received_at=now - timedelta(minutes=2))
    WorkerHeartbeat.objects.create(kind=queue_kind("ingest"), beat_at=now - timedelta(seconds=5))
    return shop
