"""The dashboard's charts: every bucket present, drawn as inline SVG with each figure."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from allocation.models import OversellIncident
from channels.models import ChannelOrder, PushAttempt
from inventory_sync.observability.trends import DAYS, HOURS, dashboard_charts
from tests.factories import ChannelFactory, SkuFactory

pytestmark = pytest.mark.django_db


def test_each_chart_has_every_bucket_and_the_figures_it_counts(client, user):
    now = timezone.now()
    shop = ChannelFactory(code="shop", name="Shop")
    for n, latency in enumerate([200, 400, 3000]):
        PushAttempt.objects.create(
            channel=shop, idempotency_key=f"k{n}", status="acknowledged", latency_ms=latency
        )
    for n in range(3):
        ChannelOrder.objects.create(
            channel=shop, external_id=f"o{n}", placed_at=now - timedelta(days=n % 2),
            channel_updated_at=now,
        )  # fmt: skip
    OversellIncident.objects.create(sku=SkuFactory(), units_short=1)

    charts = {chart.key: chart for chart in dashboard_charts(now)}

    assert len(charts["latency:shop"].points) == HOURS
    assert charts["latency:shop"].points[-1][1] == 3.0  # p95 of the hour, in seconds
    assert [value for _, value in charts["sales:shop"].points[-2:]] == [1, 2]
    assert sum(value for _, value in charts["oversells"].points) == 1
    assert len(charts["drift"].points) == DAYS
    assert sum(value for _, value in charts["drift"].points) == 0

    client.force_login(user)
    assert 'hx-get="/trends/"' in client.get("/").content.decode()
    panel = client.get("/trends/").content.decode()
    svg = re.search(r'<svg class="chart"[^>]*data-chart="sales:shop".*?</svg>', panel, re.S)
    assert svg is not None
    assert svg.group(0).count("<rect") == DAYS
    assert "<title>" in svg.group(0)


def test_the_panel_reads_as_many_queries_for_many_channels_as_for_one(client, user):
    client.force_login(user)
    ChannelFactory(code="first")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/trends/").status_code == 200
        return len(captured)

    one = queries()
    for n in range(5):
        channel = ChannelFactory(code=f"more-{n}")
        ChannelOrder.objects.create(
            channel=channel, external_id=f"m{n}", placed_at=timezone.now(),
            channel_updated_at=timezone.now(),
        )  # fmt: skip
        PushAttempt.objects.create(
            channel=channel, idempotency_key=f"m{n}", status="acknowledged", latency_ms=300
        )
    assert queries() == one
