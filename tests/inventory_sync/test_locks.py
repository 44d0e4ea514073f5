"""inventory_sync.lib.locks: every row lock is FOR NO KEY UPDATE, in id order, OF its own table
when the query joins others, skipping held rows only when asked."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from channels.models import Listing
from inventory_sync.lib.locks import lock_ids, lock_one, lock_rows
from ledger.models import Sku
from tests.factories import ChannelFactory, ListingFactory, SkuFactory

pytestmark = pytest.mark.django_db

LOCK = re.compile(r"\bFOR (NO KEY UPDATE|UPDATE|KEY SHARE|SHARE)\b")


def lock_statements(captured: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in captured.captured_queries if LOCK.search(query["sql"])]


def the_lock_statement(run) -> tuple[str, object]:
    with CaptureQueriesContext(connection) as captured:
        result = run()
    (sql,) = lock_statements(captured)
    return sql, result


@pytest.fixture
def skus_out_of_code_order():
    # Sku's default ordering is by code: created Z, Y, X, so code order is the reverse of id's.
    return [SkuFactory(code=code) for code in ("Z", "Y", "X")]


def test_rows_are_locked_no_key_in_ascending_id_order(skus_out_of_code_order):
    ids = [sku.pk for sku in skus_out_of_code_order]
    sql, locked = the_lock_statement(lambda: list(lock_rows(Sku.objects.filter(pk__in=ids))))
    assert [sku.pk for sku in locked] == sorted(ids)
    assert sql.endswith('ORDER BY "ledger_sku"."id" ASC FOR NO KEY UPDATE')
    assert " JOIN " not in sql


def test_a_manager_is_locked_like_its_queryset(skus_out_of_code_order):
    sql, locked = the_lock_statement(lambda: list(lock_rows(Sku.objects)))
    assert [sku.code for sku in locked] == ["Z", "Y", "X"]
    assert sql.endswith('ORDER BY "ledger_sku"."id" ASC FOR NO KEY UPDATE')


def test_a_join_in_a_filter_locks_only_the_querys_own_table():
    listing = ListingFactory(sku=SkuFactory(code="MUG"))
    sql, locked = the_lock_statement(
        lambda: list(lock_rows(Listing.objects.filter(sku__code="MUG")))
    )
    assert locked == [listing]
    assert ' INNER JOIN "ledger_sku" ' in sql
    assert sql.endswith(
        'ORDER BY "channels_listing"."id" ASC FOR NO KEY UPDATE OF "channels_listing"'
    )


def test_select_related_locks_only_the_querys_own_table():
    listing = ListingFactory()
    sql, locked = the_lock_statement(
        lambda: list(lock_rows(Listing.objects.select_related("sku", "channel")))
    )
    assert locked == [listing]
    assert sql.endswith('FOR NO KEY UPDATE OF "channels_listing"')


def test_a_filter_on_a_foreign_key_column_is_no_join_and_names_no_table():
    channel = ChannelFactory()
    ListingFactory(channel=channel)
    sql, _ = the_lock_statement(lambda: list(lock_rows(channel.listings)))
    assert " JOIN " not in sql
    assert sql.endswith('ORDER BY "channels_listing"."id" ASC FOR NO KEY UPDATE')


def test_skip_locked_only_when_asked(skus_out_of_code_order):
    waiting, _ = the_lock_statement(lambda: list(lock_rows(Sku.objects)))
    skipping, _ = the_lock_statement(lambda: list(lock_rows(Sku.objects, skip_locked=True)))
    assert "SKIP LOCKED" not in waiting
    assert skipping.endswith("FOR NO KEY UPDATE SKIP LOCKED")


def test_a_writer_that_changes_a_key_takes_for_update(skus_out_of_code_order):
    sql, _ = the_lock_statement(lambda: list(lock_rows(Sku.objects, key=True)))
    assert sql.endswith('ORDER BY "ledger_sku"."id" ASC FOR UPDATE')


def test_lock_one_returns_the_row_and_raises_like_get(skus_out_of_code_order):
    wanted = skus_out_of_code_order[1]
    sql, locked = the_lock_statement(lambda: lock_one(Sku.objects, code="Y"))
    assert locked == wanted
    assert sql.endswith("FOR NO KEY UPDATE")
    with pytest.raises(Sku.DoesNotExist):
        lock_one(Sku.objects, code="nope")


def test_lock_ids_keeps_the_order_the_limit_and_the_own_table_over_a_join():
    channel = ChannelFactory()
    listings = [ListingFactory(channel=channel) for _ in range(3)]
    sql, ids = the_lock_statement(
        lambda: lock_ids(
            Listing.objects.filter(channel__code=channel.code), skip_locked=True, limit=2
        )
    )
    assert ids == [listing.pk for listing in listings[:2]]
    assert sql.startswith('SELECT "channels_listing"."id" FROM "channels_listing" INNER JOIN')
    assert sql.endswith(
        'ORDER BY "channels_listing"."id" ASC LIMIT 2 FOR NO KEY UPDATE OF "channels_listing" '
        "SKIP LOCKED"
    )


def test_nothing_is_locked_until_the_rows_are_read(skus_out_of_code_order):
    with CaptureQueriesContext(connection) as captured:
        rows = lock_rows(Sku.objects)
    assert captured.captured_queries == []
    assert len(rows) == 3
