"""The batch path (record_events) writes exactly what recording the events one by one writes.

Each comparison runs both ways from the same starting ledger, each in a savepoint that is rolled
back afterwards, and compares the outcome (counts, refusals by index) and every stored row:
events in id order, entries in id order, balances with their versions.
"""

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inventory_sync.lib.errors import DomainError
from ledger import bulk, selectors, services
from ledger.models import Balance, InventoryEvent, LedgerEntry, Location
from ledger.rules import (
    MAX_LINES,
    MAX_QUANTITY,
    OWNED_KINDS,
    EventLine,
    EventRequest,
    IdempotencyConflict,
    InboundStage,
    validate_request,
)
from tests.concurrency import run_concurrently
from tests.factories import LocationFactory, SkuFactory

# One code with the characters COPY's text format and JSON both escape.
SKUS = ["BK-A", "BK-B", 'BK-\\"é\t']
LOCATIONS = ["BK-WH", "BK-ST"]
FBA = "BK-FBA"


def as_kwargs(request):
    return {f.name: getattr(request, f.name) for f in dataclasses.fields(request)}


def ledger_state():
    events = [
        (kind, source, key, fingerprint, None if occurred == recorded else occurred, *texts)
        for kind, source, key, fingerprint, occurred, recorded, *texts in (
            InventoryEvent.objects.order_by("id").values_list(
                "kind",
                "source",
                "idempotency_key",
                "fingerprint",
                "occurred_at",
                "recorded_at",
                "actor",
                "reason",
                "reference",
                "payload",
            )
        )
    ]
    entries = list(
        LedgerEntry.objects.order_by("id").values_list(
            "event__idempotency_key", "sku__code", "location__code", "bucket", "delta"
        )
    )
    balances = set(
        Balance.objects.values_list("sku__code", "location__code", "bucket", "quantity", "version")
    )
    return events, entries, balances


def one_by_one(requests, refuse_kinds):
    recorded = duplicates = 0
    failures = []
    for index, request in enumerate(requests):
        try:
            result = services.record_event(**as_kwargs(request), refuse_kinds=refuse_kinds)
        except DomainError as error:
            failures.append((index, error.code, error.field_errors))
            continue
        recorded += result.created
        duplicates += not result.created
    return recorded, duplicates, failures


def batched(requests, refuse_kinds, chunk_size):
    outcome = services.record_events(requests, chunk_size=chunk_size, refuse_kinds=refuse_kinds)
    failures = [(index, error.code, error.field_errors) for index, error in outcome.failures]
    return outcome.recorded, outcome.duplicates, failures


def rolled_back(record):
    """Run `record`, read what it left, then undo it all."""
    with transaction.atomic():
        outcome = record()
        state = ledger_state()
        assert selectors.ledger_mismatches() == []
        transaction.set_rollback(True)
    return outcome, state


def assert_batch_equals_one_by_one(requests, *, refuse_kinds=OWNED_KINDS, chunk_size=1000):
    expected = rolled_back(lambda: one_by_one(requests, refuse_kinds))
    assert rolled_back(lambda: batched(requests, refuse_kinds, chunk_size)) == expected
    return expected[0]


def event(kind, *lines, key, **extra):
    return EventRequest(
        kind=kind,
        lines=tuple(EventLine(*line) if isinstance(line, tuple) else line for line in lines),
        idempotency_key=key,
        source=extra.pop("source", "test"),
        **extra,
    )


@pytest.fixture
def catalog(db):
    for code in SKUS:
        SkuFactory(code=code)
    for code in LOCATIONS:
        LocationFactory(code=code)
    LocationFactory(code=FBA, kind=Location.Kind.FBA, region="NA")


MIXED = [
    event("receipt", ("BK-A", "BK-WH", 10), ("BK-B", "BK-WH", 4), key="m-0"),
    event("sale", ("BK-A", "BK-WH", 3), key="m-1"),
    event("sale", ("BK-A", "BK-WH", 3), key="m-1"),  # the same event again: a duplicate
    event("sale", ("BK-A", "BK-WH", 4), key="m-1"),  # its key with another body: a conflict
    event("receipt", ("BK-A", "BK-WH", 1), key="before"),  # recorded before the batch
    event("receipt", ("BK-A", "BK-WH", 2), key="before-other"),  # its key holds another body
    event("shipment", ("BK-B", "BK-WH", 50), key="m-6"),  # refused: only 4 on hand
    event("receipt", ("BK-A", "BK-WH", 0), key="m-7"),  # refused before anything: quantity 0
    event("receipt", ("BK-NOPE", "BK-WH", 1), key="m-8"),  # refused: no such SKU
    event(
        "transfer_out",
        EventLine("BK-A", "BK-WH", 2, to_location="BK-ST"),
        EventLine("BK-B", "BK-WH", 1, to_location="BK-ST"),
        key="m-9",
        reason="rebalance\tthe\nstores \\ now",
        actor="ops",
    ),
    event("reserve", ("BK-A", "BK-WH", 1), key="m-10"),  # owned: refused at this door
    event("reserve", ("BK-A", "BK-WH", 1), key="held"),  # owned, recorded before: a duplicate
    event("cycle_count", ("BK-B", "BK-WH", 7), key="m-12", reason="count"),
    event("fba_snapshot", EventLine("BK-A", FBA, 5, bucket="on_hand"), key="m-13"),
    event("receipt", ('BK-\\"é\t', "BK-ST", 3), key="m-14\\N", reference="PO\t7"),
    event("receipt", ("BK-A", "BK-WH", 10), ("BK-B", "BK-WH", 4), key="m-0"),  # a duplicate
]


@pytest.fixture
def recorded_before(catalog):
    services.record_event(**as_kwargs(MIXED[4]))
    services.record_event(**as_kwargs(event("receipt", ("BK-B", "BK-WH", 2), key="before-other")))
    services.record_event(**as_kwargs(event("receipt", ("BK-A", "BK-WH", 5), key="stock")))
    services.reserve(
        sku="BK-A", location="BK-WH", quantity=1, idempotency_key="held", source="test"
    )


@pytest.mark.parametrize("chunk_size", [1000, 4, 1])
def test_a_mixed_batch_records_what_one_by_one_records(recorded_before, chunk_size):
    recorded, duplicates, failures = assert_batch_equals_one_by_one(MIXED, chunk_size=chunk_size)
    assert (recorded, duplicates) == (6, 4)
    assert [(index, code) for index, code, _ in failures] == [
        (3, "idempotency_conflict"),
        (5, "idempotency_conflict"),
        (6, "insufficient_stock"),
        (7, "invalid_event"),
        (8, "invalid_event"),
        (10, "recorded_elsewhere"),
    ]


def test_a_batch_without_a_refusal_records_what_one_by_one_records(catalog):
    clean = [
        event("receipt", ("BK-A", "BK-WH", n + 1), ("BK-B", "BK-ST", 1), key=f"c-{n}")
        for n in range(30)
    ]
    clean += [event("sale", ("BK-A", "BK-WH", 1), key=f"s-{n}") for n in range(10)]
    clean += [clean[3], event("shipment", ("BK-A", "BK-WH", 5), key="ship"), clean[-1]]
    assert assert_batch_equals_one_by_one(clean, refuse_kinds={}) == (41, 2, [])


def test_an_owned_kind_finds_a_key_only_if_an_earlier_event_of_the_batch_wrote_it(catalog):
    refused_first = event("reserve", ("BK-A", "BK-WH", 1), key="shared")
    written_first = event("receipt", ("BK-A", "BK-WH", 1), key="shared-2")
    requests = [
        refused_first,
        event("receipt", ("BK-A", "BK-WH", 1), key="shared"),
        written_first,
        event("reserve", ("BK-A", "BK-WH", 1), key="shared-2"),
    ]
    _, _, failures = assert_batch_equals_one_by_one(requests)
    assert [(index, code) for index, code, _ in failures] == [
        (0, "recorded_elsewhere"),
        (3, "idempotency_conflict"),
    ]


def test_the_batch_locks_its_skus_before_it_writes(catalog):
    requests = [event("receipt", (code, "BK-WH", 1), key=f"l-{code}") for code in SKUS]
    with CaptureQueriesContext(connection) as captured:
        services.record_events(requests)
    statements = [query["sql"] for query in captured.captured_queries]
    lock = next(i for i, sql in enumerate(statements) if "FOR NO KEY UPDATE" in sql)
    first_write = next(
        i for i, sql in enumerate(statements) if sql.startswith(("COPY", "INSERT", "UPDATE"))
    )
    assert lock < first_write  # in id order: test_record_event.test_skus_are_locked_in_id_order


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_key_another_transaction_records_meanwhile_is_settled_one_by_one(monkeypatch):
    # given a batch that has read which of its keys exist ...
    for code in ("BK-A", "BK-B"):
        SkuFactory(code=code)
    LocationFactory(code="BK-WH")
    draw_ids = bulk._draw_event_ids

    def competitor_records_first(count):
        monkeypatch.setattr(bulk, "_draw_event_ids", draw_ids)
        # ... when another transaction records one of them, for a SKU the batch does not lock
        competitor = run_concurrently(
            lambda: services.record_event(
                kind="receipt",
                lines=[EventLine("BK-B", "BK-WH", 5)],
                idempotency_key="r-1",
                source="other",
            ),
            [()],
        )
        assert competitor[0].ok
        return draw_ids(count)

    monkeypatch.setattr(bulk, "_draw_event_ids", competitor_records_first)
    outcome = services.record_events(
        [event("receipt", ("BK-A", "BK-WH", n + 1), key=f"r-{n}") for n in range(3)]
    )
    # then the chunk is recorded again one event at a time: the key is the competitor's
    assert (outcome.recorded, outcome.duplicates) == (2, 0)
    assert [(index, type(error)) for index, error in outcome.failures] == [(1, IdempotencyConflict)]
    assert InventoryEvent.objects.get(idempotency_key="r-1").source == "other"
    assert set(Balance.objects.values_list("sku__code", "quantity")) == {("BK-A", 4), ("BK-B", 5)}
    assert selectors.ledger_mismatches() == []


# --- any script ---------------------------------------------------------------------------

text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=6)
times = st.one_of(
    st.none(),
    st.sampled_from(
        [
            datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC),
            datetime(2026, 3, 1, 9, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            datetime(2025, 11, 2, 1, 0, 7, tzinfo=timezone(timedelta(hours=-4, seconds=7))),
        ]
    ),
)


@st.composite
def lines_of(draw, kind):
    lines = []
    for _ in range(draw(st.integers(1, 3))):
        sku = draw(st.sampled_from([*SKUS, "BK-NOPE"] if draw(st.integers(0, 20)) == 0 else SKUS))
        location = draw(st.sampled_from(LOCATIONS))
        quantity = draw(st.integers(0, 12) if kind == "receipt" else st.integers(1, 12))
        extra = {}
        if kind in ("transfer_out", "reroute"):
            extra["to_location"] = next(code for code in LOCATIONS if code != location)
        elif kind == "write_off":
            extra["bucket"] = draw(st.sampled_from(["on_hand", "unsellable"]))
        elif kind == "inbound_stage":
            extra["stage"] = draw(st.sampled_from(InboundStage.ALL))
        elif kind == "cycle_count":
            quantity = draw(st.integers(0, 30))
        elif kind == "fba_snapshot":
            location = FBA
            extra["bucket"] = draw(st.sampled_from(["on_hand", "reserved", "incoming"]))
            quantity = draw(st.integers(0, 30))
        lines.append(EventLine(sku=sku, location=location, quantity=quantity, **extra))
    return tuple(lines)


@st.composite
def requests_of(draw):
    kind = draw(
        st.sampled_from(
            ["receipt"] * 4
            + ["sale", "cancel", "shipment", "return_restock", "return_unsellable"]
            + ["transfer_out", "transfer_in", "write_off", "cycle_count", "inbound_stage"]
            + ["reserve", "release", "reroute", "fba_snapshot"]
        )
    )
    if draw(st.booleans()):
        # A small pool of keys, so keys repeat with the same body or another one.
        key = draw(st.sampled_from(["k0", "k1", "k2", "k\t3", "k\\4"]))
    else:
        key = "u" + draw(text)
    return EventRequest(
        kind=kind,
        lines=draw(lines_of(kind)),
        idempotency_key=key,
        source=draw(st.sampled_from(["test", "shop\\ify", "ü"])),
        occurred_at=draw(times),
        actor=draw(text),
        reason=draw(text),
        reference=draw(text),
    )


@pytest.mark.django_db
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    before=st.lists(requests_of(), max_size=6),
    script=st.lists(requests_of(), min_size=1, max_size=20),
    repeats=st.lists(st.integers(0, 19), max_size=5),
    chunk_size=st.integers(1, 25),
    refuse_kinds=st.sampled_from([{}, OWNED_KINDS]),
)
def test_any_script_records_in_a_batch_what_one_by_one_records(
    catalog, before, script, repeats, chunk_size, refuse_kinds
):
    with transaction.atomic():
        stock = [
            event("receipt", (sku, location, 20), key=f"stock-{sku}-{location}")
            for sku in SKUS
            for location in LOCATIONS
        ]
        services.record_events(stock)
        one_by_one(before, {})
        requests = script + [script[i % len(script)] for i in repeats]
        assert_batch_equals_one_by_one(requests, refuse_kinds=refuse_kinds, chunk_size=chunk_size)
        transaction.set_rollback(True)


@settings(max_examples=300, deadline=None)
@given(request=requests_of())
def test_the_batch_writes_the_fingerprint_and_payload_of_the_request(request):
    lines_json = bulk._lines_json(request.lines)
    assert bulk._fingerprint(request, lines_json) == request.fingerprint
    assert json.loads(lines_json) == [line.as_dict() for line in request.lines]


# --- the quick validity check ---------------------------------------------------------------

NEAR_MISSES = {
    "kind": ["nope", "", "cycle_count", "transfer_out", "reserve", "fba_snapshot", 7, None],
    "idempotency_key": ["", "k" * 255, "k" * 256, "k\x00", "\ud800", "é", 5, None],
    "source": ["", "s" * 64, "s" * 65, "s\x00", "\udfff", None],
    "actor": ["a" * 150, "a" * 151, "a\x00", "\ud800", None],
    "reason": ["r" * 500, "r" * 501, "r\x00", None],
    "reference": ["r" * 255, "r" * 256, "\x00", None],
    "occurred_at": [datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1), datetime(1999, 1, 1)],  # noqa: DTZ001
    "lines": [(), tuple(EventLine("A", "B", 1) for _ in range(MAX_LINES + 1))],
}
LINE_NEAR_MISSES = {
    "sku": ["", "\x00", "\ud800", "é", None, 3],
    "location": ["", "\x00", "\udc00", None],
    "quantity": [0, -1, 1, MAX_QUANTITY, MAX_QUANTITY + 1, True, 1.5, "1", None],
    "bucket": ["on_hand", "unsellable", ""],
    "to_location": ["BK-ST", ""],
    "stage": ["received", ""],
}


PLAIN = event("receipt", ("BK-A", "BK-WH", 3), key="plain")


def test_the_quick_validity_check_passes_a_plain_receipt():
    assert bulk.surely_valid(PLAIN)


@pytest.mark.parametrize(
    ("name", "value"), [(name, value) for name, values in NEAR_MISSES.items() for value in values]
)
def test_the_quick_validity_check_passes_nothing_validate_request_refuses(name, value):
    near_miss = dataclasses.replace(PLAIN, **{name: value})
    if bulk.surely_valid(near_miss):
        validate_request(near_miss)


@pytest.mark.parametrize(
    ("name", "value"),
    [(name, value) for name, values in LINE_NEAR_MISSES.items() for value in values],
)
def test_the_quick_validity_check_passes_no_line_validate_request_refuses(name, value):
    line = dataclasses.replace(PLAIN.lines[0], **{name: value})
    near_miss = dataclasses.replace(PLAIN, lines=(PLAIN.lines[0], line))
    if bulk.surely_valid(near_miss):
        validate_request(near_miss)


@settings(max_examples=300, deadline=None)
@given(request=requests_of())
def test_the_quick_validity_check_agrees_with_validate_request_on_any_script(request):
    if bulk.surely_valid(request):
        validate_request(request)
