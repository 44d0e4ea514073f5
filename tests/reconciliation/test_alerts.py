"""Alerts: a storm of the same alert is one alert with a count, and every unsent alert of a
kind goes out as one message per destination (email and a Slack-compatible webhook)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from allocation.models import OversellIncident
from channels.models import PushAttempt
from reconciliation import alerts, watch
from reconciliation.models import Alert, AlertDestination
from tests.factories import ChannelFactory, SkuFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def slack():
    """A Slack-compatible incoming webhook on a local port: the bodies it received."""
    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 — the standard library's name
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/T000/B000", received
    server.shutdown()


def test_the_same_alert_raised_again_counts_on_the_unsent_one():
    for _ in range(5):
        alerts.raise_alert("drift_halt", key="listing:7", subject="Halted TEE-M on shop-a")
    (alert,) = Alert.objects.all()
    assert alert.count == 5


def test_a_storm_is_one_message_per_kind_and_destination(mailoutbox, slack, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    url, received = slack
    AlertDestination.objects.create(name="ops", email="ops@example.com", webhook_url=url)
    AlertDestination.objects.create(name="pager", webhook_url=url, kinds=["dead_man"])
    for listing in range(30):
        for _ in range(2):
            alerts.raise_alert(
                "drift_halt", key=f"listing:{listing}", subject=f"Halted listing {listing}",
                link="/reconciliation/drift/",
            )  # fmt: skip
    alerts.raise_alert("dead_man", key="channel:1", subject="shop-a: dead-man switch tripped")

    sent = alerts.send_pending()

    assert sent == 3  # drift to ops; dead-man to ops and to the pager
    assert len(mailoutbox) == 2
    drift_mail = next(m for m in mailoutbox if "30 alert(s), 60 occurrence(s)" in m.subject)
    assert "and 10 more" in drift_mail.body
    assert "/reconciliation/drift/" in drift_mail.body
    assert len(received) == 3
    assert sum("dead-man switch tripped" in body["text"] for body in received) == 2
    assert alerts.send_pending() == 0  # nothing sent twice
    # A new occurrence after sending is a new alert.
    alerts.raise_alert("drift_halt", key="listing:1", subject="Halted listing 1")
    assert Alert.objects.filter(sent_at=None).count() == 1


def test_oversell_incidents_and_failing_pushes_become_alerts_once():
    channel = ChannelFactory(code="shop-a")
    OversellIncident.objects.create(sku=SkuFactory(code="TEE-M"), units_short=2)
    for number in range(5):
        PushAttempt.objects.create(
            channel=channel, idempotency_key=f"k{number}", status="failed", error="HTTP 503"
        )

    assert watch.collect() == 2
    assert set(Alert.objects.values_list("kind", "key")) == {
        ("oversell", f"incident:{OversellIncident.objects.get().pk}"),
        ("push_failing", f"channel:{channel.pk}"),
    }
    watch.collect()  # the incident is not raised twice; the failing pushes count again
    assert Alert.objects.get(kind="oversell").count == 1
    assert Alert.objects.get(kind="push_failing").count == 2
