"""Ingest claims (channels.claims): many inbound events applied in one transaction, each still
ending applied, quarantined or failed by itself, one order's snapshots in arrival order, and
every lock of the claim taken up front in id order, so two ingest workers never deadlock."""

from __future__ import annotations

import contextlib
import json
import threading
from datetime import timedelta
from types import SimpleNamespace
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from channels import claims, customers, inbound, orders
from channels.inbox import store
from channels.models import ChannelOrder, Customer, InboundEvent, PendingCustomerMatch
from ledger.models import Balance, InventoryEvent, Sku
from tests.concurrency import held_elsewhere, run_concurrently
from tests.factories import ChannelFactory, ListingFactory, SkuFactory


@pytest.fixture
def shop(db, warehouse):
    return ChannelFactory(code="claim-shop", default_location=warehouse)


def stock(shop, warehouse, receive, count):
    """`count` SKUs with 100 units each, listed on the shop as variants 1…count."""
    skus = []
    for n in range(1, count + 1):
        sku = SkuFactory(code=f"CLAIM-{n}")
        receive(sku, warehouse, 100)
        ListingFactory(channel=shop, sku=sku, external_id=f"gid://shopify/ProductVariant/{n}")
        skus.append(sku)
    return skus


def order(order_id, *variants, quantity=1, updated="10:00:00", cancelled=False, email=""):
    return {
        "id": order_id,
        "name": f"#{order_id}",
        "created_at": "2026-11-30T10:00:00Z",
        "updated_at": f"2026-11-30T{updated}Z",
        "cancelled_at": "2026-11-30T10:05:00Z" if cancelled else None,
        "email": email or None,
        "line_items": [
            {
                "id": order_id * 10 + n,
                "variant_id": variant,
                "sku": f"CLAIM-{variant}",
                "quantity": quantity,
                "current_quantity": quantity,
            }
            for n, variant in enumerate(variants)
        ],
    }


_keys = iter(range(1, 10**6))


def deliver(shop, topic, payload) -> int:
    return store(
        channel=shop,
        source="webhook",
        topic=topic,
        dedupe_key=f"{topic}:{next(_keys)}",
        body=json.dumps(payload).encode(),
    ).id


def committed(sku, warehouse) -> int:
    row = Balance.objects.filter(sku=sku, location=warehouse, bucket="committed").first()
    return row.quantity if row else 0


@pytest.mark.django_db
def test_a_claim_applies_many_orders_in_one_transaction(shop, warehouse, receive):
    skus = stock(shop, warehouse, receive, 3)
    ids = [deliver(shop, "orders/create", order(100 + n, n % 3 + 1)) for n in range(9)]
    with CaptureQueriesContext(connection) as queries:
        handled = inbound.process_claim(ids)
    assert handled == 9
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"applied"}
    assert [committed(sku, warehouse) for sku in skus] == [3, 3, 3]
    # One transaction and, with no event failing, no savepoint per event (the one seen is
    # the claim's own transaction, nested in the test's).
    assert len([q for q in queries if q["sql"].upper().startswith("SAVEPOINT")]) == 1
    assert InventoryEvent.objects.filter(kind="sale").count() == 9


@pytest.mark.django_db
def test_a_poison_event_fails_alone_and_its_writes_are_rolled_back(
    shop, warehouse, receive, monkeypatch
):
    skus = stock(shop, warehouse, receive, 2)
    real = orders.apply_order_snapshot

    def poisoned(*, channel, snapshot):
        outcome = real(channel=channel, snapshot=snapshot)  # writes, then breaks
        if snapshot.external_id == "202":
            raise RuntimeError("a bug only this payload finds")
        return outcome

    monkeypatch.setattr(orders, "apply_order_snapshot", poisoned)
    ids = [deliver(shop, "orders/create", order(n, 1, 2)) for n in (201, 202, 203)]
    inbound.process_claim(ids)

    good, poison, after = InboundEvent.objects.order_by("id")
    assert (good.status, after.status) == ("applied", "applied")
    assert poison.status == "failed"
    assert "a bug only this payload finds" in poison.outcome
    assert poison.next_attempt_at is not None
    assert poison.attempts == 1
    # The poison order's sale and row went with its savepoint; the others' stayed.
    assert not ChannelOrder.objects.filter(external_id="202").exists()
    assert [committed(sku, warehouse) for sku in skus] == [2, 2]


@pytest.mark.django_db
def test_an_unmapped_order_in_a_claim_is_quarantined_and_the_rest_apply(shop, warehouse, receive):
    (sku,) = stock(shop, warehouse, receive, 1)
    unmapped = order(252, 1)
    unmapped["line_items"][0].update({"variant_id": 999, "sku": "NOT-OURS"})
    ids = [deliver(shop, "orders/create", payload) for payload in (order(251, 1), unmapped,
                                                                   order(253, 1))]  # fmt: skip
    assert inbound.process_claim(ids) == 3
    statuses = list(InboundEvent.objects.order_by("id").values_list("status", flat=True))
    assert statuses == ["applied", "quarantined", "applied"]
    assert committed(sku, warehouse) == 2


@pytest.mark.django_db
def test_one_orders_snapshots_in_one_claim_apply_in_arrival_order(shop, warehouse, receive):
    (sku,) = stock(shop, warehouse, receive, 1)
    ids = [
        deliver(shop, "orders/create", order(300, 1, quantity=3)),
        deliver(shop, "orders/updated", order(300, 1, quantity=3, updated="10:01:00")),
        deliver(shop, "orders/cancelled", order(300, 1, quantity=3, updated="10:05:00",
                                                cancelled=True)),
    ]  # fmt: skip
    inbound.process_claim(ids)
    assert ChannelOrder.objects.get(external_id="300").status == "cancelled"
    assert committed(sku, warehouse) == 0
    assert InventoryEvent.objects.filter(kind="sale").count() == 1
    assert InventoryEvent.objects.filter(kind="cancel").count() == 1


@pytest.mark.django_db
def test_an_older_snapshot_behind_a_newer_one_never_undoes_it(shop, warehouse, receive):
    (sku,) = stock(shop, warehouse, receive, 1)
    ids = [
        deliver(shop, "orders/cancelled", order(400, 1, quantity=2, updated="10:05:00",
                                                cancelled=True)),
        deliver(shop, "orders/create", order(400, 1, quantity=2)),
    ]  # fmt: skip
    inbound.process_claim(ids)
    newer, older = InboundEvent.objects.order_by("id")
    assert newer.status == "applied"
    assert older.status == "ignored"
    assert "older than the applied snapshot" in older.outcome
    assert committed(sku, warehouse) == 0


@pytest.mark.django_db
def test_a_sales_sku_is_dirty_from_the_webhooks_arrival(shop, warehouse, receive):
    (sku,) = stock(shop, warehouse, receive, 1)
    Sku.objects.update(allocation_dirty_since=None)
    event_id = deliver(shop, "orders/create", order(500, 1))
    arrived = timezone.now() - timedelta(seconds=3)
    InboundEvent.objects.filter(pk=event_id).update(received_at=arrived)
    inbound.process_pending()
    sku.refresh_from_db()
    # The push window runs from when we learnt of the sale, not from when ingest got to it.
    assert sku.allocation_dirty_since == arrived


@pytest.mark.django_db
def test_a_level_and_an_unclaimable_topic_share_one_pass(shop, warehouse, receive):
    stock(shop, warehouse, receive, 1)
    deliver(shop, "orders/create", order(600, 1))
    deliver(shop, "products/update", {"id": 1})  # no handler, no claim keys: applied alone
    deliver(shop, "orders/create", order(601, 1))
    assert inbound.process_pending() == 3
    statuses = list(InboundEvent.objects.order_by("id").values_list("status", flat=True))
    assert statuses == ["applied", "ignored", "applied"]


@pytest.mark.django_db(transaction=True)
def test_two_workers_whose_claims_cross_skus_both_apply_without_a_deadlock(
    shop, warehouse, receive, monkeypatch
):
    """Claim A sells SKU 1 then SKU 2, claim B SKU 2 then SKU 1. Were the locks taken event by
    event, each worker would hold one SKU and wait for the other's: PostgreSQL would kill one
    transaction. Taken up front (SKIP LOCKED, in id order), the second worker leaves the
    events whose SKUs the first holds for a later claim."""
    stock(shop, warehouse, receive, 2)
    claim_a = [deliver(shop, "orders/create", order(n, v)) for n, v in ((701, 1), (702, 2))]
    claim_b = [deliver(shop, "orders/create", order(n, v)) for n, v in ((801, 2), (802, 1))]
    both_applied_one = threading.Barrier(2)
    real = orders.apply_order_snapshot

    def meet_after_first(*, channel, snapshot):
        outcome = real(channel=channel, snapshot=snapshot)
        if snapshot.external_id in ("701", "801"):
            # Event-by-event locking would have both workers here, each holding one SKU;
            # with the claim's locks up front the other worker cannot get this far.
            with contextlib.suppress(threading.BrokenBarrierError):
                both_applied_one.wait(timeout=3)
        return outcome

    monkeypatch.setattr(orders, "apply_order_snapshot", meet_after_first)
    outcomes = run_concurrently(inbound.process_claim, [(claim_a,), (claim_b,)])

    assert all(outcome.ok for outcome in outcomes)
    assert not InboundEvent.objects.exclude(status__in=["applied", "received"]).exists()
    inbound.process_pending()  # what a worker left for later
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"applied"}
    assert both_applied_one.broken  # the workers never held a SKU each at the same time
    assert ChannelOrder.objects.count() == 4


@pytest.mark.django_db(transaction=True)
def test_a_claim_leaves_the_events_of_a_sku_another_worker_holds_for_later(
    shop, warehouse, receive
):
    skus = stock(shop, warehouse, receive, 2)
    held_sale = deliver(shop, "orders/create", order(901, 1))
    free_sale = deliver(shop, "orders/create", order(902, 2))
    # A later snapshot of the held order must wait with it (one order's events in order).
    held_update = deliver(shop, "orders/updated", order(901, 2, updated="10:01:00"))
    with held_elsewhere(lambda: list(Sku.objects.select_for_update().filter(pk=skus[0].pk))):
        assert inbound.process_claim() == 1
        statuses = dict(InboundEvent.objects.values_list("id", "status"))
        assert statuses[free_sale] == "applied"
        assert statuses[held_sale] == statuses[held_update] == "received"
        assert InboundEvent.objects.get(pk=held_sale).attempts == 0
    inbound.process_pending()
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"applied"}
    assert [committed(sku, warehouse) for sku in skus] == [1, 1]


def level(item, available=90):
    return {"inventory_item_id": item, "location_id": 555, "available": available}


def listed_items(shop):
    """The shop syncs location 555; each listing's inventory item is 40 + its variant."""
    shop.external_location_id = "gid://shopify/Location/555"
    shop.save()
    for listing in shop.listings.all():
        variant = int(listing.external_id.rsplit("/", 1)[-1])
        listing.shopify_inventory_item_id = f"gid://shopify/InventoryItem/{40 + variant}"
        listing.save()


@pytest.mark.django_db
def test_a_claim_takes_the_waiting_sales_before_the_level_readings(shop, warehouse, receive):
    """A reading only confirms or questions a level; a sale changes what every other channel
    may show. Readings that arrived first still wait for the sales behind them."""
    stock(shop, warehouse, receive, 2)
    listed_items(shop)
    readings = [deliver(shop, "inventory_levels/update", level(41 + n % 2)) for n in range(4)]
    sales = [deliver(shop, "orders/create", order(700 + n, 1)) for n in range(2)]
    with mock.patch.object(inbound, "CLAIM_SIZE", 3):
        assert inbound.process_claim() == 3
    statuses = dict(InboundEvent.objects.values_list("id", "status"))
    assert [statuses[pk] for pk in sales] == ["applied", "applied"]
    assert [statuses[pk] for pk in readings].count("received") == 3


@pytest.mark.django_db
def test_a_reading_that_waited_its_patience_goes_in_arrival_order(shop, warehouse, receive):
    stock(shop, warehouse, receive, 1)
    listed_items(shop)
    old = deliver(shop, "inventory_levels/update", level(41))
    InboundEvent.objects.filter(pk=old).update(
        received_at=timezone.now() - claims.READING_PATIENCE - timedelta(seconds=1)
    )
    fresh = deliver(shop, "inventory_levels/update", level(41, 89))
    sale = deliver(shop, "orders/create", order(710, 1))
    with mock.patch.object(inbound, "CLAIM_SIZE", 2):
        assert inbound.process_claim() == 2
    statuses = dict(InboundEvent.objects.values_list("id", "status"))
    assert statuses[old] != "received"
    assert statuses[sale] == "applied"
    assert statuses[fresh] == "received"


@pytest.mark.django_db
def test_a_claim_matches_its_orders_customers(shop, warehouse, receive):
    stock(shop, warehouse, receive, 2)
    ids = [
        deliver(shop, "orders/create", order(720, 1, email="Ana@Example.com")),
        deliver(shop, "orders/create", order(721, 2, email="ana@example.com")),
        deliver(shop, "orders/create", order(722, 1, email="bo@example.com")),
        deliver(shop, "orders/create", order(723, 2)),  # names no one
    ]
    # A later snapshot of an order, in the same claim, matches it no second time.
    ids.append(deliver(shop, "orders/updated", order(720, 1, updated="10:01:00", email="x@y.z")))
    assert inbound.process_claim(ids) == 5
    assert not PendingCustomerMatch.objects.exists()  # no key was held elsewhere: matched now
    customer_of = dict(ChannelOrder.objects.values_list("external_id", "customer__email"))
    assert customer_of == {
        "720": "ana@example.com",
        "721": "ana@example.com",
        "722": "bo@example.com",
        "723": None,
    }
    assert Customer.objects.count() == 2


@pytest.mark.django_db
def test_a_poison_orders_customer_is_not_matched(shop, warehouse, receive, monkeypatch):
    stock(shop, warehouse, receive, 1)
    real = orders.apply_order_snapshot

    def poisoned(*, channel, snapshot):
        outcome = real(channel=channel, snapshot=snapshot)
        if snapshot.external_id == "731":
            raise RuntimeError("a bug only this payload finds")
        return outcome

    monkeypatch.setattr(orders, "apply_order_snapshot", poisoned)
    ids = [
        deliver(shop, "orders/create", order(730, 1, email="ana@example.com")),
        deliver(shop, "orders/create", order(731, 1, email="poison@example.com")),
    ]
    inbound.process_claim(ids)
    customers.match_pending()
    assert list(Customer.objects.values_list("email", flat=True)) == ["ana@example.com"]
    assert ChannelOrder.objects.get(external_id="730").customer.email == "ana@example.com"


@pytest.mark.django_db(transaction=True)
def test_a_customer_another_worker_is_matching_holds_back_no_sale(shop, warehouse, receive):
    """Another worker holds the shopper's matching key: the claim sells regardless, and the
    order's match waits (stored, not waited for) until the key is free."""
    (sku,) = stock(shop, warehouse, receive, 1)
    sale = deliver(shop, "orders/create", order(740, 1, email="ana@example.com"))
    key = customers.matching_keys(
        SimpleNamespace(
            customer_email="ana@example.com",
            customer_phone="",
            customer_name="",
            customer_email_masked=False,
            destination_country="",
        )
    )
    with held_elsewhere(lambda: customers._lock_keys(key)):
        assert inbound.process_pending() == 1
        assert InboundEvent.objects.get(pk=sale).status == "applied"
        assert committed(sku, warehouse) == 1
        assert ChannelOrder.objects.get(external_id="740").customer is None
        assert PendingCustomerMatch.objects.count() == 1
    assert customers.match_pending() == 1
    assert ChannelOrder.objects.get(external_id="740").customer.email == "ana@example.com"
    assert not PendingCustomerMatch.objects.exists()
