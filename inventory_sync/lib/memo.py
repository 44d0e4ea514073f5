"""Reads that may be shared for the span of one ingest claim.

Applying a claim of inbound events asks the same questions again and again: the listing of a
variant, a bundle's parts, the routing rules, the merchant locations. Within one claim (one
transaction, a few dozen events) the answers do not change in a way that matters: the mapping
and the rules are configuration, and a change to them is picked up by the next claim. Outside
a claim nothing is remembered: every call reads afresh, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

T = TypeVar("T")

_claim: ContextVar[dict | None] = ContextVar("inventory_sync_claim_memo", default=None)


@contextmanager
def claim() -> Iterator[dict]:
    """Remember answers until the block ends (nested blocks share the outer one's)."""
    current = _claim.get()
    if current is not None:
        yield current
        return
    token = _claim.set({})
    try:
        yield _claim.get()
    finally:
        _claim.reset(token)


def active() -> bool:
    """True inside a claim."""
    return _claim.get() is not None


def remembered(key: Hashable, compute: Callable[[], T]) -> T:
    """`compute()`, once per claim for `key`; every time outside a claim."""
    memo = _claim.get()
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def remember(key: Hashable, value: object) -> None:
    """Seed an answer read in bulk for the whole claim (no effect outside a claim)."""
    memo = _claim.get()
    if memo is not None:
        memo[key] = value
