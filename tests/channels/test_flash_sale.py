"""A flash sale through the real webhook endpoints (I3, I8, I11).

200 units of two SKUs over a warehouse, a store and a 3PL; two Shopify shops and two Amazon
sellers (sandboxes over HTTP) still show a stale 300 each — our pushes lag behind the
shoppers — and 1,000 one-unit orders are placed while three ingest workers apply what the
channels deliver, concurrently, on PostgreSQL. Afterwards:
- every order is recorded once;
- no location is committed beyond its stock while another location of the pool holds units;
- the units sold beyond the stock equal the open incidents' shortfall exactly;
- the orders that stand are the earliest placed (ties: the better channel priority);
- every channel shows 0 of both SKUs.
"""

from __future__ import annotations

import random
import threading
from collections import Counter, defaultdict

import pytest
from django.db import close_old_connections, connection

from allocation.models import OversellIncident
from channels import inbound
from channels.incidents import incident_orders
from channels.models import Channel, ChannelOrder, ChannelOrderLine, InboundEvent, Listing
from ledger.models import Balance, InventoryEvent, Location
from tests.factories import LocationFactory, SkuFactory

from .amazon_world import mixed_world

pytestmark = pytest.mark.django_db(transaction=True)

SKUS = ("FLASH-TEE", "FLASH-CAP")
# 100 units of each SKU, spread over three locations: 200 in all.
SPREAD = {"WH-EAST": 40, "STORE-SOHO": 25, "3PL-WEST": 35}
ORDERS = 1_000
STALE = 300  # what every channel still shows when the sale starts
INGEST_WORKERS = 3


@pytest.fixture
def world(live_server, receive, settings, monkeypatch):
    stock = dict.fromkeys(SKUS, SPREAD["WH-EAST"])
    with mixed_world(live_server.url, receive, settings, monkeypatch, stock) as built:
        for code, kind in (("STORE-SOHO", Location.Kind.STORE), ("3PL-WEST", "3pl")):
            place = LocationFactory(code=code, kind=kind)
            for sku in SKUS:
                receive(SkuFactory(code=sku), place, SPREAD[code])
        yield built


def open_channels(world):
    # Amazon's order reads are paced at its real rates times ten in tests; a thousand orders
    # at that pace would measure the pacing, not the ingest.
    world.amazon_options["throttle_factory"].SCALE = 1_000.0
    stale = dict.fromkeys(SKUS, STALE)
    shops = [
        world.open_shop(f"shop-{n}", stock=stale, location=world.warehouse, seed=n) for n in (1, 2)
    ]
    sellers = [
        world.open_seller(f"amazon-{n}", mfn=stale, location=world.warehouse, seed=n + 10)
        for n in (1, 2)
    ]
    for priority, channel in enumerate([s.channel for s in (*sellers, *shops)], start=1):
        Channel.objects.filter(pk=channel.pk).update(priority=priority * 10)
    return shops, sellers


def place_orders(shops, sellers, placed: Counter, done: threading.Event) -> None:
    shuffle = random.Random(13)
    try:
        for _ in range(ORDERS):
            sku = shuffle.choice(SKUS)
            where = shuffle.randrange(4)
            if where < 2:
                shops[where].sandbox.sell(sku, 1)
            else:
                seller = sellers[where - 2]
                seller.sandbox.place_order(sku, 1, pending_seconds=0)
                seller.sandbox.advance(0.01)  # Amazon's clock moves with its orders
            placed[sku] += 1
    finally:
        done.set()


def deliver(shops, sellers, done: threading.Event, errors: list) -> None:
    """The channels' side: webhooks and notifications go out while shoppers keep buying."""
    try:
        while True:
            finished = done.is_set()
            for shop in shops:
                shop.sandbox.flush_webhooks()
            for seller in sellers:
                seller.sandbox.flush(everything=True)
            if finished:
                return
    except Exception as error:  # noqa: BLE001 - reported by the test
        errors.append(error)


def ingest(delivered: threading.Event, errors: list) -> None:
    try:
        while True:
            quiet = delivered.is_set()
            if inbound.process_pending(limit=50) == 0 and quiet:
                return
    except Exception as error:  # noqa: BLE001 - reported by the test
        errors.append(error)
    finally:
        close_old_connections()
        connection.close()


def run_the_sale(shops, sellers) -> Counter:
    placed: Counter = Counter()
    errors: list = []
    shoppers_done, delivered = threading.Event(), threading.Event()
    workers = [threading.Thread(target=ingest, args=(delivered, errors)) for _ in range(3)]
    for worker in workers:
        worker.start()
    delivery = threading.Thread(target=deliver, args=(shops, sellers, shoppers_done, errors))
    delivery.start()
    place_orders(shops, sellers, placed, shoppers_done)
    delivery.join()
    delivered.set()
    for worker in workers:
        worker.join()
    assert errors == []
    return placed


def available_by_location(sku: str) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for location, bucket, quantity in Balance.objects.filter(
        sku__code=sku, location__code__in=SPREAD
    ).values_list("location__code", "bucket", "quantity"):
        sign = 1 if bucket == "on_hand" else -1 if bucket in ("committed", "reserved") else 0
        totals[location] += sign * quantity
    return dict(totals)


def test_a_flash_sale_records_every_order_once_and_the_earliest_orders_stand(world):
    shops, sellers = open_channels(world)
    placed = run_the_sale(shops, sellers)
    world.settle(rounds=200)
    assert sum(placed.values()) == ORDERS
    # Nothing waits, failed or quarantined (a level update a later one superseded is ignored).
    done = (InboundEvent.Status.APPLIED, InboundEvent.Status.IGNORED)
    assert not InboundEvent.objects.exclude(status__in=done).exists()

    # Every order recorded once: one order row, one sale of one unit each.
    assert ChannelOrder.objects.count() == ORDERS
    assert InventoryEvent.objects.filter(kind="sale").count() == ORDERS
    for sku in SKUS:
        lines = ChannelOrderLine.objects.filter(sku__code=sku)
        assert lines.count() == placed[sku]
        assert set(lines.values_list("sold_units", flat=True)) == {1}

        # No location short while another has units, and every unit of stock is promised.
        by_location = available_by_location(sku)
        assert all(units <= 0 for units in by_location.values()) or all(
            units >= 0 for units in by_location.values()
        ), by_location
        stock = sum(SPREAD.values())
        assert sum(by_location.values()) == stock - placed[sku]

        # Oversold units equal the incident's shortfall exactly.
        incident = OversellIncident.objects.get(sku__code=sku, status="open")
        assert incident.units_short == placed[sku] - stock

        # The earliest placed orders stand; the latest, by the conflict policy, give way.
        ranked = sorted(
            lines.select_related("order__channel"),
            key=lambda line: (line.order.placed_at, line.order.channel.priority, line.order_id),
        )
        rows = incident_orders(incident)
        assert {row.order.pk for row in rows} == {line.order_id for line in ranked}
        assert {row.order.pk for row in rows if row.losing} == {
            line.order_id for line in ranked[stock:]
        }

    # The next push cycle took both SKUs to 0 everywhere.
    assert set(Listing.objects.values_list("desired_quantity", flat=True)) == {0}
    for shop in shops:
        assert [shop.available(sku) for sku in SKUS] == [0, 0]
    for seller in sellers:
        assert [seller.mfn(sku) for sku in SKUS] == [0, 0]
