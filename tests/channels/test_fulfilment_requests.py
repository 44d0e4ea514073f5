"""Fulfilment partners (channels.fulfilment): an order line committed at a 3PL's location
becomes one request per partner and order, POSTed signed to the partner's webhook (a real
HTTP receiver here) until it answers 2xx, or read as CSV; the partner acknowledges and ships
through its signed webhook, and its shipment goes through the outbox like ours."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from access.models import AuditEntry
from access.roles import Role
from channels import fulfilment, orders, outbox
from channels.lanes import registry
from channels.lanes.base import Lane
from channels.models import (
    Channel,
    ChannelOrder,
    FulfilmentPartner,
    FulfilmentRequest,
    OrderShipment,
)
from ledger.models import Balance, Location
from tests.factories import ChannelFactory, LocationFactory, SkuFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SECRET = "partner-secret-1"
LATER = timedelta(hours=2)


class ScriptedLane(Lane):
    kind = Channel.Kind.POS
    label = "Store POS"
    can_confirm_shipments = True
    calls: list = []

    def confirm_shipment(self, order, shipment):
        ScriptedLane.calls.append((order.external_id, shipment))
        return "REF-1"


@pytest.fixture
def lane(monkeypatch):
    ScriptedLane.calls = []
    monkeypatch.setitem(registry.LANES, Channel.Kind.POS, ScriptedLane)
    monkeypatch.setattr(registry, "_shared", {})
    return ScriptedLane


class Receiver:
    """A partner's webhook: a threaded HTTP server that keeps what it got and answers from a
    script of statuses (then 200)."""

    def __init__(self) -> None:
        self.received: list[tuple[dict, bytes]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 — http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def do_GET(self):  # noqa: N802 — where a followed redirect would land
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/requests"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    found = Receiver()
    yield found
    found.stop()


@pytest.fixture
def third_party(db, receive):
    west = LocationFactory(code="3PL-WEST", kind=Location.Kind.THIRD_PARTY)
    receive(SkuFactory(code="TEE-M"), west, 10)
    receive(SkuFactory(code="MUG-RED"), west, 10)
    return west


@pytest.fixture
def partner(third_party, receiver):
    found = FulfilmentPartner(location=third_party, name="West 3PL", webhook_url=receiver.url)
    found.secret = SECRET
    found.save()
    return found


@pytest.fixture
def store(third_party, lane):
    return ChannelFactory(code="store", kind=Channel.Kind.POS, default_location=third_party)


def place(channel, order_id="O-1", lines=(("L1", "TEE-M", 3),), cancelled=False):
    snapshot = orders.OrderSnapshot(
        external_id=order_id,
        name=f"#{order_id}",
        placed_at=NOW,
        updated_at=NOW + timedelta(minutes=1 if cancelled else 0),
        cancelled_at=NOW if cancelled else None,
        lines=tuple(
            orders.OrderLineSnapshot(external_id=line, quantity=qty, current_quantity=qty, sku=sku)
            for line, sku, qty in lines
        ),
    )
    orders.apply_order_snapshot(channel=channel, snapshot=snapshot)
    return ChannelOrder.objects.get(channel=channel, external_id=order_id)


def on_hand(sku: str) -> int:
    row = Balance.objects.filter(sku__code=sku, location__code="3PL-WEST", bucket="on_hand").first()
    return row.quantity if row else 0


def signed_post(client, partner, message, *, secret=SECRET, raw: bytes | None = None):
    body = raw if raw is not None else json.dumps(message).encode()
    return client.post(
        reverse("webhooks:fulfilment", args=[partner.pk]),
        data=body,
        content_type="application/json",
        HTTP_X_INVENTORY_SYNC_SIGNATURE=fulfilment.sign(secret, body),
    )


# --- asking ------------------------------------------------------------------------------------


def test_a_line_committed_at_a_partner_becomes_one_request_per_partner_and_order(store, partner):
    order = place(store, lines=(("L1", "TEE-M", 3), ("L2", "MUG-RED", 1)))

    made = fulfilment.request_fulfilment(order.pk)
    again = fulfilment.request_fulfilment(order.pk)

    assert [r.pk for r in again] == [r.pk for r in made]
    request = FulfilmentRequest.objects.get()
    assert (request.partner, request.status) == (partner, "pending")
    assert request.lines == [
        {"line": "L1", "sku": "TEE-M", "quantity": 3},
        {"line": "L2", "sku": "MUG-RED", "quantity": 1},
    ]


def test_nothing_is_asked_for_a_cancelled_order_or_of_an_inactive_partner(store, partner):
    cancelled = place(store, "O-1", cancelled=True)
    assert fulfilment.request_fulfilment(cancelled.pk) == []
    FulfilmentPartner.objects.filter(pk=partner.pk).update(is_active=False)
    assert fulfilment.request_fulfilment(place(store, "O-2").pk) == []
    assert not FulfilmentRequest.objects.exists()


def test_a_cancelled_order_withdraws_its_pending_and_sent_requests_only(store, partner):
    first, second, third = (place(store, f"O-{n}") for n in (1, 2, 3))
    for order in (first, second, third):
        fulfilment.request_fulfilment(order.pk)
    FulfilmentRequest.objects.filter(order=second).update(status="sent")
    FulfilmentRequest.objects.filter(order=third).update(status="acknowledged")
    for order in (first, second, third):
        place(store, order.external_id, cancelled=True)

    withdrawn = [fulfilment.withdraw_fulfilment(order.pk) for order in (first, second, third)]

    assert [len(found) for found in withdrawn] == [1, 1, 0]
    statuses = dict(FulfilmentRequest.objects.values_list("order__external_id", "status"))
    assert statuses == {"O-1": "cancelled", "O-2": "cancelled", "O-3": "acknowledged"}
    # and a new request can be made for the order later (one live per partner and order)
    assert fulfilment.withdraw_fulfilment(first.pk) == []


# --- sending -------------------------------------------------------------------------------------


def test_a_request_is_posted_signed_to_the_partners_webhook_and_marked_sent(
    store, partner, receiver
):
    order = place(store)
    (request,) = fulfilment.request_fulfilment(order.pk)

    done = fulfilment.deliver_due_requests()

    assert done.sent == 1
    ((headers, body),) = receiver.received
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Inventory-Sync-Signature"] == expected
    document = json.loads(body)
    assert (document["type"], document["request"], document["location"]) == (
        "fulfilment_request",
        request.pk,
        "3PL-WEST",
    )
    assert (document["order"]["external_id"], document["order"]["channel"]) == ("O-1", "store")
    assert document["lines"] == [{"line": "L1", "sku": "TEE-M", "quantity": 3}]
    request.refresh_from_db()
    assert (request.status, request.attempts, request.last_error) == ("sent", 1, "")
    assert request.sent_at is not None
    # a sent request is not sent again
    assert fulfilment.deliver_due_requests(now=timezone.now() + LATER).attempted == 0
    assert len(receiver.received) == 1


@pytest.mark.parametrize("status", [503, 302])
def test_a_partner_that_fails_is_tried_again_after_its_backoff(store, partner, receiver, status):
    (request,) = fulfilment.request_fulfilment(place(store).pk)
    receiver.statuses = [status]
    start = timezone.now()

    fulfilment.deliver_due_requests(now=start)

    request.refresh_from_db()
    assert (request.status, request.attempts) == ("pending", 1)
    assert request.last_error.startswith(f"HTTP {status}")
    assert fulfilment.deliver_due_requests(now=start + timedelta(seconds=20)).attempted == 0
    fulfilment.deliver_due_requests(now=start + LATER)
    request.refresh_from_db()
    assert (request.status, request.attempts, len(receiver.received)) == ("sent", 2, 2)


def test_a_partner_that_cannot_be_reached_waits_with_the_error_shown(store, partner, receiver):
    (request,) = fulfilment.request_fulfilment(place(store).pk)
    receiver.stop()

    fulfilment.deliver_due_requests()

    request.refresh_from_db()
    assert (request.status, request.attempts) == ("pending", 1)
    assert "ConnectionError" in request.last_error


def test_a_partner_without_a_webhook_is_not_posted_to(store, partner, receiver):
    FulfilmentPartner.objects.filter(pk=partner.pk).update(webhook_url="")
    fulfilment.request_fulfilment(place(store).pk)

    assert fulfilment.deliver_due_requests().attempted == 0
    assert receiver.received == []
    assert FulfilmentRequest.objects.get().status == "pending"


# --- what the partner tells us ---------------------------------------------------------------


def test_the_partner_acknowledges_a_request_through_its_signed_webhook(store, partner, client):
    (request,) = fulfilment.request_fulfilment(place(store).pk)
    message = {"type": "acknowledged", "request": request.pk, "reference": "WMS-42"}

    answer = signed_post(client, partner, message)

    assert answer.status_code == 200, answer.content
    assert answer.json() == {"request": request.pk, "status": "acknowledged"}
    request.refresh_from_db()
    assert (request.status, request.partner_reference) == ("acknowledged", "WMS-42")
    assert request.acknowledged_at is not None
    entry = AuditEntry.objects.get(action="fulfilment_request.acknowledge")
    assert (entry.actor, entry.via, entry.target_id) == ("system", "system", str(request.pk))
    assert "West 3PL" in entry.reason
    # a repeat changes nothing and is not signed again
    assert signed_post(client, partner, {**message, "reference": "OTHER"}).status_code == 200
    assert FulfilmentRequest.objects.get().partner_reference == "WMS-42"
    assert AuditEntry.objects.filter(action="fulfilment_request.acknowledge").count() == 1


def test_the_partners_shipment_leaves_stock_at_its_location_and_goes_to_the_channel(
    store, partner, client, lane
):
    order = place(store, lines=(("L1", "TEE-M", 3), ("L2", "MUG-RED", 1)))
    (request,) = fulfilment.request_fulfilment(order.pk)
    message = {
        "type": "shipped",
        "request": request.pk,
        "shipment": "WMS-SHIP-1",
        "carrier": "UPS",
        "tracking_number": "1Z3PL",
        "lines": [{"line": "L1", "quantity": 2}],
    }

    answer = signed_post(client, partner, message)

    assert answer.status_code == 200, answer.content
    shipment = OrderShipment.objects.get()
    assert answer.json() == {
        "request": request.pk,
        "shipment": shipment.pk,
        "status": "pending",
        "replayed": False,
    }
    assert (shipment.source, shipment.lines) == ("partner", [{"line": "L1", "quantity": 2}])
    assert shipment.created_by == "partner:West 3PL"
    assert (on_hand("TEE-M"), on_hand("MUG-RED")) == (8, 10)
    assert FulfilmentRequest.objects.get().status == "acknowledged"
    entry = AuditEntry.objects.get(action="order.ship")
    assert (entry.actor, entry.target_id, entry.after["shipment"]) == (
        "system",
        str(order.pk),
        shipment.pk,
    )
    # the same message again is the same shipment, signed once
    again = signed_post(client, partner, message)
    assert again.json()["replayed"] is True
    assert OrderShipment.objects.count() == 1
    assert AuditEntry.objects.filter(action="order.ship").count() == 1
    # and the channel is told through the outbox
    outbox.deliver_due_shipments()
    ((order_id, sent),) = lane.calls
    assert (order_id, sent.tracking_number, sent.lines) == ("O-1", "1Z3PL", (("L1", 2),))


def test_a_shipment_of_every_requested_line_needs_no_lines(store, partner, client):
    (request,) = fulfilment.request_fulfilment(place(store).pk)
    message = {"type": "shipped", "request": request.pk, "carrier": "DHL", "tracking_number": "D1"}

    assert signed_post(client, partner, message).status_code == 200
    assert OrderShipment.objects.get().lines == [{"line": "L1", "quantity": 3}]
    assert on_hand("TEE-M") == 7


@pytest.mark.parametrize(
    ("change", "status", "detail"),
    [
        ({"lines": [{"line": "L9", "quantity": 1}]}, 400, "not in fulfilment request"),
        ({"lines": [{"line": "L1", "quantity": 4}]}, 409, "still to ship"),
        ({"lines": [{"line": "L1", "quantity": 0}]}, 400, "Invalid message"),
        ({"lines": [{"line": "L1", "quantity": "1"}]}, 400, "Invalid message"),
        ({"tracking_number": ""}, 400, "Invalid message"),
        ({"request": 999_999}, 404, "No fulfilment request"),
        ({"type": "lost"}, 400, "Invalid message"),
    ],
)
def test_a_shipment_message_the_request_cannot_take_stores_nothing(
    store, partner, client, change, status, detail
):
    (request,) = fulfilment.request_fulfilment(place(store).pk)
    message = {"type": "shipped", "request": request.pk, "carrier": "UPS", "tracking_number": "1Z"}

    answer = signed_post(client, partner, {**message, **change})

    assert answer.status_code == status, answer.content
    assert detail in answer.json()["detail"]
    assert not OrderShipment.objects.exists()
    assert on_hand("TEE-M") == 10


def test_a_withdrawn_request_tells_the_partner_not_to_ship(store, partner, client):
    order = place(store)
    (request,) = fulfilment.request_fulfilment(order.pk)
    place(store, cancelled=True)
    fulfilment.withdraw_fulfilment(order.pk)
    message = {"type": "shipped", "request": request.pk, "carrier": "UPS", "tracking_number": "1Z"}

    answer = signed_post(client, partner, message)

    assert answer.status_code == 409
    assert "withdrawn" in answer.json()["detail"]
    assert not OrderShipment.objects.exists()


def test_another_partners_request_is_not_found(store, partner, client, receive):
    east = LocationFactory(code="3PL-EAST", kind=Location.Kind.THIRD_PARTY)
    other = FulfilmentPartner(location=east, name="East 3PL")
    other.secret = "east-secret"
    other.save()
    (request,) = fulfilment.request_fulfilment(place(store).pk)

    answer = signed_post(
        client, other, {"type": "acknowledged", "request": request.pk}, secret="east-secret"
    )

    assert answer.status_code == 404
    assert FulfilmentRequest.objects.get().status == "pending"


@pytest.mark.parametrize(
    ("body", "signature", "status"),
    [
        (b'{"type": "acknowledged", "request": 1}', "sha256=" + "0" * 64, 401),
        (b'{"type": "acknowledged", "request": 1}', "", 401),
        (b"{not json", None, 400),
        (b"[1, 2]", None, 400),
        (b'{"type": "acknowledged", "request": 1, "reference": "a\\u0000b"}', None, 400),
        (b"[" * 100_000 + b"]" * 100_000, None, 400),
    ],
)
def test_hostile_messages_are_refused_and_change_nothing(
    store, partner, client, body, signature, status, settings
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000_000
    (request,) = fulfilment.request_fulfilment(place(store).pk)
    given = fulfilment.sign(SECRET, body) if signature is None else signature

    answer = client.post(
        reverse("webhooks:fulfilment", args=[partner.pk]),
        data=body,
        content_type="application/json",
        HTTP_X_INVENTORY_SYNC_SIGNATURE=given,
    )

    assert answer.status_code == status
    assert "detail" in answer.json()
    request.refresh_from_db()
    assert request.status == "pending"


def test_a_body_over_the_limit_is_413_and_an_unknown_partner_404(store, partner, client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    big = json.dumps({"type": "acknowledged", "request": 1, "reference": "x" * 200}).encode()

    assert signed_post(client, partner, None, raw=big).status_code == 413
    unknown = client.post(
        reverse("webhooks:fulfilment", args=[partner.pk + 1000]),
        data=b"{}",
        content_type="application/json",
    )
    assert unknown.status_code == 404


def test_a_partner_without_a_secret_cannot_post(store, partner, client):
    FulfilmentPartner.objects.filter(pk=partner.pk).update(secret_sealed="")
    (request,) = fulfilment.request_fulfilment(place(store).pk)
    message = {"type": "acknowledged", "request": request.pk}

    assert signed_post(client, partner, message, secret="").status_code == 401
    assert FulfilmentRequest.objects.get().status == "pending"


# --- reading the requests ------------------------------------------------------------------------


def test_open_requests_export_as_csv_one_row_per_line_for_a_viewer(
    store, partner, client, django_user_model
):
    first = place(store, "=HYPERLINK(1)", lines=(("L1", "TEE-M", 2), ("L2", "MUG-RED", 1)))
    second = place(store, "O-2")
    fulfilment.request_fulfilment(first.pk)
    fulfilment.request_fulfilment(second.pk)
    place(store, "O-2", cancelled=True)
    fulfilment.withdraw_fulfilment(second.pk)
    viewer = django_user_model.objects.create_user("viewer")
    viewer.groups.add(Group.objects.get(name=Role.VIEWER))
    client.force_login(viewer)

    answer = client.get("/api/v1/fulfilment-requests/", {"format": "csv", "open": "true"})

    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/csv")
    rows = answer.content.decode().splitlines()
    assert rows[0] == (
        "request,partner,location,status,channel,order,order_external_id,order_name,"
        "placed_at,ship_by,line,sku,quantity"
    )
    assert len(rows) == 3
    # a value a spreadsheet would run as a formula stays text
    assert ",'=HYPERLINK(1),#=HYPERLINK(1)," in rows[1]
    assert rows[1].endswith(",L1,TEE-M,2")
    assert rows[2].endswith(",L2,MUG-RED,1")
    listed = client.get("/api/v1/fulfilment-requests/", {"status": "cancelled"}).json()
    assert [r["order_external_id"] for r in listed["results"]] == ["O-2"]


def test_an_error_answers_json_and_one_request_exports_as_csv(store, partner, api_client):
    (request,) = fulfilment.request_fulfilment(place(store).pk)

    refused = api_client.get("/api/v1/fulfilment-requests/", {"format": "csv", "limit": 0})
    missing = api_client.get("/api/v1/fulfilment-requests/999999/", {"format": "csv"})
    one = api_client.get(f"/api/v1/fulfilment-requests/{request.pk}/", {"format": "csv"})
    unknown = api_client.get("/api/v1/fulfilment-requests/", {"format": "xlsx"})

    assert (refused.status_code, refused["Content-Type"]) == (400, "application/json")
    assert (unknown.status_code, unknown.json()["errors"]) == (
        400,
        {"format": "Ask for json or csv."},
    )
    assert (missing.status_code, missing["Content-Type"]) == (404, "application/json")
    assert one.content.decode().splitlines()[1].endswith(",L1,TEE-M,3")


def test_the_requests_api_is_read_only(store, partner, api_client):
    assert api_client.post("/api/v1/fulfilment-requests/", {}, format="json").status_code in (
        403,
        405,
    )


# --- set-up ------------------------------------------------------------------------------------


def test_the_admin_seals_a_partners_secret_and_signs_the_change(admin_client, third_party):
    url = reverse("admin:channels_fulfilmentpartner_add")
    answer = admin_client.post(
        url,
        {
            "name": "West 3PL",
            "location": third_party.pk,
            "webhook_url": "https://wms.example/in",
            "is_active": "on",
            "secret": "typed-in-once",
        },
    )

    assert answer.status_code == 302, answer.content.decode()[:500]
    partner = FulfilmentPartner.objects.get()
    assert partner.secret == "typed-in-once"
    assert "typed-in-once" not in partner.secret_sealed
    entry = AuditEntry.objects.get(action="fulfilmentpartner.add")
    assert "typed-in-once" not in json.dumps(entry.after)
    assert entry.after["webhook_url"] == "(redacted)"
    page = admin_client.get(reverse("admin:channels_fulfilmentpartner_change", args=[partner.pk]))
    assert "typed-in-once" not in page.content.decode()
    # saved again without a secret, the secret stays
    admin_client.post(
        reverse("admin:channels_fulfilmentpartner_change", args=[partner.pk]),
        {
            "name": "West 3PL (new)",
            "location": third_party.pk,
            "webhook_url": "",
            "is_active": "on",
        },
    )
    assert FulfilmentPartner.objects.get().secret == "typed-in-once"


def test_rotating_the_credentials_key_re_seals_partner_secrets(third_party, settings, capsys):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.CREDENTIALS_KEYS = [old_key]
    partner = FulfilmentPartner(location=third_party, name="West 3PL")
    partner.secret = SECRET
    partner.save()
    settings.CREDENTIALS_KEYS = [new_key, old_key]

    call_command("rotate_credentials")

    sealed = FulfilmentPartner.objects.get().secret_sealed
    Fernet(new_key).decrypt(sealed.encode())
    assert "fulfilment partner secrets: 1 re-sealed" in capsys.readouterr().out
    settings.CREDENTIALS_KEYS = [new_key]
    assert FulfilmentPartner.objects.get().secret == SECRET
