"""Catalog import: SKUs, locations and opening balances from one CSV, all or nothing."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from inventory_sync.lib.errors import DomainError

from .models import CODE_VALIDATOR, EventKind, InventoryEvent, Location, Sku
from .rules import MAX_QUANTITY, EventLine, EventRequest
from .services import record_events

COLUMNS = [
    "sku",
    "title",
    "barcode",
    "weight_grams",
    "tags",
    "location",
    "location_name",
    "location_kind",
    "on_hand",
]
REQUIRED_COLUMNS = {"sku"}


OPENING_CHANGED = "a different opening balance was imported before; record a cycle count instead"


class CatalogImportError(DomainError):
    code = "catalog_invalid"

    def __init__(self, errors: list[str], *, source_name: str = ""):
        prefix = f"{source_name}: " if source_name else ""
        super().__init__(f"{prefix}{len(errors)} problem(s); nothing was imported.")
        self.errors = errors


def _opening_key(sku: str, location: str) -> str:
    return f"import:opening:{sku}:{location}"


def _rows(reader: csv.DictReader, errors: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row); a line the csv module cannot read ends the file with an error."""
    number = 1
    try:
        for row in reader:
            number += 1
            yield number, row
    except csv.Error as exc:
        errors.append(f"line {number + 1}: {exc}")


@dataclass
class ImportReport:
    skus_created: int = 0
    skus_updated: int = 0
    locations_created: int = 0
    opening_balances: int = 0
    already_imported: int = 0


def _parse_int(raw: str, *, low: int, high: int) -> int | None:
    # ASCII digits only: str.isdigit() accepts "²" and "--3" passes a strip of "-", and int()
    # refuses both; a bounded length keeps int() away from its 4300-digit limit.
    raw = raw.strip()
    if not re.fullmatch(r"-?[0-9]{1,18}", raw):
        return None
    value = int(raw)
    return value if low <= value <= high else None


def _check_header(reader: csv.DictReader, *, source_name: str) -> None:
    try:
        header = [name.strip() for name in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise CatalogImportError([f"line 1: {exc}"], source_name=source_name) from None
    missing = REQUIRED_COLUMNS - set(header)
    if missing:
        raise CatalogImportError(
            [f"line 1: missing column(s) {', '.join(sorted(missing))}"], source_name=source_name
        )
    unknown = set(header) - set(COLUMNS)
    if unknown:
        raise CatalogImportError(
            [
                f"line 1: unknown column(s) {', '.join(sorted(unknown))}; known: {', '.join(COLUMNS)}"
            ],
            source_name=source_name,
        )


@dataclass
class _Catalog:
    """What the file asks for, once every row passed."""

    skus: dict[str, dict[str, object]] = field(default_factory=dict)
    locations: dict[str, dict[str, str]] = field(default_factory=dict)
    # (sku, location) -> (quantity, line): the line names the row a later repeat collides with.
    openings: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)


def _sku_attributes(row: dict[str, str], problems: list[str]) -> dict[str, object]:
    """The SKU attributes the row gives; each bad one adds to `problems`."""
    attributes: dict[str, object] = {}
    for name, limit in (("title", 255), ("barcode", 64)):
        if row.get(name):
            if len(row[name]) > limit:
                problems.append(f"{name} longer than {limit} characters")
            attributes[name] = row[name]
    if row.get("weight_grams"):
        weight = _parse_int(row["weight_grams"], low=0, high=10_000_000)
        if weight is None:
            problems.append(
                f"weight_grams {row['weight_grams']!r} is not a whole number 0-10000000"
            )
        attributes["weight_grams"] = weight
    if row.get("tags"):
        attributes["tags"] = [tag.strip() for tag in row["tags"].split(";") if tag.strip()]
    return attributes


def _opening(
    row: dict[str, str], *, code: str, location: str, catalog: _Catalog, problems: list[str]
) -> tuple[int | None, dict[str, str]]:
    """The row's opening quantity and the location fields it gives; each bad one adds to
    `problems`, as does a disagreement with an earlier row."""
    try:
        CODE_VALIDATOR(location)
    except ValidationError:
        problems.append(f"location {location!r} is not a valid code")
    kinds = set(Location.Kind.values)
    kind = row.get("location_kind") or Location.Kind.WAREHOUSE
    if kind not in kinds:
        problems.append(f"location_kind {kind!r} is not one of {', '.join(sorted(kinds))}")
    raw_quantity = row.get("on_hand", "")
    quantity = _parse_int(raw_quantity, low=0, high=MAX_QUANTITY) if raw_quantity else None
    if quantity is None:
        problems.append(f"on_hand {raw_quantity!r} is not a whole number 0-{MAX_QUANTITY}")
    elif (code, location) in catalog.openings:
        problems.append(
            f"opening balance for {code} at {location} repeats line {catalog.openings[(code, location)][1]}"
        )
    given = {k: row[f"location_{k}"] for k in ("name", "kind") if row.get(f"location_{k}")}
    if len(given.get("name", "")) > 255:
        problems.append("location_name longer than 255 characters")
    earlier = catalog.locations.get(location, {})
    problems.extend(
        f"location_{k} differs from an earlier row for {location}"
        for k, v in given.items()
        if k in earlier and earlier[k] != v
    )
    return quantity, given


def _check_row(row: dict[str, str], *, number: int, catalog: _Catalog) -> list[str]:
    """The row's problems; a row without any is added to `catalog`."""
    # PostgreSQL refuses NUL in text; refuse it here, where the line number is known.
    problems = [f"{name} contains a NUL character" for name, v in row.items() if "\x00" in v]
    code = row.get("sku", "")
    try:
        CODE_VALIDATOR(code)
    except ValidationError:
        problems.append(f"sku {code!r} is not a valid code (1-64 characters, no slash)")
    attributes = _sku_attributes(row, problems)

    location = row.get("location", "")
    if location:
        quantity, given = _opening(
            row, code=code, location=location, catalog=catalog, problems=problems
        )
        if not problems:
            catalog.openings[(code, location)] = (quantity, number)  # type: ignore[assignment]
            catalog.locations.setdefault(location, {}).update(given)
    elif row.get("on_hand"):
        problems.append("on_hand given without a location")

    previous = catalog.skus.get(code)
    if previous is not None:
        for name, value in attributes.items():
            if name in previous and previous[name] != value:
                problems.append(f"{name} differs from an earlier row for {code}")
    if not problems:
        catalog.skus.setdefault(code, {}).update(attributes)
    return problems


def _read_catalog(reader: csv.DictReader, *, source_name: str) -> _Catalog:
    """Every row checked; any problem on any row raises them all, by line."""
    errors: list[str] = []
    catalog = _Catalog()
    for number, raw in _rows(reader, errors):
        row = {(key or "").strip(): (value or "").strip() for key, value in raw.items() if key}
        if None in raw:
            errors.append(f"line {number}: more values than columns")
            continue
        problems = _check_row(row, number=number, catalog=catalog)
        errors.extend(f"line {number}: {problem}" for problem in problems)
    if errors:
        raise CatalogImportError(errors, source_name=source_name)
    return catalog


def _write_skus(skus: dict[str, dict[str, object]], report: ImportReport) -> None:
    existing = {sku.code: sku for sku in Sku.objects.filter(code__in=skus)}
    for code, attributes in skus.items():
        sku = existing.get(code)
        if sku is None:
            Sku.objects.create(code=code, **attributes)
            report.skus_created += 1
        elif attributes and any(getattr(sku, k) != v for k, v in attributes.items()):
            Sku.objects.filter(pk=sku.pk).update(**attributes)
            report.skus_updated += 1


def _create_locations(locations: dict[str, dict[str, str]], report: ImportReport) -> None:
    known_locations = set(
        Location.objects.filter(code__in=locations).values_list("code", flat=True)
    )
    for code, values in locations.items():
        if code not in known_locations:
            Location.objects.create(
                code=code,
                name=values.get("name", code),
                kind=values.get("kind", Location.Kind.WAREHOUSE),
            )
            report.locations_created += 1


def _record_openings(
    openings: dict[tuple[str, str], tuple[int, int]], report: ImportReport, *, source_name: str
) -> None:
    """Inside the import's transaction: an opening that differs from the one imported before
    raises, after marking the transaction for rollback."""
    requests = [
        EventRequest(
            kind=EventKind.RECEIPT,
            lines=(EventLine(sku=sku, location=location, quantity=quantity),),
            idempotency_key=_opening_key(sku, location),
            source="import",
            # Everything here is fingerprinted (I3): the file's name must stay out, or the
            # same opening in next month's file would count as a different fact.
            reason="opening balance",
        )
        for (sku, location), (quantity, _) in openings.items()
        if quantity > 0
    ]
    line_of = [openings[(r.lines[0].sku, r.lines[0].location)][1] for r in requests]
    # A zero opening records nothing, so the ledger cannot compare it: look for the key.
    zeroed = {
        _opening_key(sku, location): line
        for (sku, location), (quantity, line) in openings.items()
        if quantity == 0
    }
    refused = [
        (zeroed[key], OPENING_CHANGED)
        for key in InventoryEvent.objects.filter(idempotency_key__in=zeroed).values_list(
            "idempotency_key", flat=True
        )
    ]
    outcome = record_events(requests)
    for index, error in outcome.failures:
        detail = OPENING_CHANGED if error.code == "idempotency_conflict" else error.detail
        refused.append((line_of[index], detail))
    if refused:
        transaction.set_rollback(True)
        raise CatalogImportError(
            [f"line {line}: {detail}" for line, detail in sorted(refused)],
            source_name=source_name,
        )
    report.opening_balances = outcome.recorded
    report.already_imported = outcome.duplicates


def catalog_import(*, rows: Iterable[str], source_name: str) -> ImportReport:
    """Create or update SKUs and locations and record opening balances, atomically.

    Every row is checked first; any bad row (reported by its line number, the header being
    line 1) means nothing is written. Opening balances are receipts keyed
    `import:opening:<sku>:<location>`, so importing the same openings twice (from this file or
    any other) records them once; a different opening quantity for an already imported pair,
    zero included, is refused (use a cycle count). `source_name` only labels the error.
    Locks: the SKU rows of all opening balances, for the length of the import transaction.
    """
    reader = csv.DictReader(rows)
    _check_header(reader, source_name=source_name)
    catalog = _read_catalog(reader, source_name=source_name)
    report = ImportReport()
    with transaction.atomic():
        _write_skus(catalog.skus, report)
        _create_locations(catalog.locations, report)
        _record_openings(catalog.openings, report, source_name=source_name)
    return report
