"""Property tests: any sequence of valid events keeps I2 and replays to the same balances."""

import dataclasses

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inventory_sync.lib.errors import DomainError
from ledger import selectors, services
from ledger.models import Balance, Location
from ledger.rules import EventLine, EventRequest, InboundStage
from tests.factories import LocationFactory, SkuFactory

SKUS = ["P-A", "P-B"]
LOCATIONS = ["P-WH", "P-ST"]

quantity = st.integers(min_value=1, max_value=30)
place = st.tuples(st.sampled_from(SKUS), st.sampled_from(LOCATIONS))


def as_kwargs(request):
    return {f.name: getattr(request, f.name) for f in dataclasses.fields(request)}


@st.composite
def events(draw):
    kind = draw(
        st.sampled_from(
            [
                "receipt",
                "sale",
                "cancel",
                "shipment",
                "return_restock",
                "return_unsellable",
                "transfer_out",
                "transfer_in",
                "write_off",
                "cycle_count",
                "inbound_stage",
                "reserve",
                "release",
                "fba_snapshot",
            ]
        )
    )
    lines = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        sku, location = draw(place)
        extra = {}
        q = draw(quantity)
        if kind == "transfer_out":
            extra["to_location"] = next(loc for loc in LOCATIONS if loc != location)
        elif kind == "write_off":
            extra["bucket"] = draw(st.sampled_from(["on_hand", "unsellable"]))
        elif kind == "inbound_stage":
            extra["stage"] = draw(st.sampled_from(InboundStage.ALL))
        elif kind == "cycle_count":
            q = draw(st.integers(min_value=0, max_value=60))
        elif kind == "fba_snapshot":
            location = "P-FBA"
            extra["bucket"] = draw(
                st.sampled_from(["on_hand", "reserved", "incoming", "unsellable"])
            )
            q = draw(st.integers(min_value=0, max_value=60))
        lines.append(EventLine(sku=sku, location=location, quantity=q, **extra))
    return kind, tuple(lines)


def sum_of_entries():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.code, l.code, e.bucket, SUM(e.delta) FROM ledger_ledgerentry e "
            "JOIN ledger_sku s ON s.id = e.sku_id JOIN ledger_location l ON l.id = e.location_id "
            "WHERE s.code LIKE %s GROUP BY 1, 2, 3",
            ["P-%"],
        )
        return {(s, loc, b): int(total) for s, loc, b, total in cursor.fetchall() if total}


def stored(prefix="P-"):
    return {
        (b.sku.code.removeprefix("R"), b.location.code, b.bucket): b.quantity
        for b in Balance.objects.select_related("sku", "location").filter(
            sku__code__startswith=prefix
        )
        if b.quantity
    }


@pytest.fixture
def catalog(db):
    for code in SKUS:
        SkuFactory(code=code)
        SkuFactory(code="R" + code)
    for code in LOCATIONS:
        LocationFactory(code=code)
    LocationFactory(code="P-FBA", kind=Location.Kind.FBA, region="NA")


@pytest.mark.django_db
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    script=st.lists(events(), min_size=1, max_size=25),
    duplicates=st.lists(st.integers(0, 24), max_size=10),
)
def test_balances_equal_entries_and_replays_change_nothing(catalog, script, duplicates):
    with transaction.atomic():
        requests = [
            EventRequest(kind=kind, lines=lines, idempotency_key=f"prop-{n}", source="test")
            for n, (kind, lines) in enumerate(script)
        ]
        # when every event is recorded once (some are refused: not enough stock)
        accepted, refusals = [], []
        for request in requests:
            try:
                services.record_event(**as_kwargs(request))
                accepted.append(request)
            except DomainError as error:
                refusals.append(error.code)
        # then the only refusals are for stock that is not there ...
        assert set(refusals) <= {"insufficient_stock"}
        # ... every balance equals the sum of its entries, and none is negative
        after_first = stored()
        assert after_first == sum_of_entries()
        assert all(q >= 0 for q in after_first.values())
        assert selectors.ledger_mismatches() == []

        # when the accepted events are delivered again, with any duplicates, in the batch path
        again = accepted + [accepted[i % len(accepted)] for i in duplicates if accepted]
        outcome = services.record_events(again)
        # then nothing changes
        assert outcome.recorded == 0
        assert outcome.duplicates == len(again)
        assert stored() == after_first

        # and the same script through the batch path on twin SKUs ends in the same balances
        twins = [
            EventRequest(
                kind=r.kind,
                lines=tuple(
                    EventLine(**{**line.as_dict(), "sku": "R" + line.sku}) for line in r.lines
                ),
                idempotency_key="twin-" + r.idempotency_key,
                source="test",
            )
            for r in requests
        ]
        batch = services.record_events(twins, chunk_size=7)
        assert batch.recorded == len(accepted)
        assert stored("RP-") == after_first
        transaction.set_rollback(True)
