import contextlib
import dataclasses
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ledger import selectors, services
from ledger.models import Balance, InventoryEvent, LedgerEntry, Location, Sku
from ledger.rules import EventLine, IdempotencyConflict, InsufficientStock, InvalidEvent
from tests.concurrency import held_elsewhere, run_concurrently, until_a_row_lock_is_awaited
from tests.factories import LocationFactory, SkuFactory


def as_kwargs(request):
    return {f.name: getattr(request, f.name) for f in dataclasses.fields(request)}


def balances(sku):
    return {
        (b.location.code, b.bucket): b.quantity
        for b in Balance.objects.filter(sku=sku).select_related("location")
    }


def record(kind, *lines, key, **extra):
    return services.record_event(
        kind=kind,
        lines=[EventLine(*line) if isinstance(line, tuple) else line for line in lines],
        idempotency_key=key,
        source="test",
        **extra,
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "quantity", "expected"),
    [
        ("receipt", 4, {"on_hand": 14}),
        ("sale", 3, {"on_hand": 10, "committed": 5}),
        ("cancel", 1, {"on_hand": 10, "committed": 1}),
        ("shipment", 2, {"on_hand": 8, "committed": 0}),
        ("return_restock", 1, {"on_hand": 11, "committed": 2}),
        ("return_unsellable", 1, {"on_hand": 11, "committed": 2, "unsellable": 1}),
        ("write_off", 3, {"on_hand": 7, "committed": 2}),
        ("cycle_count", 6, {"on_hand": 6, "committed": 2}),
        ("reserve", 5, {"on_hand": 10, "committed": 2, "reserved": 5}),
    ],
)
def test_each_kind_moves_its_buckets(sku, warehouse, receive, kind, quantity, expected):
    # given 10 on hand and 2 committed
    receive(sku, warehouse, 10)
    record("sale", ("TEE-M", "WH-EAST", 2), key="setup-sale")
    # when
    recorded = record(kind, ("TEE-M", "WH-EAST", quantity), key="k")
    # then
    got = {bucket: q for (loc, bucket), q in balances(sku).items() if q or bucket in expected}
    assert got == {"on_hand": 10, "committed": 2} | expected
    assert recorded.created is True
    assert [e.event_id for e in recorded.entries] == [recorded.event.pk] * len(recorded.entries)


@pytest.mark.django_db
def test_transfer_goes_out_into_destination_incoming_then_in(sku, warehouse, store, receive):
    receive(sku, warehouse, 10)
    record("transfer_out", EventLine("TEE-M", "WH-EAST", 4, to_location="STORE-SOHO"), key="t-out")
    assert balances(sku) == {("WH-EAST", "on_hand"): 6, ("STORE-SOHO", "incoming"): 4}
    record("transfer_in", ("TEE-M", "STORE-SOHO", 4), key="t-in")
    assert balances(sku) == {
        ("WH-EAST", "on_hand"): 6,
        ("STORE-SOHO", "incoming"): 0,
        ("STORE-SOHO", "on_hand"): 4,
    }


@pytest.mark.django_db
def test_inbound_stages_move_incoming_to_on_hand(sku, warehouse):
    record("inbound_stage", EventLine("TEE-M", "WH-EAST", 12, stage="announced"), key="in-1")
    record("inbound_stage", EventLine("TEE-M", "WH-EAST", 2, stage="cancelled"), key="in-2")
    record("inbound_stage", EventLine("TEE-M", "WH-EAST", 10, stage="received"), key="in-3")
    assert balances(sku) == {("WH-EAST", "incoming"): 0, ("WH-EAST", "on_hand"): 10}


@pytest.mark.django_db
def test_fba_snapshot_sets_each_bucket_absolutely(sku):
    pool = LocationFactory(code="FBA-NA", kind=Location.Kind.FBA, region="NA")
    record(
        "fba_snapshot",
        EventLine("TEE-M", "FBA-NA", 30, bucket="on_hand"),
        EventLine("TEE-M", "FBA-NA", 4, bucket="unsellable"),
        key="snap-1",
    )
    recorded = record(
        "fba_snapshot",
        EventLine("TEE-M", "FBA-NA", 25, bucket="on_hand"),
        EventLine("TEE-M", "FBA-NA", 4, bucket="unsellable"),
        key="snap-2",
    )
    assert balances(sku) == {("FBA-NA", "on_hand"): 25, ("FBA-NA", "unsellable"): 4}
    assert [(e.bucket, e.delta) for e in recorded.entries] == [("on_hand", -5), ("unsellable", 0)]
    assert not Balance.objects.exclude(location=pool).exists()


@pytest.mark.django_db
def test_fba_snapshot_refused_on_a_warehouse(sku, warehouse):
    with pytest.raises(InvalidEvent) as caught:
        record("fba_snapshot", EventLine("TEE-M", "WH-EAST", 3, bucket="on_hand"), key="snap")
    assert "lines[0].location" in caught.value.field_errors
    assert InventoryEvent.objects.count() == 0


@pytest.mark.django_db
def test_cycle_count_delta_is_computed_against_the_current_balance(sku, warehouse, receive):
    receive(sku, warehouse, 10)
    record("sale", ("TEE-M", "WH-EAST", 3), key="sale")
    recorded = record("cycle_count", ("TEE-M", "WH-EAST", 7), key="count")
    assert [(e.bucket, e.delta) for e in recorded.entries] == [("on_hand", -3)]
    assert balances(sku)[("WH-EAST", "on_hand")] == 7
    assert balances(sku)[("WH-EAST", "committed")] == 3


@pytest.mark.django_db
def test_replay_returns_the_original_and_changes_nothing(sku, warehouse):
    first = record("receipt", ("TEE-M", "WH-EAST", 5), key="dup")
    again = record("receipt", ("TEE-M", "WH-EAST", 5), key="dup")
    assert again.created is False
    assert again.event.pk == first.event.pk
    assert [e.pk for e in again.entries] == [e.pk for e in first.entries]
    assert balances(sku) == {("WH-EAST", "on_hand"): 5}
    assert LedgerEntry.objects.count() == 1


@pytest.mark.django_db
def test_same_key_with_another_body_is_a_conflict(sku, warehouse):
    record("receipt", ("TEE-M", "WH-EAST", 5), key="dup")
    with pytest.raises(IdempotencyConflict):
        record("receipt", ("TEE-M", "WH-EAST", 6), key="dup")
    assert balances(sku) == {("WH-EAST", "on_hand"): 5}


@pytest.mark.django_db
def test_unknown_sku_and_location_are_refused_and_nothing_is_written(sku, warehouse):
    with pytest.raises(InvalidEvent) as caught:
        record("receipt", ("NOPE", "WH-EAST", 1), ("TEE-M", "MARS", 1), key="bad")
    assert caught.value.field_errors == {
        "lines[0].sku": "Unknown SKU 'NOPE'.",
        "lines[1].location": "Unknown location 'MARS'.",
    }
    assert InventoryEvent.objects.count() == 0
    assert Sku.objects.get(code="TEE-M").allocation_dirty_since is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "line", "field"),
    [
        ("receipt", EventLine("TEE-M", "WH-EAST", 0), "lines[0].quantity"),
        ("receipt", EventLine("TEE-M", "WH-EAST", -4), "lines[0].quantity"),
        ("receipt", EventLine("TEE-M", "WH-EAST", 10**12), "lines[0].quantity"),
        ("receipt", EventLine("TEE-M", "WH-EAST", 1, bucket="reserved"), "lines[0].bucket"),
        ("transfer_out", EventLine("TEE-M", "WH-EAST", 1), "lines[0].to_location"),
        (
            "transfer_out",
            EventLine("TEE-M", "WH-EAST", 1, to_location="WH-EAST"),
            "lines[0].to_location",
        ),
        ("inbound_stage", EventLine("TEE-M", "WH-EAST", 1, stage="floating"), "lines[0].stage"),
        ("fba_snapshot", EventLine("TEE-M", "WH-EAST", 1), "lines[0].bucket"),
        ("teleport", EventLine("TEE-M", "WH-EAST", 1), "kind"),
    ],
)
def test_bad_shapes_are_refused_with_a_field_error(sku, warehouse, kind, line, field):
    with pytest.raises(InvalidEvent) as caught:
        record(kind, line, key="bad")
    assert field in caught.value.field_errors
    assert InventoryEvent.objects.count() == 0


@pytest.mark.django_db
def test_no_bucket_goes_below_zero(sku, warehouse, receive):
    receive(sku, warehouse, 3)
    with pytest.raises(InsufficientStock, match="on_hand is 3, cannot take 5"):
        record("shipment", ("TEE-M", "WH-EAST", 5), key="ship")
    with pytest.raises(InsufficientStock):
        record("release", ("TEE-M", "WH-EAST", 1), key="release")
    assert balances(sku) == {("WH-EAST", "on_hand"): 3}
    assert not InventoryEvent.objects.filter(idempotency_key__in=["ship", "release"]).exists()


@pytest.mark.django_db
def test_reserve_refuses_more_than_available_and_says_how_much_there_is(sku, warehouse, receive):
    receive(sku, warehouse, 5)
    record("sale", ("TEE-M", "WH-EAST", 2), key="sale")
    with pytest.raises(InsufficientStock) as caught:
        services.reserve(
            sku="TEE-M", location="WH-EAST", quantity=4, idempotency_key="r", source="test"
        )
    assert caught.value.extra["available"] == 3
    held = services.reserve(
        sku="TEE-M", location="WH-EAST", quantity=3, idempotency_key="r2", source="test"
    )
    assert [(e.bucket, e.delta) for e in held.entries] == [("reserved", 3)]
    services.release(
        sku="TEE-M", location="WH-EAST", quantity=3, idempotency_key="r3", source="test"
    )
    assert balances(sku)[("WH-EAST", "reserved")] == 0


@pytest.mark.django_db
def test_recording_marks_every_touched_sku_dirty_and_only_those(warehouse):
    a, b, c = SkuFactory(code="A"), SkuFactory(code="B"), SkuFactory(code="C")
    record("receipt", ("A", "WH-EAST", 1), ("B", "WH-EAST", 1), key="k")
    dirty = set(
        Sku.objects.filter(allocation_dirty_since__isnull=False).values_list("code", flat=True)
    )
    assert dirty == {"A", "B"}
    assert c.allocation_dirty_since is None
    assert a.pk
    assert b.pk


@pytest.mark.django_db
def test_multi_sku_event_locks_skus_in_id_order_before_writing(warehouse):
    SkuFactory(code="Z"), SkuFactory(code="A")
    with CaptureQueriesContext(connection) as captured:
        record("receipt", ("Z", "WH-EAST", 1), ("A", "WH-EAST", 1), key="k")
    lock = [q["sql"] for q in captured.captured_queries if "FOR NO KEY UPDATE" in q["sql"]]
    assert len(lock) == 1  # the order the locks are taken in: test_skus_are_locked_in_id_order
    first_write = next(
        i for i, q in enumerate(captured.captured_queries) if "INSERT INTO" in q["sql"]
    )
    lock_index = next(
        i for i, q in enumerate(captured.captured_queries) if "FOR NO KEY UPDATE" in q["sql"]
    )
    assert lock_index < first_write


@pytest.mark.django_db
def test_batch_path_equals_one_by_one(warehouse):
    SkuFactory(code="A"), SkuFactory(code="B")
    script = [
        ("receipt", [("A", 10), ("B", 4)]),
        ("sale", [("A", 3)]),
        ("shipment", [("A", 2)]),
        ("cycle_count", [("B", 9)]),
        ("shipment", [("B", 50)]),  # refused: only 9 on hand
        ("reserve", [("A", 5)]),
        ("reserve", [("A", 3)]),  # refused: 8 on hand - 1 committed - 5 reserved = 2 available
    ]

    def requests(prefix):
        return [
            services.EventRequest(
                kind=kind,
                lines=tuple(EventLine(f"{prefix}{s}", "WH-EAST", q) for s, q in lines),
                idempotency_key=f"{prefix}-{i}",
                source="test",
            )
            for i, (kind, lines) in enumerate(script)
        ]

    SkuFactory(code="XA"), SkuFactory(code="XB")
    outcome = services.record_events(requests("X"))
    assert outcome.recorded == 5
    assert [index for index, _ in outcome.failures] == [4, 6]
    for request in requests(""):
        with contextlib.suppress(InsufficientStock):
            services.record_event(**as_kwargs(request))
    one_by_one = balances(Sku.objects.get(code="A")), balances(Sku.objects.get(code="B"))
    batched = balances(Sku.objects.get(code="XA")), balances(Sku.objects.get(code="XB"))
    assert batched == one_by_one
    assert services.record_events(requests("X")).duplicates == 5
    assert selectors.ledger_mismatches() == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"reason": "a\x00b"}, "reason"),
        ({"reference": "\ud800"}, "reference"),
        ({"occurred_at": datetime(1999, 12, 31, tzinfo=UTC)}, "occurred_at"),
        ({"occurred_at": datetime.now(UTC) + timedelta(days=2)}, "occurred_at"),
        ({"occurred_at": datetime(2026, 1, 1)}, "occurred_at"),  # noqa: DTZ001 - the point
    ],
)
def test_text_and_times_the_database_cannot_keep_are_refused(sku, warehouse, extra, field):
    with pytest.raises(InvalidEvent) as caught:
        record("receipt", ("TEE-M", "WH-EAST", 1), key="k", **extra)
    assert field in caught.value.field_errors
    assert InventoryEvent.objects.count() == 0


@pytest.mark.django_db
def test_a_nul_in_a_sku_code_is_a_field_error_not_a_database_error(warehouse):
    with pytest.raises(InvalidEvent) as caught:
        record("receipt", ("TE\x00", "WH-EAST", 1), key="k")
    assert list(caught.value.field_errors) == ["lines[0].sku"]


@pytest.mark.django_db
def test_a_single_sku_sale_locks_the_sku_before_anything_is_written(sku, warehouse):
    # given the live path: one SKU, a kind that only adds units
    with CaptureQueriesContext(connection) as captured:
        recorded = record("sale", ("TEE-M", "WH-EAST", 2), key="k")
    # then one statement does it all, and its first part is the SKU lock
    assert len(captured.captured_queries) == 1
    sql = captured.captured_queries[0]["sql"]
    assert sql.startswith(
        "WITH sku AS (SELECT id FROM ledger_sku WHERE code = $1 FOR NO KEY UPDATE)"
    )
    # and every part of the write landed
    assert [(e.bucket, e.delta) for e in recorded.entries] == [("committed", 2)]
    assert balances(sku) == {("WH-EAST", "committed"): 2}
    assert Sku.objects.get(pk=sku.pk).allocation_dirty_since is not None


@pytest.mark.django_db
def test_batch_reports_replays_and_conflicts_without_applying_either(sku, warehouse):
    def receipt(key, quantity):
        return services.EventRequest(
            kind="receipt",
            lines=(EventLine("TEE-M", "WH-EAST", quantity),),
            idempotency_key=key,
            source="test",
        )

    services.record_events([receipt("a", 5), receipt("b", 2)])
    outcome = services.record_events([receipt("a", 5), receipt("b", 3), receipt("c", 1)])
    assert (outcome.recorded, outcome.duplicates) == (1, 1)
    assert [(index, type(error)) for index, error in outcome.failures] == [(1, IdempotencyConflict)]
    assert balances(sku) == {("WH-EAST", "on_hand"): 8}


@pytest.mark.django_db
def test_a_replayed_batch_leaves_no_sku_dirty(sku, warehouse):
    batch = [
        services.EventRequest(
            kind="sale" if n else "receipt",
            lines=(EventLine("TEE-M", "WH-EAST", 1),),
            idempotency_key=f"b-{n}",
            source="test",
        )
        for n in range(2)
    ]
    services.record_events(batch)
    Sku.objects.update(allocation_dirty_since=None)  # as the planner leaves it
    outcome = services.record_events(batch)
    assert (outcome.recorded, outcome.duplicates) == (0, 2)
    assert Sku.objects.get(pk=sku.pk).allocation_dirty_since is None


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["one event", "batch"])
def test_skus_are_locked_in_id_order(path):
    # given three SKUs whose codes sort in another order than their ids
    low, middle, high = (SkuFactory(code=code) for code in ("LK-C", "LK-A", "LK-B"))
    LocationFactory(code="LK-WH")
    lines = [EventLine(sku.code, "LK-WH", 1) for sku in (middle, high, low)]

    def write():
        if path == "one event":
            record("receipt", *lines, key="lk-1")
        else:
            services.record_events(
                [
                    services.EventRequest(
                        kind="receipt", lines=(line,), idempotency_key=f"lk-{n}", source="test"
                    )
                    for n, line in enumerate(lines)
                ]
            )

    # when another transaction holds the middle one while the write runs
    def hold_middle():
        Sku.objects.select_for_update().get(pk=middle.pk)

    with held_elsewhere(hold_middle):
        writer = threading.Thread(target=lambda: run_concurrently(write, [()]))
        writer.start()
        assert until_a_row_lock_is_awaited()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT code FROM ledger_sku WHERE code LIKE 'LK-%%' FOR NO KEY UPDATE SKIP LOCKED"
            )
            free = {code for (code,) in cursor.fetchall()}

    # then it waits on the middle SKU holding the lower id only: the higher one is not taken yet
    writer.join(timeout=30)
    assert free == {high.code}
    # and once the middle one is free, it records
    assert InventoryEvent.objects.filter(idempotency_key__startswith="lk-").exists()
