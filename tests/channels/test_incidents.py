"""Oversell incidents through their orders (I8): which orders stand and which give way, the
hold-for-review policy, the backorder, the apology e-mail and the history of ended incidents.
(Cancels through a real channel: test_incident_cancels.py.)"""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from allocation.models import ConflictPolicy, OversellIncident, SkuPolicy
from channels import incidents
from channels.incidents import IncidentOrder, incident_orders
from channels.models import (
    Channel,
    ChannelOrder,
    ChannelOrderLine,
    ConflictAction,
    Customer,
)
from inventory_sync.lib.errors import Conflict, DomainError
from ledger import services
from ledger.models import Balance, InventoryEvent, Location
from ledger.rules import EventLine
from tests.factories import ChannelFactory, LocationFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def order(channel, name, *, minutes, sku, units, status=ChannelOrder.Status.OPEN, **extra):
    placed = T0 + timedelta(minutes=minutes)
    found = ChannelOrder.objects.create(
        channel=channel,
        external_id=name,
        name=name,
        status=status,
        placed_at=placed,
        channel_updated_at=placed,
        **extra,
    )
    ChannelOrderLine.objects.create(
        order=found, external_id="1", sku=sku, quantity=units, current_quantity=units,
        sold_units=units, unit_price="19.90",
    )  # fmt: skip
    return found


def verdicts(incident) -> list[tuple[str, int, int, str]]:
    return [
        (row.order.name, row.units, row.losing_units, row.verdict)
        for row in incident_orders(incident)
    ]


@pytest.fixture
def shop(db):
    return ChannelFactory(code="shop", kind=Channel.Kind.SHOPIFY, priority=1, mode="live")


@pytest.fixture
def amazon(db):
    return ChannelFactory(code="amazon-us", kind=Channel.Kind.AMAZON, priority=2, mode="live")


# --- who stands ------------------------------------------------------------------------------


def test_every_open_order_is_listed_earliest_first_and_the_latest_cover_the_shortage(
    sku, shop, amazon
):
    order(shop, "#1001", minutes=0, sku=sku, units=2)
    order(amazon, "A-1", minutes=5, sku=sku, units=1)
    order(shop, "#1002", minutes=5, sku=sku, units=1)  # a tie: the better priority stands
    order(shop, "#1003", minutes=9, sku=sku, units=1)
    incident = OversellIncident.objects.create(sku=sku, units_short=2)

    assert verdicts(incident) == [
        ("#1001", 2, 0, "stands"),
        ("#1002", 1, 0, "stands"),
        ("A-1", 1, 1, "cancel or backorder"),
        ("#1003", 1, 1, "cancel or backorder"),
    ]


def test_an_order_on_the_line_gives_way_only_for_its_short_units(sku, shop, amazon):
    order(amazon, "A-1", minutes=0, sku=sku, units=2)
    order(shop, "#1001", minutes=1, sku=sku, units=3)
    incident = OversellIncident.objects.create(sku=sku, units_short=1)

    rows = incident_orders(incident)

    assert [(row.order.name, row.losing_units) for row in rows] == [("A-1", 0), ("#1001", 1)]
    assert rows[1].partly
    assert rows[1].verdict == "short 1 of 3 units: cancel or backorder"
    assert sum(row.losing_units for row in rows) == incident.units_short


def test_a_tie_in_time_and_priority_goes_to_the_older_order(sku, shop):
    first = order(shop, "#1001", minutes=0, sku=sku, units=1)
    second = order(shop, "#1002", minutes=0, sku=sku, units=1)
    assert first.pk < second.pk
    incident = OversellIncident.objects.create(sku=sku, units_short=1)

    assert [(r.order.name, r.losing) for r in incident_orders(incident)] == [
        ("#1001", False),
        ("#1002", True),
    ]


def test_an_order_amazon_fulfils_from_its_own_pool_is_in_no_conflict(sku, shop, amazon):
    fba = LocationFactory(code="FBA-NA", kind=Location.Kind.FBA)
    order(shop, "#1001", minutes=5, sku=sku, units=1)
    afn = order(amazon, "A-1", minutes=9, sku=sku, units=1)
    ChannelOrderLine.objects.filter(order=afn).update(location=fba)
    incident = OversellIncident.objects.create(sku=sku, units_short=1)

    assert [(r.order.name, r.losing) for r in incident_orders(incident)] == [("#1001", True)]


def test_orders_no_longer_open_never_give_way(sku, shop):
    order(shop, "#1001", minutes=0, sku=sku, units=1)
    order(shop, "#1002", minutes=1, sku=sku, units=1, status=ChannelOrder.Status.CANCELLED)
    incident = OversellIncident.objects.create(sku=sku, units_short=1)

    assert [(r.order.name, r.losing) for r in incident_orders(incident)] == [("#1001", True)]


def test_hold_for_review_holds_every_conflicting_order_and_marks_none_to_cancel(sku, shop, amazon):
    SkuPolicy.objects.create(sku=sku, conflict_policy=ConflictPolicy.HOLD_FOR_REVIEW)
    order(amazon, "A-1", minutes=0, sku=sku, units=1)
    order(shop, "#1001", minutes=1, sku=sku, units=1)
    incident = OversellIncident.objects.create(sku=sku, units_short=1)

    rows = incident_orders(incident)

    assert [row.verdict for row in rows] == ["held for review", "held for review"]
    assert all(row.held for row in rows)
    assert not any("cancel" in row.verdict for row in rows)


def test_an_order_given_an_action_shows_it_and_stays_listed_once_cancelled(sku, shop, amazon):
    order(amazon, "A-1", minutes=0, sku=sku, units=1)
    waiting = order(shop, "#1001", minutes=1, sku=sku, units=1)
    incident = OversellIncident.objects.create(sku=sku, units_short=1)
    incidents.backorder(waiting, note="ships Friday", actor="ana")

    rows = incident_orders(incident)
    assert [(r.order.name, r.order.conflict_action) for r in rows] == [
        ("A-1", ""),
        ("#1001", ConflictAction.BACKORDERED),
    ]
    ChannelOrder.objects.filter(pk=waiting.pk).update(
        status=ChannelOrder.Status.CANCELLED, conflict_action=ConflictAction.CANCEL_REQUESTED
    )
    incident.units_short = 0  # the cancel covered it (the planner resolves it next pass)
    rows = incident_orders(incident)
    assert [(r.order.name, r.verdict) for r in rows] == [("A-1", "stands"), ("#1001", "cancelled")]


@pytest.mark.parametrize(
    ("kind", "mode", "status", "can_cancel"),
    [
        (Channel.Kind.SHOPIFY, Channel.Mode.LIVE, ChannelOrder.Status.OPEN, True),
        (Channel.Kind.SHOPIFY, Channel.Mode.SHADOW, ChannelOrder.Status.OPEN, False),
        (Channel.Kind.SHOPIFY, Channel.Mode.LIVE, ChannelOrder.Status.CANCELLED, False),
        # Amazon cancels a merchant-fulfilled order through the order acknowledgement feed.
        (Channel.Kind.AMAZON, Channel.Mode.LIVE, ChannelOrder.Status.OPEN, True),
        # A kind with no lane yet cannot cancel anything.
        (Channel.Kind.POS, Channel.Mode.LIVE, ChannelOrder.Status.OPEN, False),
    ],
)
def test_the_console_cancels_only_open_orders_on_live_channels_whose_lane_cancels(
    sku, kind, mode, status, can_cancel
):
    channel = ChannelFactory(code=f"{kind}-{mode}", kind=kind, mode=mode)
    found = order(channel, "#1", minutes=0, sku=sku, units=1, status=status)

    assert IncidentOrder(found, 1).can_cancel is can_cancel


def test_a_cancel_sent_blocks_a_second_one_until_the_channel_has_had_time_to_answer(sku, shop):
    found = order(
        shop, "#1", minutes=0, sku=sku, units=1,
        conflict_action=ConflictAction.CANCEL_REQUESTED, conflict_action_at=T0,
    )  # fmt: skip

    with pytest.raises(Conflict, match="was sent"):
        incidents.check_cancellable(found, now=T0 + timedelta(minutes=5))
    assert IncidentOrder(found, 1).cancel_pending
    incidents.check_cancellable(found, now=T0 + incidents.CANCEL_ANSWER_WAIT)  # may go again


# --- backorder -------------------------------------------------------------------------------


def test_a_backorder_keeps_the_order_open_and_its_commitment(sku, warehouse, shop, receive):
    receive(sku, warehouse, 1)
    services.record_event(
        kind="sale",
        lines=[EventLine(sku.code, warehouse.code, 2)],
        idempotency_key="shop:order:#1:line:1:sold:2",
        source="test",
        reference="shop:order:#1",
    )
    found = order(shop, "#1", minutes=0, sku=sku, units=2)
    events = InventoryEvent.objects.count()

    done = incidents.backorder(found, note="  ships when the PO lands ", actor="ana")

    assert (done.status, done.conflict_action) == ("open", ConflictAction.BACKORDERED)
    assert (done.conflict_action_by, done.conflict_note) == ("ana", "ships when the PO lands")
    assert InventoryEvent.objects.count() == events
    assert Balance.objects.get(sku=sku, location=warehouse, bucket="committed").quantity == 2


def test_a_backorder_needs_a_note_and_an_open_order_with_no_cancel_on_its_way(sku, shop):
    cancelled = order(shop, "#1", minutes=0, sku=sku, units=1, status="cancelled")
    pending = order(
        shop, "#2", minutes=0, sku=sku, units=1,
        conflict_action=ConflictAction.CANCEL_REQUESTED, conflict_action_at=T0,
    )  # fmt: skip

    with pytest.raises(DomainError, match="Say why"):
        incidents.backorder(pending, note=" ", actor="ana")
    with pytest.raises(Conflict, match="cancelled"):
        incidents.backorder(cancelled, note="later", actor="ana")
    with pytest.raises(Conflict, match="was sent"):
        incidents.backorder(pending, note="later", actor="ana")
    assert ChannelOrder.objects.get(pk=pending.pk).conflict_action == "cancel_requested"


# --- the apology e-mail ----------------------------------------------------------------------


def test_the_apology_names_the_item_the_order_and_the_discount_code(sku, shop):
    customer = Customer.objects.create(email="jo@example.com", name="Jo")
    found = order(shop, "#1002", minutes=0, sku=sku, units=1, customer=customer)
    OversellIncident.objects.create(sku=sku, units_short=1)

    email = incidents.apology_email(found, discount_code=" SORRY-10 ")

    assert email.to == "jo@example.com"
    assert email.subject == f"Your order #1002 from {shop.name} has been cancelled"
    assert "Hello Jo," in email.body
    assert f"{sku.title} sold out" in email.body
    assert "SORRY-10" in email.body
    assert "SORRY" not in incidents.apology_email(found).body


def test_the_apology_goes_to_the_orders_own_address_or_to_nobody(sku, shop, amazon):
    from_shop = order(shop, "#1", minutes=0, sku=sku, units=1, snapshot={"email": "a@b.example"})
    relayed = order(
        amazon, "A-1", minutes=0, sku=sku, units=1,
        snapshot={"buyer": {"buyerEmail": "x1y2@marketplace.amazon.com"}},
    )  # fmt: skip
    garbage = order(shop, "#2", minutes=0, sku=sku, units=1, snapshot={"email": "not an address"})

    assert incidents.customer_email(from_shop) == "a@b.example"
    # A marketplace's relay address is not the customer's: nothing goes there from us.
    relayed_email = incidents.apology_email(relayed)
    assert relayed_email.to == ""
    assert "masks it" in relayed_email.why_no_address
    assert incidents.customer_email(garbage) == ""


# --- history ---------------------------------------------------------------------------------


def test_an_ended_incident_keeps_the_orders_it_named_and_what_was_done(
    client, user, sku, warehouse, shop, amazon, receive
):
    receive(sku, warehouse, 1)
    stands = order(amazon, "A-1", minutes=0, sku=sku, units=1)
    gave_way = order(shop, "#1001", minutes=1, sku=sku, units=1)
    sold = services.record_event(
        kind="sale",
        lines=[EventLine(sku.code, warehouse.code, 1)],
        idempotency_key="shop:order:#1001:line:1:sold:1",
        source="test",
        reference="shop:order:#1001",
    )
    incident = OversellIncident.objects.create(
        sku=sku, units_short=1, sale_event_ids=[sold.event.pk]
    )
    incidents.backorder(gave_way, note="ships Friday", actor="ana")
    OversellIncident.objects.filter(pk=incident.pk).update(
        status=OversellIncident.Status.CLOSED, ended_at=datetime.now(UTC), closed_by="ana"
    )
    other = OversellIncident.objects.create(sku=sku, units_short=1)  # open: not history

    [past] = incidents.closed_incidents(OversellIncident.objects.exclude(status="open"))
    assert past.incident.pk == incident.pk
    assert [o.name for o in past.orders] == ["#1001"]
    client.force_login(user)
    page = client.get(reverse("channels:incident-list"), {"state": "closed"}).content.decode()
    assert f'data-incident="{incident.pk}"' in page
    assert f'data-incident="{other.pk}"' not in page
    assert 'data-order="shop:#1001"' in page
    assert "Backordered" in page
    assert f'data-order="amazon-us:{stands.external_id}"' not in page
    open_page = client.get(reverse("channels:incident-list")).content.decode()
    assert f'data-incident="{other.pk}"' in open_page
    assert "Closed and resolved (1)" in open_page


def test_the_page_offers_the_actions_on_the_orders_that_give_way_only(
    client, user, sku, shop, amazon
):
    stands = order(amazon, "A-1", minutes=0, sku=sku, units=1)
    gives_way = order(shop, "#1001", minutes=1, sku=sku, units=1)
    OversellIncident.objects.create(sku=sku, units_short=1)
    client.force_login(user)

    page = client.get(reverse("channels:incident-list")).content.decode()

    assert 'data-order="amazon-us:A-1" data-verdict="stands"' in page
    assert 'data-order="shop:#1001" data-verdict="losing"' in page
    assert reverse("channels:incident-order-cancel", args=[gives_way.pk]) in page
    assert reverse("channels:incident-order-backorder", args=[gives_way.pk]) in page
    assert reverse("channels:incident-order-cancel", args=[stands.pk]) not in page
    assert reverse("channels:incident-order-backorder", args=[stands.pk]) not in page
