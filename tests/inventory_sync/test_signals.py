"""The dashboard's "needs attention" panel and sync latency table (GET /signals/)."""

import re

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from access.roles import Role
from channels.health import queue_kind
from channels.models import PushAttempt, WorkerHeartbeat
from tests.factories import ChannelFactory


@pytest.fixture
def viewer(client, django_user_model):
    person = django_user_model.objects.create_user("watcher", password="pw-for-tests")
    person.groups.add(Group.objects.get(name=Role.VIEWER))
    client.force_login(person)
    return person


def signals_of(page: str) -> dict[str, tuple[str, str | None]]:
    """data-signal -> (severity, link) of every listed signal."""
    found = {}
    for item in re.findall(r"<li data-signal=.*?</li>", page, re.S):
        key = re.search(r'data-signal="([^"]+)"', item).group(1)
        severity = re.search(r'data-severity="([^"]+)"', item).group(1)
        link = re.search(r'<a href="([^"]+)"', item)
        found[key] = (severity, link.group(1) if link else None)
    return found


def test_the_dashboard_loads_the_signals_and_they_refresh_themselves(client, viewer):
    dashboard = client.get("/").content.decode()
    assert 'hx-get="/signals/"' in dashboard
    panel = client.get("/signals/").content.decode()
    assert 'hx-trigger="every 10s"' in panel


def test_each_signal_names_its_trouble_and_links_to_its_page(client, viewer, trouble):
    found = signals_of(client.get("/signals/").content.decode())

    assert found == {
        "dead-man": ("bad", "/reconciliation/dead-man/"),
        "incidents": ("bad", "/incidents/"),
        "workers": ("bad", None),
        "push-failed:shop": ("bad", "/channels/shop/"),
        "late:shop": ("bad", "/channels/shop/"),
        "drift": ("warn", "/reconciliation/drift/"),
        "halts": ("warn", "/reconciliation/halts/"),
        "quarantine": ("warn", "/channels/quarantine/"),
        "throttled:shop": ("warn", "/channels/shop/"),
    }


def test_what_needs_acting_on_comes_before_what_can_wait(client, viewer, trouble):
    page = client.get("/signals/").content.decode()
    severities = re.findall(r'data-severity="(\w+)"', page)
    assert severities == sorted(severities, key=lambda severity: severity != "bad")


@pytest.mark.django_db
def test_nothing_wrong_says_so(client, viewer, settings):
    for queue in settings.WORKER_QUEUES:  # a worker serves every queue
        WorkerHeartbeat.objects.create(kind=queue_kind(queue), beat_at=timezone.now())
    page = client.get("/signals/").content.decode()
    assert 'data-signal="none"' in page
    assert "<li data-signal" not in page


def test_sync_latency_is_read_against_the_channels_target(client, viewer, trouble):
    page = client.get("/signals/").content.decode()
    shop = re.search(r'<tr data-channel="shop" data-state="(\w+)">(.*?)</tr>', page, re.S)
    # pushes of 0.4 s and 1.5 s: p50 0.4 s, p95 1.5 s against Shopify's 1 s: slow, not far over
    assert shop.group(1) == "warn"
    assert re.findall(r"([\d.]+) s</td>", shop.group(2))[:4] == ["0.40", "1.50", "0.40", "1.50"]
    amazon = re.search(r'<tr data-channel="amazon-us" data-state="(\w+)"', page)
    assert amazon.group(1) == "idle"


def test_the_panel_reads_as_many_queries_for_many_channels_as_for_few(client, viewer, trouble):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/signals/").status_code == 200
        return len(captured)

    queries()  # low stock is worked out every few minutes: both reads below use it
    few = queries()
    for n in range(6):
        channel = ChannelFactory(code=f"more-{n}")
        PushAttempt.objects.create(
            channel=channel, status="failed", idempotency_key=f"more-{n}", throttled=1
        )
    assert queries() == few


@pytest.mark.django_db
def test_the_panel_needs_a_login(client):
    response = client.get("/signals/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
