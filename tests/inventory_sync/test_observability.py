"""/metrics read back by prometheus_client's own parsers, /healthz and /readyz."""

import functools
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from access.roles import Role
from channels.health import HEARTBEAT_EVERY, queue_kind
from channels.models import WorkerHeartbeat
from inventory_sync.celery import app

TOKEN = "scrape-token-for-tests"
NAMED_IN_THE_ISSUE = {
    "inventory_sync_push_latency_seconds",  # sync latency histogram
    "inventory_sync_pushes_last_hour",  # pushes by outcome
    "inventory_sync_throttled_calls_last_hour",
    "inventory_sync_drift_open",
    "inventory_sync_drift_found_last_hour",
    "inventory_sync_halts_active",
    "inventory_sync_oversell_incidents_open",
    "inventory_sync_queue_depth",
    "inventory_sync_inbound_backlog_events",
    "inventory_sync_inbound_backlog_oldest_age_seconds",
    "inventory_sync_dead_man_tripped",
    "inventory_sync_worker_heartbeat_age_seconds",
}


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN
    return f"Bearer {TOKEN}"


def scrape(client, **headers):
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    return {
        family.name: family for family in text_string_to_metric_families(response.content.decode())
    }


def value(families, name, **labels):
    samples = [s for s in families[name].samples if s.labels == labels]
    assert len(samples) == 1, (name, labels, families[name].samples)
    return samples[0].value


def test_every_metric_the_issue_names_is_scraped_with_the_state_of_the_database(
    client, token, trouble
):
    families = scrape(client, HTTP_AUTHORIZATION=token)

    assert NAMED_IN_THE_ISSUE - families.keys() == set()
    assert (
        value(families, "inventory_sync_pushes_last_hour", channel="shop", outcome="acknowledged")
        == 2
    )
    assert value(families, "inventory_sync_pushes_last_hour", channel="shop", outcome="failed") == 1
    assert value(families, "inventory_sync_throttled_calls_last_hour", channel="shop") == 3
    assert value(families, "inventory_sync_drift_open", channel="shop") == 1
    assert value(families, "inventory_sync_halts_active", channel="shop") == 1
    assert value(families, "inventory_sync_halts_active", channel="all") == 1
    assert value(families, "inventory_sync_oversell_incidents_open") == 1
    assert value(families, "inventory_sync_dead_man_tripped", channel="shop", reason="quiet") == 1
    assert value(families, "inventory_sync_dead_man_tripped", channel="amazon-us", reason="") == 0
    assert value(families, "inventory_sync_inbound_backlog_events", channel="shop") == 2
    assert value(families, "inventory_sync_inbound_quarantined_events", channel="shop") == 1
    assert (
        value(families, "inventory_sync_inbound_backlog_oldest_age_seconds", channel="shop") >= 120
    )
    assert value(families, "inventory_sync_inbound_backlog_urgent", channel="shop") == 1
    assert value(families, "inventory_sync_inbound_backlog_events", channel="amazon-us") == 0
    assert value(families, "inventory_sync_listings_due", channel="shop") == 1
    assert value(families, "inventory_sync_worker_stale", worker="queue:ingest") == 0
    assert value(families, "inventory_sync_worker_stale", worker="queue:push") == 1
    assert value(families, "inventory_sync_broker_up") == 1


def test_push_latency_is_a_histogram_of_the_last_hours_acknowledged_pushes(client, token, trouble):
    response = client.get(
        "/metrics", HTTP_AUTHORIZATION=token, HTTP_ACCEPT="application/openmetrics-text"
    )
    assert response["Content-Type"].startswith("application/openmetrics-text")
    families = {f.name: f for f in openmetrics_families(response.content.decode())}
    latency = families["inventory_sync_push_latency_seconds"]
    assert latency.type == "gaugehistogram"
    buckets = {s.labels["le"]: s.value for s in latency.samples if s.name.endswith("_bucket")}
    # 0.4 s and 1.5 s: one under the half second, both under two seconds, both counted in +Inf
    assert (buckets["0.25"], buckets["0.5"], buckets["1.0"], buckets["2.0"], buckets["+Inf"]) == (
        0,
        1,
        1,
        2,
        2,
    )
    assert [s.value for s in latency.samples if s.name.endswith("_gsum")] == [pytest.approx(1.9)]


def test_queue_depth_counts_the_tasks_waiting_in_the_broker(client, token, db):
    before = value(
        scrape(client, HTTP_AUTHORIZATION=token), "inventory_sync_queue_depth", queue="reconcile"
    )
    app.send_task("reconciliation.never_run", queue="reconcile")
    after = value(
        scrape(client, HTTP_AUTHORIZATION=token), "inventory_sync_queue_depth", queue="reconcile"
    )
    assert after == before + 1


@pytest.mark.django_db
def test_metrics_need_the_token_or_a_console_login(client, token, django_user_model):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    viewer = django_user_model.objects.create_user("watcher", password="pw-for-tests")
    viewer.groups.add(Group.objects.get(name=Role.VIEWER))
    client.force_login(viewer)
    assert client.get("/metrics").status_code == 200


@pytest.mark.django_db
def test_healthz_answers_without_a_login(client):
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


@pytest.mark.django_db
def test_readyz_names_the_worker_queues_nobody_serves(client, settings):
    now = timezone.now()
    for queue in settings.WORKER_QUEUES:
        WorkerHeartbeat.objects.create(kind=queue_kind(queue), beat_at=now - HEARTBEAT_EVERY)
    assert client.get("/readyz").json() == {
        "status": "ready",
        "checks": {"database": "ok", "broker": "ok", "workers": "ok"},
    }

    WorkerHeartbeat.objects.filter(kind=queue_kind("push")).update(beat_at=now - timedelta(hours=1))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["workers"] == "no recent heartbeat: queue:push"


@pytest.mark.django_db
def test_readyz_fails_when_the_broker_does_not_answer(client, monkeypatch):
    nobody_listens = functools.partial(app.connection_for_read, url="redis://127.0.0.1:1/0")
    monkeypatch.setattr(app, "connection_for_read", nobody_listens)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "unreachable"


@pytest.mark.django_db
def test_the_probes_answer_over_plain_http_where_the_rest_redirects(client, settings):
    settings.SECURE_SSL_REDIRECT = True  # production: HTTPS only, a load balancer probes in clear
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code in (200, 503)
    assert client.get("/metrics").status_code == 301


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/metrics", "/healthz", "/readyz"])
def test_the_observability_paths_take_no_write(client, token, path):
    assert client.post(path, HTTP_AUTHORIZATION=token).status_code == 405
