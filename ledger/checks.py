"""Checks of the ledger against the records other apps keep beside it, for verify_ledger.

Some truths span apps (each reserved bucket equals the holds allocation keeps), but the ledger
imports nothing of ours. So an app that keeps such records registers a check at start-up, in
its AppConfig.ready(), and verify_ledger (and the periodic ledger check) runs every registered
check beside its own proof that balances equal their entries (I2).

This module must stay importable before the app registry is ready: no models here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Disagreement:
    """One SKU at one location where the ledger and another app's records differ."""

    sku: str
    location: str
    ledger: int  # what the ledger holds (a bucket's balance)
    records: int  # what the other app's records say it should hold


@dataclass(frozen=True)
class LedgerCheck:
    name: str
    proves: str  # a sentence: "every reserved bucket equals the sum of its active reservations"
    fails: str  # a plural noun phrase: "reserved bucket(s) differ from their active reservations"
    ledger_column: str  # column titles of the mismatch table
    records_column: str
    find: Callable[[], list[Disagreement]]  # every disagreement, ordered by SKU and location


_checks: dict[str, LedgerCheck] = {}


def register_check(check: LedgerCheck) -> None:
    """Add a check, or replace the one of the same name (ready() may run more than once)."""
    _checks[check.name] = check


def registered_checks() -> list[LedgerCheck]:
    return [_checks[name] for name in sorted(_checks)]
