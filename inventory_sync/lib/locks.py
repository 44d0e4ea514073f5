"""Row locks, taken one way (the lock rules in CONTRIBUTING.md).

Every row lock of channels and allocation goes through these helpers, so each one:
1. is FOR NO KEY UPDATE: the writer changes no primary key or unique column of the row, and
   the weaker lock still lets another transaction insert a row that points at the locked one
   (its foreign-key check takes FOR KEY SHARE). A writer that does change one (ending a
   reservation sets its one-to-one release_event) says `key=True` and takes FOR UPDATE up
   front, the lock PostgreSQL would otherwise take at its UPDATE.
2. takes its rows in ascending primary-key order, so two transactions locking overlapping
   rows queue behind each other instead of deadlocking.
3. names its own table (OF) when the query joins others: the joined rows stay unlocked, and
   the nullable side of an outer join is allowed at all.
4. skips rows another transaction holds only when the caller asks (a claim that moves on).

The ledger's own writers lock their SKU rows in SQL of their own (ledger/writer.py), in the
same mode and order.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Manager, Model, QuerySet

M = TypeVar("M", bound=Model)


def lock_rows(
    rows: QuerySet[M] | Manager[M], *, skip_locked: bool = False, key: bool = False
) -> QuerySet[M]:
    """The rows, to be locked when evaluated (inside a transaction) in ascending id order.

    Filter and select_related before the call (the joins decide whether OF is needed); slice
    the result as needed, its ordering is the lock order.
    """
    queryset = rows.all()
    of = ("self",) if _joins_other_tables(queryset) else ()
    return queryset.select_for_update(skip_locked=skip_locked, no_key=not key, of=of).order_by("pk")


def lock_one(rows: QuerySet[M] | Manager[M], *, key: bool = False, **lookups: Any) -> M:
    """The one row matching `lookups`, locked; raises like QuerySet.get()."""
    return lock_rows(rows, key=key).get(**lookups)


def lock_ids(
    rows: QuerySet[M] | Manager[M], *, skip_locked: bool = False, limit: int | None = None
) -> list[Any]:
    """Lock the rows (at most `limit`, the lowest ids first) and return their ids, ascending."""
    locked = lock_rows(rows, skip_locked=skip_locked).only("pk")
    if limit is not None:
        locked = locked[:limit]
    return [row.pk for row in locked]


def _joins_other_tables(queryset: QuerySet) -> bool:
    query = queryset.query
    if query.select_related:
        return True
    # A join that a filter set up and later trimmed stays in alias_map with no references;
    # only referenced aliases reach the FROM clause.
    return sum(1 for alias in query.alias_map if query.alias_refcount[alias]) > 1
