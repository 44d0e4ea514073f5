"""Real threads on PostgreSQL: the last unit, lost updates and deadlocks (I7)."""

import random
import threading

import pytest
from django.db import transaction
from django.db.models import F

from ledger import selectors, services
from ledger.models import Balance, InventoryEvent, LedgerEntry
from ledger.rules import EventLine, InsufficientStock, available
from tests.concurrency import run_concurrently
from tests.factories import LocationFactory, SkuFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def quantities(sku_code, location_code):
    rows = Balance.objects.filter(sku__code=sku_code, location__code=location_code)
    return {row.bucket: row.quantity for row in rows}


def naive_reserve(sku_code, location_code, key, read_done):
    """The bug the harness guards against: read, check in Python, then write."""
    current = quantities(sku_code, location_code)
    have = available(lambda bucket: current.get(bucket, 0))
    if have < 1:
        raise InsufficientStock(f"only {have} available")
    read_done.wait()  # every buyer has read before anyone writes: the classic interleaving
    with transaction.atomic():
        Balance.objects.filter(
            sku__code=sku_code, location__code=location_code, bucket="reserved"
        ).update(quantity=F("quantity") + 1)
    return key


def real_reserve(sku_code, location_code, key, _read_done):
    return services.reserve(
        sku=sku_code, location=location_code, quantity=1, idempotency_key=key, source="test"
    )


@pytest.fixture
def five_available(receive):
    sku = SkuFactory(code="HERO-1")
    location = LocationFactory(code="WH-EAST")
    receive(sku, location, 5)
    # the naive variant updates an existing reserved row, so give it one to update
    services.reserve(
        sku="HERO-1", location="WH-EAST", quantity=1, idempotency_key="pre", source="t"
    )
    services.release(
        sku="HERO-1", location="WH-EAST", quantity=1, idempotency_key="pre-r", source="t"
    )
    return sku, location


def race(reserve, buyers=50):
    read_done = threading.Barrier(buyers)
    outcomes = run_concurrently(
        reserve, [("HERO-1", "WH-EAST", f"buyer-{n}", read_done) for n in range(buyers)]
    )
    won = [o for o in outcomes if o.ok]
    refused = [o for o in outcomes if isinstance(o.error, InsufficientStock)]
    unexpected = [
        o.error for o in outcomes if not o.ok and not isinstance(o.error, InsufficientStock)
    ]
    return won, refused, unexpected


def test_fifty_buyers_race_for_five_units_exactly_five_win(five_available):
    # when
    won, refused, unexpected = race(real_reserve)
    # then
    assert unexpected == []
    assert (len(won), len(refused)) == (5, 45)
    assert quantities("HERO-1", "WH-EAST")["reserved"] == 5
    assert (
        InventoryEvent.objects.filter(kind="reserve", idempotency_key__startswith="buyer-").count()
        == 5
    )
    # I2 holds. These holds are the ledger's reserve() alone, with no reservation behind them,
    # so verify_ledger's reservations check would (rightly) list them.
    assert selectors.ledger_mismatches() == []


def test_the_harness_catches_a_naive_read_check_write(five_available):
    """Canary: if this stopped overselling, the harness above would prove nothing."""
    won, refused, unexpected = race(naive_reserve)
    assert unexpected == []
    assert len(won) == 50
    assert refused == []
    assert quantities("HERO-1", "WH-EAST")["reserved"] == 50  # 45 units promised that do not exist


def model_apply(state, kind, lines):
    """An independent model of the three kinds this test mixes."""
    for sku, quantity in lines:
        if kind == "receipt":
            state[(sku, "on_hand")] = state.get((sku, "on_hand"), 0) + quantity
        elif kind == "sale":
            state[(sku, "committed")] = state.get((sku, "committed"), 0) + quantity
        elif kind == "cycle_count":
            state[(sku, "on_hand")] = quantity


def test_mixed_concurrent_events_lose_nothing_and_match_a_serial_replay(receive):
    # given three SKUs with stock, and 40 events of which many touch several SKUs
    location = LocationFactory(code="WH-EAST")
    codes = ["A", "B", "C"]
    for code in codes:
        receive(SkuFactory(code=code), location, 100)
    rng = random.Random(7)
    events = []
    for n in range(40):
        kind = rng.choice(["sale", "sale", "receipt", "cycle_count"])
        chosen = rng.sample(codes, rng.randint(1, 3))
        rng.shuffle(chosen)  # lines in any order: the service must still lock in id order
        lines = [(code, rng.randint(0 if kind == "cycle_count" else 1, 40)) for code in chosen]
        events.append((f"mixed-{n}", kind, lines))

    def record(key, kind, lines):
        return services.record_event(
            kind=kind,
            lines=[EventLine(code, "WH-EAST", q) for code, q in lines],
            idempotency_key=key,
            source="test",
        )

    # when all 40 are recorded at once
    outcomes = run_concurrently(record, events)

    # then none failed (no deadlock, no serialization error) ...
    assert [o.error for o in outcomes if not o.ok] == []
    # ... and the balances equal a serial replay in the order the ledger serialised them
    by_key = {key: (kind, lines) for key, kind, lines in events}
    state = {(code, "on_hand"): 100 for code in codes}
    for event in InventoryEvent.objects.filter(idempotency_key__startswith="mixed-").order_by("id"):
        model_apply(state, *by_key[event.idempotency_key])
    actual = {
        (b.sku.code, b.bucket): b.quantity
        for b in Balance.objects.select_related("sku").filter(quantity__gt=0)
    }
    assert actual == {account: q for account, q in state.items() if q > 0}
    assert LedgerEntry.objects.filter(event__idempotency_key__startswith="mixed-").count() == sum(
        len(lines) for _, _, lines in events
    )
    assert selectors.ledger_mismatches() == []


def test_two_deliveries_of_one_event_at_once_record_it_once(sku, warehouse):
    def deliver(_):
        return services.record_event(
            kind="receipt",
            lines=[EventLine("TEE-M", "WH-EAST", 3)],
            idempotency_key="shopify:event:1",
            source="test",
        )

    outcomes = run_concurrently(deliver, [(n,) for n in range(10)])
    assert [o.error for o in outcomes if not o.ok] == []
    assert sorted(o.value.created for o in outcomes) == [False] * 9 + [True]
    assert len({o.value.event.pk for o in outcomes}) == 1
    assert quantities("TEE-M", "WH-EAST") == {"on_hand": 3}
