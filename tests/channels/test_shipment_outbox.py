"""The shipment outbox (channels.outbox): a shipment leaves the ledger when it is made and is
told to its channel afterwards, retried with backoff until acknowledged, refused for good
only when the channel says so; the channel's echo of it ships nothing twice.

The first half drives the service with a scripted lane; the second half runs the Shopify and
Amazon lanes against their sandboxes over real HTTP, with the sandboxes' fault injection.
Delivery is driven by calling the service with a clock, never by sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from access.models import AuditEntry
from channels import health, inbound, orders, outbox
from channels.lanes import registry
from channels.lanes.base import ChannelRefused, Lane
from channels.lanes.shopify.lane import ShopifyLane
from channels.models import Channel, ChannelOrder, InboundEvent, OrderShipment
from inventory_sync.lib.errors import Conflict, DomainError
from ledger.models import Balance, InventoryEvent
from ledger.rules import InsufficientStock
from tests.channels.amazon_world import mixed_world
from tests.channels.shopify_world import CLIENT_OPTIONS as SHOPIFY_OPTIONS
from tests.concurrency import run_concurrently
from tests.factories import ChannelFactory, SkuFactory

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LATER = timedelta(hours=2)  # past any backoff of the first few attempts


class ScriptedLane(Lane):
    """A channel kind whose confirmations answer from a script: a reference or an error."""

    kind = Channel.Kind.POS
    label = "Store POS"
    can_confirm_shipments = True
    script: list = []
    calls: list = []

    def confirm_shipment(self, order, shipment):
        ScriptedLane.calls.append((order.external_id, shipment))
        answer = ScriptedLane.script.pop(0) if ScriptedLane.script else "REF-1"
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def lane(monkeypatch):
    ScriptedLane.script, ScriptedLane.calls = [], []
    monkeypatch.setitem(registry.LANES, Channel.Kind.POS, ScriptedLane)
    monkeypatch.setattr(registry, "_shared", {})
    return ScriptedLane


@pytest.fixture
def shop(db, warehouse, receive):
    receive(SkuFactory(code="TEE-M"), warehouse, 10)
    receive(SkuFactory(code="MUG-RED"), warehouse, 10)
    return ChannelFactory(code="store", kind=Channel.Kind.POS, default_location=warehouse)


def place(channel, order_id="O-1", lines=(("L1", "TEE-M", 3),)) -> ChannelOrder:
    snapshot = orders.OrderSnapshot(
        external_id=order_id,
        name=f"#{order_id}",
        placed_at=NOW,
        updated_at=NOW,
        cancelled_at=None,
        lines=tuple(
            orders.OrderLineSnapshot(external_id=line, quantity=qty, current_quantity=qty, sku=sku)
            for line, sku, qty in lines
        ),
    )
    orders.apply_order_snapshot(channel=channel, snapshot=snapshot)
    return ChannelOrder.objects.get(channel=channel, external_id=order_id)


def ship(order, lines=None, *, key=None, tracking="1Z999"):
    return outbox.ship_order(
        order=order,
        lines=lines,
        carrier="UPS",
        tracking_number=tracking,
        key=key,
        source=OrderShipment.Source.API,
        actor="ana",
    )


def balance(sku: str, bucket: str) -> int:
    row = Balance.objects.filter(sku__code=sku, location__code="WH-EAST", bucket=bucket).first()
    return row.quantity if row else 0


def shipment_events() -> int:
    return InventoryEvent.objects.filter(kind="shipment").count()


# --- making a shipment -------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_shipment_leaves_the_ledger_at_once_and_waits_for_its_channel(shop, lane):
    order = place(shop)

    made = ship(order)

    # then the units left on hand and committed before any call to the channel
    assert (balance("TEE-M", "on_hand"), balance("TEE-M", "committed")) == (7, 0)
    assert lane.calls == []
    made.refresh_from_db()
    assert (made.status, made.attempts, made.lines) == (
        "pending",
        0,
        [{"line": "L1", "quantity": 3}],
    )
    assert made.next_attempt_at is not None
    assert not made.replayed
    assert ChannelOrder.objects.get(pk=order.pk).status == "fulfilled"


@pytest.mark.django_db
def test_a_committed_shipment_wakes_the_delivery(shop, lane, django_capture_on_commit_callbacks):
    cache.clear()
    order = place(shop)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        ship(order)
    assert [c.args for c in callbacks if c.args == (outbox.SHIPMENTS_CHANGED,)] != []
    assert cache.get("inventory-sync:loop:shipments:alive") == 1
    cache.clear()


@pytest.mark.django_db
def test_a_partial_shipment_ships_only_its_lines_and_the_rest_ships_later(shop, lane):
    order = place(shop, lines=(("L1", "TEE-M", 3), ("L2", "MUG-RED", 2)))

    first = ship(order, [("L1", 1)], tracking="PKG-1")

    assert (balance("TEE-M", "on_hand"), balance("TEE-M", "committed")) == (9, 2)
    assert (balance("MUG-RED", "on_hand"), balance("MUG-RED", "committed")) == (10, 2)
    assert ChannelOrder.objects.get(pk=order.pk).status == "open"
    # and the rest (None: everything still to ship) is the other two TEE-M and both mugs
    rest = ship(order, tracking="PKG-2")
    assert rest.lines == [{"line": "L1", "quantity": 2}, {"line": "L2", "quantity": 2}]
    assert (balance("TEE-M", "committed"), balance("MUG-RED", "committed")) == (0, 0)
    outbox.deliver_due_shipments()
    sent = {shipment.tracking_number: shipment.lines for _, shipment in lane.calls}
    assert sent == {"PKG-1": (("L1", 1),), "PKG-2": (("L1", 2), ("L2", 2))}
    assert first.pk != rest.pk


@pytest.mark.django_db
def test_the_same_key_twice_is_one_shipment(shop, lane):
    order = place(shop)

    first = ship(order, [("L1", 2)], key="api:k-1")
    again = ship(order, [("L1", 2)], key="api:k-1")

    assert (again.pk, again.replayed) == (first.pk, True)
    assert OrderShipment.objects.count() == 1
    assert shipment_events() == 1
    assert balance("TEE-M", "committed") == 1


@pytest.mark.django_db
def test_the_same_key_for_other_lines_or_another_order_is_a_conflict(shop, lane):
    order, other = place(shop), place(shop, "O-2")
    ship(order, [("L1", 2)], key="api:k-1")

    with pytest.raises(Conflict, match="other lines"):
        ship(order, [("L1", 1)], key="api:k-1")
    with pytest.raises(Conflict, match="another order"):
        ship(other, [("L1", 1)], key="api:k-1")
    assert OrderShipment.objects.count() == 1
    assert shipment_events() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("lines", "error", "match"),
    [
        ([("L1", 4)], Conflict, "4 item\\(s\\) asked, 3 still to ship"),
        ([("L9", 1)], DomainError, "has no line L9"),
        ([("L1", 0)], DomainError, "at least one item"),
        ([("L1", 1), ("L1", 1)], DomainError, "named twice"),
    ],
)
def test_a_shipment_the_order_cannot_take_stores_nothing(shop, lane, lines, error, match):
    order = place(shop)

    with pytest.raises(error, match=match):
        ship(order, lines)

    assert not OrderShipment.objects.exists()
    assert shipment_events() == 0
    assert balance("TEE-M", "committed") == 3


@pytest.mark.django_db
def test_shipping_more_than_is_left_after_a_partial_shipment_is_refused(shop, lane):
    order = place(shop)
    ship(order, [("L1", 2)], tracking="PKG-1")

    with pytest.raises(Conflict, match="2 item\\(s\\) asked, 1 still to ship"):
        ship(order, [("L1", 2)], tracking="PKG-2")
    assert OrderShipment.objects.count() == 1


@pytest.mark.django_db
def test_a_cancelled_order_cannot_ship(shop, lane):
    order = place(shop)
    ChannelOrder.objects.filter(pk=order.pk).update(status="cancelled", cancelled_at=NOW)

    with pytest.raises(Conflict, match="is cancelled"):
        ship(order)
    assert not OrderShipment.objects.exists()


@pytest.mark.django_db
def test_units_that_are_not_on_hand_cannot_ship(shop, lane, warehouse):
    SkuFactory(code="HERO-1")
    order = place(shop, lines=(("L1", "HERO-1", 2),))  # sold, never received: an oversell

    with pytest.raises(InsufficientStock):
        ship(order)
    assert not OrderShipment.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_the_same_key_sent_at_once_by_four_callers_is_one_shipment(shop, lane):
    order = place(shop)

    outcomes = run_concurrently(lambda: ship(order, [("L1", 2)], key="api:burst").pk, [()] * 4)

    assert [outcome.error for outcome in outcomes] == [None] * 4
    assert len({outcome.value for outcome in outcomes}) == 1
    assert (OrderShipment.objects.count(), shipment_events()) == (1, 1)
    assert balance("TEE-M", "committed") == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_two_callers_shipping_the_last_units_at_once_ship_them_once(shop, lane):
    order = place(shop)

    outcomes = run_concurrently(
        lambda key: ship(order, [("L1", 3)], key=key), [("api:a",), ("api:b",)]
    )

    errors = [outcome.error for outcome in outcomes if not outcome.ok]
    assert len(errors) == 1
    assert isinstance(errors[0], Conflict)
    assert (OrderShipment.objects.count(), shipment_events()) == (1, 1)
    assert (balance("TEE-M", "on_hand"), balance("TEE-M", "committed")) == (7, 0)


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_two_delivery_workers_confirm_each_shipment_once(shop, lane):
    one = (("L1", "TEE-M", 1),)
    made = [ship(place(shop, f"O-{n}", one), tracking=f"T-{n}").pk for n in range(6)]

    run_concurrently(lambda: outbox.deliver_due_shipments(batch=2), [(), ()])

    assert sorted(shipment.tracking_number for _, shipment in lane.calls) == [
        f"T-{n}" for n in range(6)
    ]
    statuses = set(OrderShipment.objects.filter(pk__in=made).values_list("status", flat=True))
    assert statuses == {"confirmed"}


# --- telling the channel ---------------------------------------------------------------------


@pytest.mark.django_db
def test_an_acknowledged_shipment_is_confirmed_with_the_channels_reference(shop, lane):
    made = ship(place(shop))
    lane.script = ["FULFILMENT-77"]

    done = outbox.deliver_due_shipments()

    made.refresh_from_db()
    assert (done.confirmed, made.status, made.channel_reference) == (
        1,
        "confirmed",
        "FULFILMENT-77",
    )
    assert (made.attempts, made.last_error) == (1, "")
    assert made.confirmed_at is not None
    order_id, sent = lane.calls[0]
    assert (order_id, sent.carrier, sent.tracking_number) == ("O-1", "UPS", "1Z999")
    assert sent.reference == f"shipment-{made.pk}"
    # and a confirmed shipment is never sent again
    assert outbox.deliver_due_shipments(now=timezone.now() + LATER).attempted == 0
    assert len(lane.calls) == 1


@pytest.mark.django_db
def test_a_transient_failure_waits_its_backoff_and_is_retried_until_acknowledged(shop, lane):
    made = ship(place(shop))
    lane.script = [
        ChannelRefused("HTTP 503 from the store system", retryable=True),
        ChannelRefused("HTTP 429", retryable=True, retry_after=90),
        "REF-9",
    ]
    start = timezone.now()

    outbox.deliver_due_shipments(now=start)

    made.refresh_from_db()
    assert (made.status, made.attempts, made.last_error) == (
        "pending",
        1,
        "HTTP 503 from the store system",
    )
    # the first retry waits 30 s ± 25 %
    wait = made.next_attempt_at - start
    assert timedelta(seconds=22.5) <= wait <= timedelta(seconds=37.5)
    assert outbox.deliver_due_shipments(now=start + timedelta(seconds=20)).attempted == 0
    # the second failure asked for 90 s: more than the 60 s ± 25 % backoff
    second = start + timedelta(seconds=40)
    outbox.deliver_due_shipments(now=second)
    made.refresh_from_db()
    assert (made.attempts, made.last_error) == (2, "HTTP 429")
    assert made.next_attempt_at - second >= timedelta(seconds=90)
    outbox.deliver_due_shipments(now=second + timedelta(seconds=91))
    made.refresh_from_db()
    assert (made.status, made.attempts, made.channel_reference) == ("confirmed", 3, "REF-9")
    assert len(lane.calls) == 3


@pytest.mark.django_db
@pytest.mark.parametrize(
    "refusal",
    [
        ChannelRefused("HTTP 400: the order is cancelled on the channel"),
        Conflict("the channel ships this order itself"),
    ],
)
def test_a_refusal_for_good_ends_refused_for_a_person(shop, lane, refusal):
    made = ship(place(shop))
    lane.script = [refusal]

    done = outbox.deliver_due_shipments()

    made.refresh_from_db()
    assert (done.refused, made.status, made.attempts) == (1, "refused", 1)
    assert made.last_error == refusal.detail
    assert made.next_attempt_at is None
    assert outbox.deliver_due_shipments(now=timezone.now() + LATER).attempted == 0


@pytest.mark.django_db
def test_an_unexpected_error_is_retried_and_shown(shop, lane):
    made = ship(place(shop))
    lane.script = [ConnectionResetError("peer went away")]

    outbox.deliver_due_shipments()

    made.refresh_from_db()
    assert (made.status, made.attempts) == ("pending", 1)
    assert "ConnectionResetError: peer went away" in made.last_error


@pytest.mark.django_db
def test_a_claimed_shipment_is_not_claimed_again_before_its_lease_ends(shop, lane):
    made = ship(place(shop))
    now = timezone.now()

    assert outbox._claim(now, 10) == [made.pk]

    assert outbox._claim(now + timedelta(minutes=5), 10) == []
    # a worker that died mid-call leaves it due once the lease ran out
    assert outbox._claim(now + outbox.CLAIM_LEASE + timedelta(seconds=1), 10) == [made.pk]


@pytest.mark.django_db
@pytest.mark.parametrize("mode", [Channel.Mode.SHADOW, Channel.Mode.PAUSED])
def test_a_channel_that_is_not_live_is_sent_nothing_until_it_is(shop, lane, mode):
    made = ship(place(shop))
    Channel.objects.filter(pk=shop.pk).update(mode=mode)

    assert outbox.deliver_due_shipments().attempted == 0
    assert lane.calls == []
    assert health.channel_health(shop).shipments_waiting == 1
    Channel.objects.filter(pk=shop.pk).update(mode=Channel.Mode.LIVE)
    assert outbox.deliver_due_shipments().confirmed == 1
    made.refresh_from_db()
    assert made.status == "confirmed"


def test_the_backoff_doubles_from_30_seconds_to_a_30_minute_cap():
    middle = [outbox.retry_delay(n, rand=lambda: 0.5).total_seconds() for n in range(1, 9)]
    assert middle == [30, 60, 120, 240, 480, 960, 1800, 1800]
    assert outbox.retry_delay(1, rand=lambda: 0.0).total_seconds() == 22.5
    assert outbox.retry_delay(1, rand=lambda: 1.0).total_seconds() == 37.5
    assert outbox.retry_delay(20, rand=lambda: 1.0).total_seconds() == 1800
    assert outbox.retry_delay(1, retry_after=300, rand=lambda: 0.5).total_seconds() == 300


@pytest.mark.django_db
def test_the_channels_health_counts_shipments_waiting_failing_and_refused(shop, lane):
    waiting, failing, refused = (ship(place(shop, f"O-{n}")) for n in (1, 2, 3))
    OrderShipment.objects.filter(pk=failing.pk).update(attempts=2, last_error="HTTP 503")
    OrderShipment.objects.filter(pk=refused.pk).update(status="refused", attempts=1)

    found = health.channel_health(shop)

    assert (found.shipments_waiting, found.shipments_failing, found.shipments_refused) == (2, 1, 1)
    assert waiting.status == "pending"


# --- the API -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_api_answers_202_with_the_pending_shipment_and_signs_it(shop, lane, api_client):
    order = place(shop)
    url = f"/api/v1/orders/{order.pk}/ship/"
    body = {"carrier": "UPS", "tracking_number": "1Z999", "lines": [{"line": "L1", "quantity": 2}]}

    answer = api_client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert answer.status_code == 202, answer.content
    shipment = answer.json()
    assert (shipment["status"], shipment["lines"]) == ("pending", [{"line": "L1", "quantity": 2}])
    assert (shipment["order"], shipment["key"], shipment["source"]) == (order.pk, "api:k-1", "api")
    entry = AuditEntry.objects.get(action="order.ship")
    assert (entry.actor, entry.target_id, entry.after["id"]) == (
        "ops",
        str(order.pk),
        shipment["id"],
    )
    # a repeat with the same key answers the same shipment, signed once
    again = api_client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (again.status_code, again.json()["id"]) == (200, shipment["id"])
    assert again["Idempotent-Replayed"] == "true"
    assert AuditEntry.objects.filter(action="order.ship").count() == 1
    # the same key with other lines is a conflict
    other = {**body, "lines": [{"line": "L1", "quantity": 1}]}
    assert api_client.post(url, other, format="json", HTTP_IDEMPOTENCY_KEY="k-1").status_code == 409
    # and the order shows its shipment
    shown = api_client.get(f"/api/v1/orders/{order.pk}/").json()
    assert [s["id"] for s in shown["shipments"]] == [shipment["id"]]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "headers", "field"),
    [
        ({"carrier": "UPS", "tracking_number": "1Z", "lines": []}, {}, "lines"),
        (
            {"carrier": "UPS", "tracking_number": "1Z", "lines": [{"line": "L1", "quantity": "2"}]},
            {},
            "lines",
        ),
        ({"carrier": "UPS"}, {}, "tracking_number"),
        (
            {"carrier": "UPS", "tracking_number": "1Z"},
            {"HTTP_IDEMPOTENCY_KEY": "é" * 3},
            "Idempotency-Key",
        ),
    ],
)
def test_the_api_refuses_a_malformed_shipment_and_stores_nothing(
    shop, lane, api_client, body, headers, field
):
    order = place(shop)

    answer = api_client.post(f"/api/v1/orders/{order.pk}/ship/", body, format="json", **headers)

    assert answer.status_code == 400, answer.content
    assert any(name.startswith(field) for name in answer.json()["errors"])
    assert not OrderShipment.objects.exists()


@pytest.mark.django_db
def test_shipping_more_than_is_left_through_the_api_is_409(shop, lane, api_client):
    order = place(shop)
    body = {"carrier": "UPS", "tracking_number": "1Z", "lines": [{"line": "L1", "quantity": 5}]}

    answer = api_client.post(f"/api/v1/orders/{order.pk}/ship/", body, format="json")

    assert answer.status_code == 409
    assert "still to ship" in answer.json()["detail"]
    assert not AuditEntry.objects.filter(action="order.ship").exists()


@pytest.mark.django_db
def test_the_shipments_list_filters_by_status_and_order(shop, lane, api_client):
    first, second = place(shop), place(shop, "O-2")
    waiting = ship(first)
    done = ship(second)
    OrderShipment.objects.filter(pk=done.pk).update(status="confirmed")

    pending = api_client.get("/api/v1/shipments/", {"status": "pending"}).json()["results"]
    of_second = api_client.get("/api/v1/shipments/", {"order": second.pk}).json()["results"]

    assert [s["id"] for s in pending] == [waiting.pk]
    assert [(s["id"], s["status"]) for s in of_second] == [(done.pk, "confirmed")]
    assert api_client.post("/api/v1/shipments/", {}, format="json").status_code in (403, 405)


@pytest.mark.django_db
def test_the_channel_list_shows_shipments_waiting_and_failing(shop, lane, client, user):
    made = ship(place(shop))
    OrderShipment.objects.filter(pk=made.pk).update(attempts=3, last_error="HTTP 503")
    client.force_login(user)

    page = client.get("/channels/").content.decode()

    row = page[page.index('data-channel="store"') :]
    row = row[: row.index("</tr>")]
    assert '<td class="num" data-field="shipments-waiting">1</td>' in row
    assert 'data-field="shipments-failing">1</td>' in row
    detail = client.get("/channels/store/").content.decode()
    assert "1 shipment(s) waiting for the channel, 1 failing, 0 refused" in detail


# --- over real HTTP: the Shopify and Amazon sandboxes ------------------------------------------

STOCK = {"TEE-M": 10, "MUG-RED": 10}
UPS = "1Z999AA10123456784"


@pytest.fixture
def world(live_server, receive, settings, monkeypatch):
    with mixed_world(live_server.url, receive, settings, monkeypatch, STOCK) as built:
        yield built
        invalid = [entry for s in built.sellers for entry in s.sandbox.invalid_requests()]
    assert not invalid


def open_shop(world):
    shop = world.open_shop("shop", stock=STOCK, location=world.warehouse, seed=1)
    world.settle()
    return shop


def open_seller(world):
    seller = world.open_seller("amazon-us", mfn=dict(STOCK), location=world.warehouse, seed=2)
    world.settle()
    return seller


def deliver(world, *, later: timedelta = timedelta(0)):
    """One delivery round as the task runs it, `later` after now (past a backoff)."""
    return outbox.deliver_due_shipments(now=timezone.now() + later, lane_for=world.lane_for)


def line_of(order: ChannelOrder, sku: str) -> str:
    return order.lines.get(sku__code=sku).external_id


def shop_fulfillments(shop, order: ChannelOrder):
    return shop.sandbox.orders[int(order.external_id)].fulfillments


def echoes(topic: str) -> list[tuple[str, str]]:
    return list(InboundEvent.objects.filter(topic=topic).values_list("status", "outcome"))


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_shopify_shipment_whose_channel_fails_is_retried_until_the_shop_shows_its_tracking(world):
    shop = open_shop(world)
    shop.sandbox.sell("TEE-M", 2)
    world.settle()
    order = ChannelOrder.objects.get(channel=shop.channel)
    made = ship(order, tracking=UPS)
    # given the shop answers 503 to the next two fulfillment calls
    shop.sandbox.faults.add("http_503", 2, match="fulfillmentCreate")

    deliver(world)
    made.refresh_from_db()
    # then the shipment waits with its error shown, and the shop has no fulfillment
    assert (made.status, made.attempts) == ("pending", 1)
    assert "503" in made.last_error
    assert shop_fulfillments(shop, order) == []
    deliver(world, later=LATER)
    deliver(world, later=LATER * 2)

    made.refresh_from_db()
    fulfillments = shop_fulfillments(shop, order)
    assert (made.status, made.attempts) == ("confirmed", 3)
    assert [f.tracking_numbers for f in fulfillments] == [[UPS]]
    assert made.channel_reference == fulfillments[0].gid
    # and the shop's fulfillments/create echo ships nothing a second time
    world.settle()
    assert echoes("fulfillments/create") == [
        ("ignored", f"fulfillment {fulfillments[0].id} is our shipment {made.pk}: its units left "
         "when it was made")
    ]  # fmt: skip
    assert (balance("TEE-M", "on_hand"), balance("TEE-M", "committed")) == (8, 0)
    assert shipment_events() == 1
    assert health.channel_health(shop.channel).shipments_waiting == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_shopify_confirmation_whose_answer_was_lost_is_found_and_not_made_twice(world):
    shop = open_shop(world)
    shop.sandbox.sell("TEE-M", 2)
    world.settle()
    order = ChannelOrder.objects.get(channel=shop.channel)
    made = ship(order, tracking=UPS)
    # given the shop makes the fulfillment and the connection drops before its answer
    shop.sandbox.faults.add("drop_connection", 1, match="fulfillmentCreate")

    deliver(world)
    made.refresh_from_db()
    assert (made.status, len(shop_fulfillments(shop, order))) == ("pending", 1)
    deliver(world, later=LATER)

    made.refresh_from_db()
    fulfillments = shop_fulfillments(shop, order)
    assert len(fulfillments) == 1
    assert (made.status, made.channel_reference) == ("confirmed", fulfillments[0].gid)
    world.settle()
    assert balance("TEE-M", "on_hand") == 8
    assert shipment_events() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_partial_shopify_shipment_fulfils_only_its_lines(world):
    shop = open_shop(world)
    shop.sandbox.sell(lines=[("TEE-M", 3), ("MUG-RED", 1)])
    world.settle()
    order = ChannelOrder.objects.get(channel=shop.channel)
    tee, mug = line_of(order, "TEE-M"), line_of(order, "MUG-RED")

    ship(order, [(tee, 1)], tracking="PKG-1")
    deliver(world)
    world.settle()

    (first,) = shop_fulfillments(shop, order)
    assert first.lines == [(int(tee), 1)]
    assert (balance("TEE-M", "committed"), balance("MUG-RED", "committed")) == (2, 1)
    assert (balance("TEE-M", "on_hand"), balance("MUG-RED", "on_hand")) == (9, 10)
    # when the rest ships
    rest = ship(order, tracking="PKG-2")
    deliver(world)
    world.settle()
    second = shop_fulfillments(shop, order)[1]
    assert sorted(second.lines) == sorted([(int(tee), 2), (int(mug), 1)])
    assert OrderShipment.objects.get(pk=rest.pk).channel_reference == second.gid
    assert (balance("TEE-M", "on_hand"), balance("MUG-RED", "on_hand")) == (7, 9)
    assert (balance("TEE-M", "committed"), balance("MUG-RED", "committed")) == (0, 0)
    assert ChannelOrder.objects.get(pk=order.pk).status == "fulfilled"


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_shopify_echo_that_beats_the_acknowledgement_waits_and_ships_nothing(world):
    shop = open_shop(world)
    shop.sandbox.sell("TEE-M", 2)
    world.settle()
    order = ChannelOrder.objects.get(channel=shop.channel)
    made = ship(order, tracking=UPS)

    class EchoFirst(ShopifyLane):
        """The shop's webhook is ingested after the fulfillment is made, before its answer
        is recorded."""

        def confirm_shipment(self, order, shipment):
            reference = super().confirm_shipment(order, shipment)
            shop.sandbox.flush_webhooks()
            inbound.process_pending()
            return reference

    outbox.deliver_due_shipments(lane_for=lambda channel: EchoFirst(**SHOPIFY_OPTIONS))

    # then the echo waited (retryable) while the shipment was pending
    ((status, outcome),) = echoes("fulfillments/create")
    assert status == "failed"
    assert "waiting for Shopify's answer" in outcome
    assert balance("TEE-M", "on_hand") == 8
    # and, tried again once the answer is recorded, it is recognised as ours
    inbound.process_pending(now=timezone.now() + LATER)
    made.refresh_from_db()
    ((status, outcome),) = echoes("fulfillments/create")
    assert (made.status, status) == ("confirmed", "ignored")
    assert f"our shipment {made.pk}" in outcome
    assert (balance("TEE-M", "on_hand"), balance("TEE-M", "committed")) == (8, 0)
    assert shipment_events() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_fulfilment_made_in_shopifys_admin_still_ships_once(world):
    shop = open_shop(world)
    sold = shop.sandbox.sell("TEE-M", 2)
    world.settle()

    shop.sandbox.fulfill(sold["id"], tracking_company="UPS", tracking_numbers=["ADMIN-1"])
    world.settle()

    assert [status for status, _ in echoes("fulfillments/create")] == ["applied"]
    assert (balance("TEE-M", "on_hand"), balance("TEE-M", "committed")) == (8, 0)
    assert shipment_events() == 1
    assert not OrderShipment.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_shipment_of_an_order_cancelled_on_shopify_ends_refused(world):
    shop = open_shop(world)
    sold = shop.sandbox.sell("TEE-M", 1)
    world.settle()
    made = ship(ChannelOrder.objects.get(channel=shop.channel), tracking=UPS)
    # given the order was cancelled in the shop before the confirmation went out
    shop.sandbox.cancel(sold["id"])

    done = deliver(world)

    made.refresh_from_db()
    assert (done.refused, made.status, made.next_attempt_at) == (1, "refused", None)
    assert "more than Shopify has open" in made.last_error
    assert deliver(world, later=LATER).attempted == 0
    assert health.channel_health(shop.channel).shipments_refused == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_an_amazon_shipment_whose_channel_fails_is_retried_until_amazon_shows_its_tracking(world):
    seller = open_seller(world)
    placed = seller.sandbox.place_order("TEE-M", 2)
    world.settle()
    order = ChannelOrder.objects.get(channel=seller.channel)
    made = ship(order, tracking=UPS)
    # given confirmShipment answers 503 (nothing done) on every try of the first round
    seller.sandbox.fail("confirmShipment", status=503, count=20)

    deliver(world)
    made.refresh_from_db()
    assert (made.status, made.attempts) == ("pending", 1)
    assert "503" in made.last_error
    assert seller.sandbox.orders[placed["orderId"]].packages == []
    seller.sandbox.clear_faults()
    deliver(world, later=LATER)

    made.refresh_from_db()
    packages = seller.sandbox.orders[placed["orderId"]].packages
    assert (made.status, made.channel_reference) == ("confirmed", "1")
    assert [(p.package_reference_id, p.tracking_number) for p in packages] == [("1", UPS)]
    # and Amazon's order, now showing two shipped, ships nothing a second time
    world.settle()
    assert seller.sandbox.order_json(placed["orderId"])["fulfillment"]["fulfillmentStatus"] == (
        "SHIPPED"
    )
    assert (balance("TEE-M", "on_hand"), balance("TEE-M", "committed")) == (8, 0)
    assert order.lines.get().shipped_units == 2
    assert shipment_events() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_an_amazon_confirmation_whose_answer_was_lost_is_found_and_not_made_twice(world):
    seller = open_seller(world)
    placed = seller.sandbox.place_order("TEE-M", 2)
    world.settle()
    made = ship(ChannelOrder.objects.get(channel=seller.channel), tracking=UPS)
    # given Amazon applies the confirmation and answers 504
    seller.sandbox.fail("confirmShipment", status=504, count=1)

    deliver(world)
    made.refresh_from_db()
    assert made.status == "pending"
    deliver(world, later=LATER)

    made.refresh_from_db()
    packages = seller.sandbox.orders[placed["orderId"]].packages
    assert (made.status, made.channel_reference, len(packages)) == ("confirmed", "1", 1)
    world.settle()
    assert balance("TEE-M", "on_hand") == 8


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_partial_amazon_shipment_goes_as_its_own_package(world):
    seller = open_seller(world)
    placed = seller.sandbox.place_order("TEE-M", 3)
    world.settle()
    order = ChannelOrder.objects.get(channel=seller.channel)
    item = line_of(order, "TEE-M")

    ship(order, [(item, 1)], tracking="PKG-1")
    deliver(world)
    world.settle()

    assert seller.sandbox.order_json(placed["orderId"])["fulfillment"]["fulfillmentStatus"] == (
        "PARTIALLY_SHIPPED"
    )
    assert (balance("TEE-M", "on_hand"), balance("TEE-M", "committed")) == (9, 2)
    ship(order, tracking="PKG-2")
    deliver(world)
    world.settle()
    packages = seller.sandbox.orders[placed["orderId"]].packages
    assert [(p.package_reference_id, p.items) for p in packages] == [
        ("1", [(item, 1)]),
        ("2", [(item, 2)]),
    ]
    assert (balance("TEE-M", "on_hand"), balance("TEE-M", "committed")) == (7, 0)
    assert shipment_events() == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_package_amazon_refuses_with_a_400_ends_refused(world):
    seller = open_seller(world)
    placed = seller.sandbox.place_order("TEE-M", 2)
    world.settle()
    made = ship(ChannelOrder.objects.get(channel=seller.channel), tracking=UPS)
    # given the whole order was confirmed in Seller Central meanwhile
    item = placed["orderItems"][0]["orderItemId"]
    with seller.sandbox.lock:
        status, _ = seller.sandbox.confirm_shipment(
            seller.channel.seller_id,
            placed["orderId"],
            {
                "marketplaceId": seller.channel.marketplace,
                "packageDetail": {
                    "packageReferenceId": "1",
                    "carrierCode": "USPS",
                    "trackingNumber": "SELLER-CENTRAL-1",
                    "shipDate": "2026-11-30T10:00:00Z",
                    "orderItems": [{"orderItemId": item, "quantity": 2}],
                },
            },
        )
    assert status == 204

    done = deliver(world)

    made.refresh_from_db()
    assert (done.refused, made.status) == (1, "refused")
    assert "400" in made.last_error
    # the ledger shipped the units once (Amazon's shipped count is no news to it)
    world.settle()
    assert (balance("TEE-M", "on_hand"), balance("TEE-M", "committed")) == (8, 0)
    assert shipment_events() == 1
