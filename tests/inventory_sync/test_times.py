"""Times in the console: one format, in the person's time zone, "ago" that never says 0."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from inventory_sync.lib.timezones import zone_named
from inventory_sync.templatetags.console import ago, elapsed
from tests.factories import ChannelFactory


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0, "0 s"), (12.7, "12 s"), (61, "1 min"), (3600, "1 h"), (3 * 3600 + 300, "3 h 5 min"),
     (2 * 86400 + 5, "2 d"), (-3, "0 s")],
)  # fmt: skip
def test_elapsed_names_the_largest_unit_a_person_needs(seconds, words):
    assert elapsed(seconds) == words


def test_ago_carries_the_exact_time_in_the_persons_zone():
    then = datetime(2026, 12, 7, 12, 0, 30, tzinfo=UTC)
    with timezone.override(zone_named("Europe/Berlin")):
        written = ago(then, now=then + timedelta(seconds=42))
    assert written == (
        '<time datetime="2026-12-07T12:00:30+00:00" title="2026-12-07 13:00:30 CET">42 s ago</time>'
    )
    assert ago(None) == ""


@pytest.mark.parametrize("name", ["", "Mars/Olympus", "../etc/passwd", "x" * 100])
def test_an_unknown_zone_is_ignored(name):
    assert zone_named(name) is None


@pytest.mark.django_db
def test_a_page_writes_times_in_the_zone_the_browser_named(client, user):
    channel = ChannelFactory(code="shop", name="Shop")
    channel.capped_since = datetime(2026, 7, 1, 8, 15, tzinfo=UTC)
    channel.save()
    client.force_login(user)
    url = reverse("channels:channel-detail", args=["shop"])

    client.cookies["tz"] = "America/New_York"
    assert "2026-07-01 04:15 EDT" in client.get(url).content.decode()
    client.cookies["tz"] = "Not/AZone"
    assert "2026-07-01 08:15 UTC" in client.get(url).content.decode()
