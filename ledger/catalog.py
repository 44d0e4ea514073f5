"""Catalog import: SKUs, locations and opening balances from one CSV, all or nothing."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction

from inventory_sync.lib.errors import DomainError

from .models import CODE_VALIDATOR, EventKind, Location, Sku
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


class CatalogImportError(DomainError):
    code = "catalog_invalid"

    def __init__(self, errors: list[str]):
        super().__init__(f"{len(errors)} problem(s); nothing was imported.")
        self.errors = errors


@dataclass
class ImportReport:
    skus_created: int = 0
    skus_updated: int = 0
    locations_created: int = 0
    opening_balances: int = 0
    already_imported: int = 0
    errors: list[str] = field(default_factory=list)


def _parse_int(raw: str, *, low: int, high: int) -> int | None:
    raw = raw.strip()
    if not raw.lstrip("-").isdigit():
        return None
    value = int(raw)
    return value if low <= value <= high else None


def catalog_import(*, rows: Iterable[str], source_name: str) -> ImportReport:
    """Create or update SKUs and locations and record opening balances, atomically.

    Every row is checked first; any bad row (reported by its line number, the header being
    line 1) means nothing is written. Opening balances are receipts keyed
    `import:opening:<sku>:<location>`, so importing the same file twice records them once;
    a different opening quantity for an already imported pair is refused (use a cycle count).
    Locks: the SKU rows of all opening balances, for the length of the import transaction.
    """
    reader = csv.DictReader(rows)
    header = [name.strip() for name in (reader.fieldnames or [])]
    missing = REQUIRED_COLUMNS - set(header)
    if missing:
        raise CatalogImportError([f"line 1: missing column(s) {', '.join(sorted(missing))}"])
    unknown = set(header) - set(COLUMNS)
    if unknown:
        raise CatalogImportError(
            [f"line 1: unknown column(s) {', '.join(sorted(unknown))}; known: {', '.join(COLUMNS)}"]
        )

    errors: list[str] = []
    skus: dict[str, dict[str, object]] = {}
    locations: dict[str, dict[str, str]] = {}
    openings: dict[tuple[str, str], tuple[int, int]] = {}  # (sku, location) -> (qty, line)
    kinds = set(Location.Kind.values)
    for number, raw in enumerate(reader, start=2):
        row = {(key or "").strip(): (value or "").strip() for key, value in raw.items() if key}
        if None in raw:
            errors.append(f"line {number}: more values than columns")
            continue
        problems: list[str] = []
        code = row.get("sku", "")
        try:
            CODE_VALIDATOR(code)
        except ValidationError:
            problems.append(f"sku {code!r} is not a valid code (1-64 characters, no slash)")
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

        location = row.get("location", "")
        if location:
            try:
                CODE_VALIDATOR(location)
            except ValidationError:
                problems.append(f"location {location!r} is not a valid code")
            kind = row.get("location_kind") or Location.Kind.WAREHOUSE
            if kind not in kinds:
                problems.append(f"location_kind {kind!r} is not one of {', '.join(sorted(kinds))}")
            raw_quantity = row.get("on_hand", "")
            quantity = _parse_int(raw_quantity, low=0, high=MAX_QUANTITY) if raw_quantity else None
            if quantity is None:
                problems.append(f"on_hand {raw_quantity!r} is not a whole number 0-{MAX_QUANTITY}")
            elif (code, location) in openings:
                problems.append(
                    f"opening balance for {code} at {location} repeats line {openings[(code, location)][1]}"
                )
            if not problems:
                openings[(code, location)] = (quantity, number)  # type: ignore[assignment]
                locations.setdefault(
                    location, {"name": row.get("location_name") or location, "kind": kind}
                )
        elif row.get("on_hand"):
            problems.append("on_hand given without a location")

        previous = skus.get(code)
        if previous is not None:
            for name, value in attributes.items():
                if name in previous and previous[name] != value:
                    problems.append(f"{name} differs from an earlier row for {code}")
        if problems:
            errors.extend(f"line {number}: {problem}" for problem in problems)
            continue
        skus.setdefault(code, {}).update(attributes)
    if errors:
        raise CatalogImportError(errors)

    report = ImportReport()
    with transaction.atomic():
        existing = {sku.code: sku for sku in Sku.objects.filter(code__in=skus)}
        for code, attributes in skus.items():
            sku = existing.get(code)
            if sku is None:
                Sku.objects.create(code=code, **attributes)
                report.skus_created += 1
            elif attributes and any(getattr(sku, k) != v for k, v in attributes.items()):
                Sku.objects.filter(pk=sku.pk).update(**attributes)
                report.skus_updated += 1
        known_locations = set(
            Location.objects.filter(code__in=locations).values_list("code", flat=True)
        )
        for code, values in locations.items():
            if code not in known_locations:
                Location.objects.create(code=code, **values)
                report.locations_created += 1
        requests = [
            EventRequest(
                kind=EventKind.RECEIPT,
                lines=(EventLine(sku=sku, location=location, quantity=quantity),),
                idempotency_key=f"import:opening:{sku}:{location}",
                source="import",
                reason="opening balance",
                reference=source_name[:255],
            )
            for (sku, location), (quantity, _) in openings.items()
            if quantity > 0
        ]
        line_of = [openings[(r.lines[0].sku, r.lines[0].location)][1] for r in requests]
        outcome = record_events(requests)
        if outcome.failures:
            messages = []
            for index, error in outcome.failures:
                detail = error.detail
                if error.code == "idempotency_conflict":
                    detail = "a different opening balance was imported before; record a cycle count instead"
                messages.append(f"line {line_of[index]}: {detail}")
            transaction.set_rollback(True)
            raise CatalogImportError(messages)
        report.opening_balances = outcome.recorded
        report.already_imported = outcome.duplicates
    return report
