"""The history on a SKU's page and a channel's page: the audit entries about the object and the
rows that hang off it (a SKU's halts, reservations, oversell incidents, the stock events
people recorded on it and its drift; a channel's orders), never another SKU's or channel's,
at a number of queries that does not grow with the rows."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from itertools import count

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from access import audit
from access.roles import Role
from allocation import services as allocation
from allocation.models import OversellIncident, SalesHalt
from channels.models import ChannelOrder
from ledger import services as ledger
from ledger.rules import EventLine
from reconciliation.models import Drift
from tests.factories import ChannelFactory, ListingFactory, SkuFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
_keys = count()


@pytest.fixture
def viewer(client, django_user_model):
    person = django_user_model.objects.create_user("vera")
    person.groups.add(Group.objects.get(name=Role.VIEWER))
    client.force_login(person)
    return person


def shown(page: str) -> set[str]:
    """The objects the page's history has entries on, as `type:id`."""
    history = page[page.index('class="audit-trail"') :]
    return set(re.findall(r'data-target="([^"]+)"', history))


def key(model) -> str:
    return f"{model._meta.label_lower}:{model.pk}"


def sign(action: str, target, reason: str = "") -> str:
    audit.record(None, action, target, reason=reason)
    return key(target)


def touched_rows(sku, location, listing) -> list[str]:
    """One row of each kind that hangs off a SKU, each acted on and signed."""
    halt = SalesHalt.objects.create(
        sku=sku, reason="recall", created_by="ana", released_at=NOW, released_by="ana"
    )
    hold = allocation.reservation_create(
        sku=sku,
        location=location,
        quantity=1,
        partner="Wholesale Co",
        idempotency_key=f"hold-{next(_keys)}",
    )
    incident = OversellIncident.objects.create(
        sku=sku, units_short=1, status=OversellIncident.Status.CLOSED, closed_by="ana"
    )
    write_off = ledger.record_event(
        kind="write_off",
        lines=[EventLine(sku=sku.code, location=location.code, quantity=1)],
        idempotency_key=f"write-off-{next(_keys)}",
        source="api",
        actor="ana",
        reason="dropped a box",
    ).event
    drift = Drift.objects.create(
        channel=listing.channel,
        listing=listing,
        sku=sku,
        expected=5,
        observed=3,
        delta=-2,
        resolution=Drift.Resolution.DISMISSED,
        resolved_by="ana",
    )
    return [
        sign("halt.release", halt, "found them"),
        sign("reservation.create", hold),
        sign("incident.close", incident, "orders cancelled"),
        sign("event.write_off", write_off, "dropped a box"),
        sign("drift.dismiss", drift, "miscount on the shelf"),
    ]


def sku_with_history(code, location, receive):
    sku = SkuFactory(code=code)
    receive(sku, location, 1000)
    listing = ListingFactory(channel=ChannelFactory(code=f"shop-{code.lower()}"), sku=sku)
    return sku, listing


def test_the_sku_history_shows_its_rows_and_no_other_skus(client, viewer, warehouse, receive):
    sku, listing = sku_with_history("TEE-M", warehouse, receive)
    other, other_listing = sku_with_history("TEE-L", warehouse, receive)
    expected = {sign("sku.update", sku, "new title"), *touched_rows(sku, warehouse, listing)}
    touched_rows(other, warehouse, other_listing)

    page = client.get(reverse("channels:sku-listings", args=[sku.code])).content.decode()

    assert shown(page) == expected
    for reason in ("found them", "orders cancelled", "dropped a box", "miscount on the shelf"):
        assert reason in page


def test_the_sku_history_costs_the_same_queries_however_many_rows_it_has(
    client, viewer, warehouse, receive
):
    sku, listing = sku_with_history("TEE-M", warehouse, receive)
    touched_rows(sku, warehouse, listing)
    url = reverse("channels:sku-listings", args=[sku.code])
    with CaptureQueriesContext(connection) as few:
        first = client.get(url).content.decode()
    for _ in range(15):
        touched_rows(sku, warehouse, listing)

    with CaptureQueriesContext(connection) as many:
        page = client.get(url).content.decode()

    assert (len(shown(first)), len(shown(page))) == (5, 50)  # the page shows the latest 50
    assert len(many) == len(few)


def order(channel, number: int) -> ChannelOrder:
    return ChannelOrder.objects.create(
        channel=channel,
        external_id=str(number),
        name=f"#{number}",
        placed_at=NOW,
        channel_updated_at=NOW,
    )


def test_the_channel_history_shows_its_orders_and_no_other_channels(client, viewer):
    shop, other = ChannelFactory(code="shop"), ChannelFactory(code="other-shop")
    order(shop, 1)  # nobody acted on it
    expected = {
        sign("channel.update", shop, "new priority"),
        sign("order.cancel", order(shop, 2), "oversold: cancelled on the shop"),
        sign("order.ship", order(shop, 3)),
    }
    sign("order.cancel", order(other, 4), "not this channel")

    detail = client.get(reverse("channels:channel-detail", args=[shop.code])).content.decode()
    activity = reverse("channels:channel-activity", args=[shop.code])
    assert f'hx-get="{activity}"' in detail  # the page loads its history after itself
    page = client.get(activity).content.decode()

    assert shown(page) == expected
    assert "oversold: cancelled on the shop" in page
    assert "not this channel" not in page


def test_the_channel_history_costs_the_same_queries_however_many_orders_it_has(client, viewer):
    shop = ChannelFactory(code="shop")
    sign("order.cancel", order(shop, 1), "oversold")
    url = reverse("channels:channel-activity", args=[shop.code])
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for number in range(2, 40):
        sign("order.ship", order(shop, number))

    with CaptureQueriesContext(connection) as many:
        page = client.get(url).content.decode()

    assert len(shown(page)) == 39
    assert len(many) == len(few)
