"""Every row lock the channel and allocation services take has the shape of the lock rules
(CONTRIBUTING.md): FOR NO KEY UPDATE, ascending id order for several rows, OF its own table
when the query joins others, SKIP LOCKED only where a worker moves on to other rows. Read off
the SQL each service sends (PostgreSQL)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from allocation import services as allocation_services
from allocation.models import BundleComponent
from channels import inbound, orders, planner, push
from channels.models import Channel, InboundEvent, Listing
from channels.push import SendResult
from ledger.models import Sku
from tests.factories import ChannelFactory, ListingFactory, LocationFactory, SkuFactory

pytestmark = pytest.mark.django_db

NO_KEY = "FOR NO KEY UPDATE"
LOCK = re.compile(r"\bFOR (?:NO KEY UPDATE|UPDATE|KEY SHARE|SHARE)\b")
MODE = re.compile(r"\bFOR (NO KEY UPDATE|UPDATE)\b")
ORM_TABLE = re.compile(r'\bFROM "(\w+)"')
ORDER = re.compile(r"\bORDER BY (.+?)(?: LIMIT \d+)? FOR ")
OF = re.compile(r'\bUPDATE OF "(\w+)"')


@dataclass(frozen=True)
class Shape:
    table: str
    mode: str
    order: str | None  # the ORDER BY clause
    of: str | None  # the table named after OF
    skip_locked: bool
    joined: bool


def one(table: str, *, mode: str = NO_KEY) -> Shape:
    """One row by a unique key: no order needed."""
    return Shape(table, mode, None, None, skip_locked=False, joined=False)


def many(table: str, *, joined: bool = False, skip_locked: bool = False) -> Shape:
    return Shape(
        table,
        NO_KEY,
        f'"{table}"."id" ASC',
        table if joined else None,
        skip_locked=skip_locked,
        joined=joined,
    )


def lock_statements(captured: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in captured.captured_queries if LOCK.search(query["sql"])]


def shapes(captured: CaptureQueriesContext) -> list[Shape]:
    """The lock statements Django built, in the order they ran. The ledger's own SQL (its
    SKU locks, ledger/writer.py) is left out here: `assert_never_for_update` reads it too."""
    found = []
    for sql in lock_statements(captured):
        table = ORM_TABLE.search(sql)
        if table is None:
            continue
        order, of = ORDER.search(sql), OF.search(sql)
        found.append(
            Shape(
                table[1],
                f"FOR {MODE.search(sql)[1]}",
                order[1] if order else None,
                of[1] if of else None,
                skip_locked=sql.endswith(" SKIP LOCKED"),
                joined=" JOIN " in sql,
            )
        )
    return found


def assert_never_for_update(captured: CaptureQueriesContext) -> None:
    statements = lock_statements(captured)
    assert statements
    assert [sql for sql in statements if re.search(r"\bFOR (UPDATE|SHARE)\b", sql)] == []


# --- push -----------------------------------------------------------------------------------


class StaleLane:
    """Acknowledges every set but the one for `stale_id`, which the shop shows lower."""

    max_batch = 250
    confirm_interval = timedelta(minutes=1)
    apply_deadline = timedelta(hours=2)

    def __init__(self, stale_id: int | None = None, *, accept: bool = False) -> None:
        self.stale_id, self.accept = stale_id, accept

    def push_payload(self, channel, listing):
        return {}

    def send(self, channel, items, key):
        if self.accept:
            return SendResult(accepted={item.listing_id for item in items})
        result = SendResult()
        for item in items:
            if item.listing_id == self.stale_id:
                result.stale.add(item.listing_id)
            else:
                result.acknowledged.add(item.listing_id)
        return result

    def confirm(self, channel, items, attempt):
        return SendResult(observed={item.listing_id: item.quantity for item in items})

    def read_levels(self, channel, listings):
        return {listing.pk: 0 for listing in listings}


def due_decreases(channel: Channel, count: int) -> list[Listing]:
    return [
        ListingFactory(
            channel=channel,
            pushed_quantity=5,
            pushed_version=1,
            desired_quantity=3,
            desired_version=2,
        )
        for _ in range(count)
    ]


def test_a_push_round_claims_sends_and_rereads_under_ordered_no_key_locks():
    channel = ChannelFactory(code="shop")
    listings = due_decreases(channel, 3)
    with CaptureQueriesContext(connection) as captured:
        outcome = push.push_channel(channel, StaleLane(stale_id=listings[1].pk))
    assert (outcome.acknowledged, outcome.stale, outcome.held) == (2, 1, 1)
    assert shapes(captured) == [
        # The claim joins the in-flight attempt (a LEFT JOIN: without OF PostgreSQL refuses
        # it) and waits for rows a planner holds: no SKIP LOCKED.
        many("channels_listing", joined=True),
        one("channels_pushattempt"),  # the answer is recorded on the attempt
        many("channels_listing"),  # and on its listings
        many("channels_listing"),  # the stale one is read again
        many("channels_listing", joined=True),  # nothing left to claim
    ]
    claim = lock_statements(captured)[0]
    assert re.search(r" LIMIT 1000 FOR NO KEY UPDATE OF \"channels_listing\"$", claim)
    assert_never_for_update(captured)


def test_a_read_back_locks_its_attempt_then_its_listings_in_id_order():
    channel = ChannelFactory(code="amz", kind="amazon")
    due_decreases(channel, 2)
    push.push_channel(channel, StaleLane(accept=True))
    with CaptureQueriesContext(connection) as captured:
        outcome = push.push_channel(channel, StaleLane(), now=timezone.now() + timedelta(minutes=5))
    assert outcome.acknowledged == 2
    assert shapes(captured) == [
        one("channels_pushattempt"),
        many("channels_listing"),
        many("channels_listing", joined=True),  # the claim after it: nothing due
    ]
    assert_never_for_update(captured)


# --- orders ---------------------------------------------------------------------------------


@pytest.fixture
def shop(receive):
    warehouse = LocationFactory(code="WH-EAST")
    channel = ChannelFactory(code="shop", default_location=warehouse)
    for code, variant in (("MUG", "1"), ("TEE", "2")):
        sku = SkuFactory(code=code)
        ListingFactory(channel=channel, sku=sku, external_id=variant)
        receive(sku, warehouse, 10)
    return channel


def snapshot(*, updated_minute: int, current: int) -> orders.OrderSnapshot:
    placed = datetime(2026, 3, 1, 10, tzinfo=UTC)
    return orders.OrderSnapshot(
        external_id="1001",
        name="#1001",
        placed_at=placed,
        updated_at=placed + timedelta(minutes=updated_minute),
        cancelled_at=None,
        # Lines listed against id order: the locks must not follow the payload.
        lines=tuple(
            orders.OrderLineSnapshot(line, quantity=2, current_quantity=current, variant_id=variant)
            for line, variant in (("L-TEE", "2"), ("L-MUG", "1"))
        ),
    )


def test_a_new_order_locks_its_skus_in_id_order_then_each_moved_listing(shop):
    with CaptureQueriesContext(connection) as captured:
        outcome = orders.apply_order_snapshot(
            channel=shop, snapshot=snapshot(updated_minute=0, current=2)
        )
    assert outcome.status == "applied"
    # The order row is our own insert (ON CONFLICT): no lock statement for it. Each moved
    # listing is locked by its own UPDATE (channels.orders._ChannelMoves), after the SKUs.
    assert shapes(captured) == [many("ledger_sku")]
    assert moved_listing_ids(captured) == sorted(moved_listing_ids(captured))
    assert len(moved_listing_ids(captured)) == 2
    assert_never_for_update(captured)


def moved_listing_ids(captured: CaptureQueriesContext) -> list[int]:
    return [
        int(found[1])
        for query in captured.captured_queries
        if query["sql"].startswith('UPDATE "channels_listing"')
        and (found := re.search(r'"channels_listing"\."id" = (\d+)', query["sql"]))
    ]


def test_an_updated_order_locks_the_order_then_its_lines_and_skus_in_id_order(shop):
    orders.apply_order_snapshot(channel=shop, snapshot=snapshot(updated_minute=0, current=2))
    with CaptureQueriesContext(connection) as captured:
        outcome = orders.apply_order_snapshot(
            channel=shop, snapshot=snapshot(updated_minute=1, current=1)
        )
    assert outcome.status == "applied"
    assert shapes(captured) == [
        one("channels_channelorder"),
        many("channels_channelorderline"),
        many("ledger_sku"),
    ]
    assert moved_listing_ids(captured) == sorted(moved_listing_ids(captured))
    assert len(moved_listing_ids(captured)) == 2
    assert_never_for_update(captured)


@pytest.mark.parametrize(
    "apply",
    [
        lambda channel: orders.apply_shipment(
            channel=channel,
            order_external_id="1001",
            shipment_id="F-1",
            lines=[orders.ShipmentLineSnapshot("L-MUG", 1)],
        ),
        lambda channel: orders.apply_refund(
            channel=channel,
            order_external_id="1001",
            refund_lines=[orders.RefundLineSnapshot("R-1", "L-MUG", 1, "cancel")],
        ),
    ],
    ids=["shipment", "refund"],
)
def test_a_shipment_or_refund_locks_the_order_then_its_lines_and_skus_in_id_order(shop, apply):
    orders.apply_order_snapshot(channel=shop, snapshot=snapshot(updated_minute=0, current=2))
    with CaptureQueriesContext(connection) as captured:
        assert apply(shop).status == "applied"
    locks = shapes(captured)
    assert locks[:3] == [
        one("channels_channelorder"),
        many("channels_channelorderline"),
        many("ledger_sku"),
    ]
    # then only the listings whose channel quantity moved, one at a time in id order
    assert set(locks[3:]) <= {one("channels_listing")}
    assert_never_for_update(captured)


def test_shipped_counts_lock_the_order_and_its_lines_before_each_shipment(shop):
    orders.apply_order_snapshot(channel=shop, snapshot=snapshot(updated_minute=0, current=2))
    with CaptureQueriesContext(connection) as captured:
        outcome = orders.apply_shipped_counts(
            channel=shop, order_external_id="1001", shipped={"L-MUG": 1}
        )
    assert outcome.status == "applied"
    assert shapes(captured) == [
        one("channels_channelorder"),
        many("channels_channelorderline"),
        # the shipment, in the same transaction (the locks are already held)
        one("channels_channelorder"),
        many("channels_channelorderline"),
        many("ledger_sku"),
    ]
    assert_never_for_update(captured)


# --- planner --------------------------------------------------------------------------------


def test_the_planner_claims_bundles_and_dirty_skus_skipping_held_rows_in_id_order():
    bundle = SkuFactory(code="GIFT-BOX")
    components = [SkuFactory(code=code) for code in ("MUG", "TEE")]
    for component in components:
        BundleComponent.objects.create(bundle=bundle, component=component, quantity=1)
    Sku.objects.filter(pk__in=[c.pk for c in components]).update(
        allocation_dirty_since=timezone.now()
    )
    Sku.objects.filter(pk=bundle.pk).update(allocation_dirty_since=None)
    with CaptureQueriesContext(connection) as captured:
        ids = planner._lock_dirty(10)
    assert ids == sorted([bundle.pk, *(c.pk for c in components)])
    assert shapes(captured) == [
        # the bundles of dirty components: joined, so only the bundle rows are locked
        many("ledger_sku", joined=True, skip_locked=True),
        many("ledger_sku", skip_locked=True),
    ]
    assert " LIMIT 10 FOR NO KEY UPDATE SKIP LOCKED" in lock_statements(captured)[1]
    assert_never_for_update(captured)


def test_the_planners_prepared_claim_has_the_same_shape():
    # On PostgreSQL the claim is one prepared statement sent past Django's cursor.
    sql = " ".join(planner._CLAIM_SQL.format(batch_size=50).split())
    assert "ORDER BY bundle.id FOR NO KEY UPDATE OF bundle SKIP LOCKED" in sql
    assert "ORDER BY id LIMIT 50 FOR NO KEY UPDATE SKIP LOCKED" in sql
    assert not re.search(r"\bFOR UPDATE\b", sql)


# --- allocation -----------------------------------------------------------------------------


def test_ending_a_reservation_locks_its_row_for_update_as_it_sets_a_unique_column(
    sku, warehouse, receive
):
    receive(sku, warehouse, 10)
    reservation = allocation_services.reservation_create(
        sku=sku, location=warehouse, quantity=4, partner="W", idempotency_key="po-1"
    )
    with CaptureQueriesContext(connection) as captured:
        ended = allocation_services.reservation_end(reservation=reservation)
    assert ended.release_event_id is not None
    # release_event is one-to-one (a unique index): PostgreSQL would take FOR UPDATE at the
    # UPDATE anyway, so the lock asks for it from the start.
    assert shapes(captured) == [one("allocation_reservation", mode="FOR UPDATE")]
    ledger_locks = [sql for sql in lock_statements(captured) if "allocation_reservation" not in sql]
    assert [sql for sql in ledger_locks if re.search(r"\bFOR UPDATE\b", sql)] == []


# --- inbound --------------------------------------------------------------------------------


@pytest.fixture
def pending_event():
    channel = ChannelFactory(code="shop", default_location=LocationFactory(code="WH-EAST"))
    return InboundEvent.objects.create(
        channel=channel, source="webhook", topic="test/topic", dedupe_key="e-1", body=b"{}"
    )


@pytest.fixture
def no_channel_calls(monkeypatch):
    # Only process_one's own locks are under test here, not a lane's handlers.
    monkeypatch.setattr(inbound, "_read_first", lambda event_id: None)


def test_processing_an_event_takes_it_skipping_held_events(
    pending_event, no_channel_calls, monkeypatch
):
    monkeypatch.setattr(inbound, "_apply", lambda event: (InboundEvent.Status.APPLIED, "done"))
    with CaptureQueriesContext(connection) as captured:
        assert inbound.process_one(pending_event.pk) is True
    assert shapes(captured) == [
        # joined to its channel and location (select_related): only the event row is locked
        many("channels_inboundevent", joined=True, skip_locked=True),
    ]
    assert_never_for_update(captured)


def test_a_failed_event_is_taken_again_skipping_held_events(
    pending_event, no_channel_calls, monkeypatch
):
    def fail(event):
        raise RuntimeError("handler bug")

    monkeypatch.setattr(inbound, "_apply", fail)
    with CaptureQueriesContext(connection) as captured:
        assert inbound.process_one(pending_event.pk) is True
    pending_event.refresh_from_db()
    assert pending_event.status == InboundEvent.Status.FAILED
    assert shapes(captured) == [
        many("channels_inboundevent", joined=True, skip_locked=True),
        many("channels_inboundevent", skip_locked=True),
    ]
    assert_never_for_update(captured)
