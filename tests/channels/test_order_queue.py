"""The order queue (channels.order_pages) and the orders and customers API: one list of every
channel's orders with the filters the operations team asks for (the console and the API agree
on them), an order's page and its actions (ship, re-route a line), and a customer's orders
across channels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from access.models import AuditEntry
from access.roles import Role
from allocation.models import OversellIncident
from channels.customers import match_customer
from channels.models import ChannelOrder, ChannelOrderLine, Customer, OrderShipment
from channels.order_details import OrderDetails
from channels.orders import OrderLineSnapshot, OrderSnapshot, apply_order_snapshot
from tests.channels.shopify_world import balance
from tests.factories import ChannelFactory, ListingFactory, LocationFactory, SkuFactory

pytestmark = pytest.mark.django_db

PLACED = datetime(2026, 11, 27, 14, 23, 1, tzinfo=UTC)


def client_of(django_user_model, role: Role, name: str) -> APIClient:
    person = django_user_model.objects.create_user(name)
    person.groups.add(Group.objects.get(name=role))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=person).key}")
    client.force_login(person)
    return client


@pytest.fixture
def operator(django_user_model):
    return client_of(django_user_model, Role.OPERATOR, "picker")


@pytest.fixture
def viewer(django_user_model):
    return client_of(django_user_model, Role.VIEWER, "watcher")


def an_order(channel, name, *, placed=PLACED, lines=(), status="open", **facts) -> ChannelOrder:
    """An order row as ingest leaves it (facts given, lines [(sku, location, items)])."""
    order = ChannelOrder.objects.create(
        channel=channel,
        external_id=f"{channel.code}-{name}",
        name=name,
        status=status,
        placed_at=placed,
        channel_updated_at=placed,
        **facts,
    )
    for index, (sku, location, items) in enumerate(lines):
        ChannelOrderLine.objects.create(
            order=order,
            external_id=f"{name}-{index}",
            sku=sku,
            location=location,
            quantity=items,
            current_quantity=items,
            sold_units=items,
            unit_price=Decimal("25.00"),
            routed_by="rule 1: Shopify under 5 lb ships from the own warehouse" if location else "",
        )
    return order


@pytest.fixture
def shelf():
    """Two channels, two SKUs and two locations, and one order of every kind the filters
    tell apart."""
    shop = ChannelFactory(code="shop", name="Shop")
    amazon = ChannelFactory(code="amazon-us", name="Amazon US", kind="amazon")
    tee, mug = SkuFactory(code="TEE-M"), SkuFactory(code="MUG-RED")
    east = LocationFactory(code="WH-EAST")
    now = timezone.now()
    rows = {
        "fresh": an_order(
            shop, "#1001", lines=[(tee, east, 2)], ship_by=now + timedelta(days=1),
            shipping_tier="Express", destination_country="US", destination_region="NY",
            weight_grams=700, total_price=Decimal("50.00"), currency="USD",
        ),
        "late": an_order(amazon, "111-1", lines=[(mug, east, 1)], ship_by=now - timedelta(hours=2),
                         is_prime=True, fulfilled_by_channel=False),
        "late-but-shipped": an_order(
            amazon, "111-2", lines=[(mug, east, 1)], ship_by=now - timedelta(days=2),
            status="fulfilled",
        ),
        "oversold": an_order(shop, "#1002", lines=[(mug, east, 1)]),
        "decided": an_order(shop, "#1003", lines=[(tee, east, 1)], conflict_action="backordered"),
        "unrouted": an_order(shop, "#1004", lines=[(tee, east, 1), (mug, None, 1)]),
        "cancelled": an_order(shop, "#1005", lines=[(tee, east, 1)], status="cancelled"),
    }  # fmt: skip
    OversellIncident.objects.create(sku=mug, units_short=1)
    return rows


def listed(response) -> set[int]:
    page = response.content.decode()
    return {int(part.split('"', 1)[0]) for part in page.split('<tr data-order="')[1:]}


# --- the console queue ------------------------------------------------------------------------


def test_the_queue_shows_each_orders_lines_and_facts(viewer, shelf):
    page = viewer.get("/orders/")

    assert page.status_code == 200
    assert listed(page) == {order.pk for order in shelf.values()}
    html = page.content.decode()
    row = html[html.index(f'<tr data-order="{shelf["fresh"].pk}"') :]
    row = row[: row.index("</tr>")]
    for shown in ("#1001", "TEE-M", "× 2", "@ 25.00", "WH-EAST", "rule 1", "Express",
                  "US-NY", "700 g", "50.00 USD"):  # fmt: skip
        assert shown in row, shown
    late = html[html.index(f'<tr data-order="{shelf["late"].pk}"') :]
    late = late[: late.index("</tr>")]
    assert "Prime" in late
    assert 'data-late="1"' in late
    assert "MFN" in late
    assert 'data-late="1"' not in row


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"channel": "amazon-us"}, {"late", "late-but-shipped"}),
        ({"status": "cancelled"}, {"cancelled"}),
        ({"late": "1"}, {"late"}),
        ({"oversold": "1"}, {"late", "late-but-shipped", "oversold", "decided", "unrouted"}),
        ({"oversold": "1", "status": "open"}, {"late", "oversold", "decided", "unrouted"}),
        ({"unrouted": "1"}, {"unrouted"}),
        ({"q": "#1004"}, {"unrouted"}),
        ({"q": "shop-#1005"}, {"cancelled"}),
        ({"q": "nothing like it"}, set()),
        ({"late": "1", "channel": "shop"}, set()),
    ],
)
def test_each_filter_keeps_the_orders_it_names(viewer, shelf, query, expected):
    assert listed(viewer.get("/orders/", query)) == {shelf[name].pk for name in expected}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"channel": "amazon-us"}, {"late", "late-but-shipped"}),
        ({"late": "true"}, {"late"}),
        ({"oversold": "true", "status": "open"}, {"late", "oversold", "decided", "unrouted"}),
        ({"oversold": "false"}, {"fresh", "cancelled"}),
        ({"unrouted": "true"}, {"unrouted"}),
        ({"is_prime": "true"}, {"late"}),
    ],
)
def test_the_api_filters_mean_what_the_console_filters_mean(viewer, shelf, query, expected):
    answer = viewer.get("/api/v1/orders/", query)
    assert answer.status_code == 200
    assert {row["id"] for row in answer.json()["results"]} == {shelf[n].pk for n in expected}


def test_htmx_gets_the_table_alone(viewer, shelf):
    page = viewer.get("/orders/", {"late": "1"}, HTTP_HX_REQUEST="true").content.decode()
    assert page.lstrip().startswith('<div id="order-table">')
    assert "<h1>" not in page
    assert page.count("<tr data-order=") == 1


def test_the_queue_pages_and_its_links_keep_the_filters(viewer, shelf):
    shop = shelf["fresh"].channel
    for number in range(60):
        an_order(shop, f"#2{number:03d}", placed=PLACED - timedelta(minutes=number))

    first = viewer.get("/orders/", {"channel": "shop"})
    second = viewer.get("/orders/", {"channel": "shop", "page": "2"})

    assert len(listed(first)) == 50
    assert "channel=shop&amp;page=2" in first.content.decode()
    assert len(listed(second)) == 60 + 5 - 50
    assert not listed(first) & listed(second)


def test_the_queue_costs_the_same_queries_for_more_orders(
    viewer, shelf, django_assert_max_num_queries
):
    shop, tee = shelf["fresh"].channel, shelf["fresh"].lines.get().sku
    east = shelf["fresh"].lines.get().location
    viewer.get("/orders/")  # the session and permissions, loaded once
    for number in range(30):
        an_order(shop, f"#3{number:03d}", lines=[(tee, east, 1), (tee, east, 2)])
    with django_assert_max_num_queries(12):
        assert len(listed(viewer.get("/orders/"))) == 37


def test_the_api_shows_the_normalised_order(viewer, shelf):
    order = shelf["fresh"]
    customer = match_customer(OrderDetails(customer_email="ana@example.com"), PLACED)
    ChannelOrder.objects.filter(pk=order.pk).update(customer=customer)

    body = viewer.get(f"/api/v1/orders/{order.pk}/").json()

    assert {key: body[key] for key in (
        "is_prime", "shipping_tier", "destination_country", "destination_region",
        "weight_grams", "total_price", "currency", "fulfilled_by_channel", "conflict_action",
    )} == {
        "is_prime": False, "shipping_tier": "Express", "destination_country": "US",
        "destination_region": "NY", "weight_grams": 700, "total_price": "50.00",
        "currency": "USD", "fulfilled_by_channel": None, "conflict_action": "",
    }  # fmt: skip
    assert body["ship_by"] is not None
    assert body["customer"] == {"id": customer.pk, "name": ""}
    [line] = body["lines"]
    assert (line["unit_price"], line["location"], line["routed_by"]) == (
        "25.00",
        "WH-EAST",
        "rule 1: Shopify under 5 lb ships from the own warehouse",
    )
    assert viewer.get("/api/v1/orders/", {"customer": customer.pk}).json()["count"] == 1


def test_the_api_refuses_a_filter_value_it_cannot_read(viewer, shelf):
    assert viewer.get("/api/v1/orders/", {"placed_after": "yesterday"}).status_code == 400
    assert viewer.get("/api/v1/orders/", {"limit": "100000"}).status_code == 400
    after = viewer.get("/api/v1/orders/", {"placed_after": "2026-11-27T14:23:01Z"}).json()
    assert after["count"] == len(shelf)


# --- an order's page and its actions ----------------------------------------------------------


@pytest.fixture
def queued(receive):
    """A live shop's order ingested like any other: one line of 2 units committed at WH-EAST,
    with WH-WEST (same pool) holding 5 more."""
    shop = ChannelFactory(code="shop", name="Shop")
    tee = SkuFactory(code="TEE-M")
    east, west = LocationFactory(code="WH-EAST"), LocationFactory(code="WH-WEST")
    receive(tee, east, 3)
    receive(tee, west, 5)
    shop.default_location = east
    shop.save()
    listing = ListingFactory(channel=shop, sku=tee)
    line = OrderLineSnapshot("L-1", 2, 2, variant_id=listing.external_id, sku="TEE-M",
                             unit_price=Decimal("19.00"))  # fmt: skip
    snapshot = OrderSnapshot("5001", "#5001", PLACED, PLACED, None, (line,))
    apply_order_snapshot(channel=shop, snapshot=snapshot)
    return ChannelOrder.objects.get(channel=shop, external_id="5001")


def test_the_order_page_shows_its_lines_ledger_events_and_actions_for_operators_only(
    viewer, operator, queued
):
    page = viewer.get(f"/orders/{queued.pk}/").content.decode()
    assert "#5001" in page
    assert "19.00" in page
    assert "WH-EAST" in page
    assert "committed +2" in page  # the ledger event of the order
    assert 'method="post"' not in page.replace('class="logout"', "").split("</header>", 1)[1]

    offered = operator.get(f"/orders/{queued.pk}/").content.decode()
    assert f'data-ship="{queued.pk}"' in offered
    assert 'data-reroute="L-1"' in offered
    assert '<option value="WH-WEST">' in offered


def test_an_operator_ships_part_of_an_order_and_the_units_leave_at_once(operator, queued):
    answer = operator.post(
        f"/orders/{queued.pk}/ship/",
        {"ship-L-1": "1", "carrier": "UPS", "tracking_number": "1Z999AA10123456784"},
        follow=True,
    )

    assert answer.status_code == 200
    shipment = OrderShipment.objects.get(order=queued)
    assert (shipment.lines, shipment.source, shipment.created_by) == (
        [{"line": "L-1", "quantity": 1}],
        "console",
        "picker",
    )
    assert balance("TEE-M", "WH-EAST", "committed") == 1
    assert balance("TEE-M", "WH-EAST", "on_hand") == 2
    assert f'data-shipment="{shipment.pk}"' in answer.content.decode()
    assert AuditEntry.objects.filter(action="order.ship", target_id=str(queued.pk)).count() == 1


def test_a_ship_without_tracking_is_refused_and_nothing_leaves(operator, queued):
    answer = operator.post(f"/orders/{queued.pk}/ship/", {"carrier": "UPS"}, follow=True)

    assert "needs a carrier and a tracking number" in answer.content.decode()
    assert not OrderShipment.objects.exists()
    assert balance("TEE-M", "WH-EAST", "committed") == 2
    assert not AuditEntry.objects.filter(action="order.ship").exists()


def test_an_operator_moves_a_line_and_its_commitment_follows(operator, queued):
    line = queued.lines.get()

    operator.post(
        f"/orders/{queued.pk}/lines/{line.pk}/route/",
        {"location": "WH-WEST", "reason": "east is packing a wholesale order"},
    )

    line.refresh_from_db()
    assert line.location.code == "WH-WEST"
    assert "east is packing a wholesale order" in line.routed_by
    assert (balance("TEE-M", "WH-EAST", "committed"), balance("TEE-M", "WH-WEST", "committed")) == (
        0,
        2,
    )
    entry = AuditEntry.objects.get(action="order.reroute")
    assert entry.after == {"line": "L-1", "from": "WH-EAST", "to": "WH-WEST"}


def test_a_move_to_a_place_without_the_units_is_refused_and_nothing_moves(
    operator, queued, receive
):
    LocationFactory(code="STORE-SOHO", kind="store")  # in the pool, holds nothing
    line = queued.lines.get()

    answer = operator.post(
        f"/orders/{queued.pk}/lines/{line.pk}/route/",
        {"location": "STORE-SOHO", "reason": "closer"},
        follow=True,
    )

    line.refresh_from_db()
    assert line.location.code == "WH-EAST"
    assert balance("TEE-M", "WH-EAST", "committed") == 2
    assert "STORE-SOHO" in answer.content.decode()
    assert not AuditEntry.objects.filter(action="order.reroute").exists()


def test_the_api_routes_a_line_for_an_operator_and_refuses_a_viewer(operator, viewer, queued):
    body = {"line": "L-1", "location": "WH-WEST", "reason": "east is closed today"}

    refused = viewer.post(f"/api/v1/orders/{queued.pk}/route/", body, format="json")
    moved = operator.post(f"/api/v1/orders/{queued.pk}/route/", body, format="json")
    again = operator.post(f"/api/v1/orders/{queued.pk}/route/", body, format="json")

    assert refused.status_code == 403
    assert moved.status_code == 200
    assert moved.json()["lines"][0]["location"] == "WH-WEST"
    assert again.status_code == 409  # already there: nothing to move
    assert AuditEntry.objects.filter(action="order.reroute", via="api").count() == 1
    assert balance("TEE-M", "WH-WEST", "committed") == 2


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"line": "L-404", "location": "WH-WEST", "reason": "x"}, 404),
        ({"line": "L-1", "location": "NOWHERE", "reason": "x"}, 400),
        ({"line": "L-1", "location": "WH-WEST"}, 400),
    ],
)
def test_the_api_refuses_a_route_it_cannot_do(operator, queued, body, status):
    assert operator.post(f"/api/v1/orders/{queued.pk}/route/", body, format="json").status_code == (
        status
    )
    assert balance("TEE-M", "WH-EAST", "committed") == 2


# --- customers --------------------------------------------------------------------------------


def test_a_customer_shows_their_orders_across_channels(viewer, shelf):
    ana = match_customer(
        OrderDetails(customer_email="Ana@Example.com", customer_name="Ana Lopez"), PLACED
    )
    ChannelOrder.objects.filter(pk__in=[shelf["fresh"].pk, shelf["late"].pk]).update(customer=ana)
    match_customer(OrderDetails(customer_email="ben@example.com"), PLACED)

    page = viewer.get(f"/customers/{ana.pk}/").content.decode()
    listed_api = viewer.get("/api/v1/customers/").json()
    one = viewer.get(f"/api/v1/customers/{ana.pk}/").json()
    found = viewer.get("/api/v1/customers/", {"email": " ANA@example.com "}).json()

    assert "Ana Lopez" in page
    assert "amazon-us, shop" in page
    assert f'data-order="{shelf["fresh"].pk}"' in page
    assert f'data-order="{shelf["late"].pk}"' in page
    assert f'data-order="{shelf["oversold"].pk}"' not in page
    assert listed_api["count"] == 2
    assert (one["name"], one["email"], one["order_count"]) == ("Ana Lopez", "ana@example.com", 2)
    assert {order["channel"] for order in one["orders"]} == {"shop", "amazon-us"}
    assert "email_hash" not in one
    assert [row["id"] for row in found["results"]] == [ana.pk]
    assert viewer.get("/api/v1/customers/", {"email": "nobody"}).json()["count"] == 0


def test_the_customers_api_is_read_only(operator):
    customer = match_customer(OrderDetails(customer_email="ana@example.com"), PLACED)
    # A write no action declares is refused before it reaches the view (it names no role).
    assert operator.post("/api/v1/customers/", {}, format="json").status_code in (403, 405)
    assert operator.delete(f"/api/v1/customers/{customer.pk}/").status_code in (403, 405)
    assert Customer.objects.get() == customer
