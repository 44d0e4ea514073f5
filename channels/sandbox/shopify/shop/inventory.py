"""Inventory writes: inventorySetQuantities and inventoryAdjustQuantities (2026-04, all or
nothing, compare-and-set), and the merchant editing a number in the admin."""

from __future__ import annotations

import re
from typing import Any

from .base import ShopBase
from .records import Level, gid, parse_gid

SET_NAMES = ("available", "on_hand")
ADJUST_NAMES = ("available", "damaged", "incoming", "quality_control", "reserved", "safety_stock")

# Shopify answers with a display label, not the input code ("correction" -> "Inventory
# correction" is documented; the other labels are our best guess).
REASON_LABELS = {
    "correction": "Inventory correction",
    "cycle_count_available": "Cycle count",
    "damaged": "Damaged",
    "movement_created": "Movement created",
    "movement_updated": "Movement updated",
    "movement_received": "Movement received",
    "movement_canceled": "Movement canceled",
    "other": "Other",
    "promotion": "Promotion or donation",
    "quality_control": "Quality control",
    "received": "Inventory received",
    "reservation_created": "Reservation created",
    "reservation_deleted": "Reservation deleted",
    "reservation_updated": "Reservation updated",
    "restock": "Restock",
    "safety_stock": "Safety stock",
    "shrinkage": "Shrinkage",
}
QUANTITY_LIMIT = 1_000_000_000


class InventoryMixin(ShopBase):
    def _resolve_quantity_target(self, index: int, row: dict, path: str, errors: list[dict]):
        item_id = parse_gid(row.get("inventoryItemId"), "InventoryItem")
        location_id = parse_gid(row.get("locationId"), "Location")
        prefix = ["input", path, str(index)]
        if item_id is None or item_id not in self.items:
            errors.append(
                _user_error(
                    "INVALID_INVENTORY_ITEM",
                    [*prefix, "inventoryItemId"],
                    "The specified inventory item could not be found.",
                )
            )
            return None
        if location_id is None or location_id not in self.locations:
            errors.append(
                _user_error(
                    "INVALID_LOCATION",
                    [*prefix, "locationId"],
                    "The specified location could not be found.",
                )
            )
            return None
        level = self.levels.get((item_id, location_id))
        if level is None or not level.is_active:
            errors.append(
                _user_error(
                    "ITEM_NOT_STOCKED_AT_LOCATION",
                    [*prefix, "locationId"],
                    "The specified inventory item is not stocked at the location.",
                )
            )
            return None
        return level

    def _check_common(self, name_ok: bool, name_code: str, reason: str, reference: Any) -> list:
        errors = []
        if not name_ok:
            errors.append(
                _user_error(
                    name_code,
                    ["input", "name"],
                    "The quantity name must be one of: "
                    + ", ".join(SET_NAMES if name_code == "INVALID_NAME" else ADJUST_NAMES)
                    + ".",
                )
            )
        if reason not in REASON_LABELS:
            errors.append(
                _user_error(
                    "INVALID_REASON", ["input", "reason"], "The specified reason is invalid."
                )
            )
        if reference is not None and not _is_uri(reference):
            errors.append(
                _user_error(
                    "INVALID_REFERENCE_DOCUMENT",
                    ["input", "referenceDocumentUri"],
                    "The specified reference document is invalid.",
                )
            )
        return errors

    def _group(self, reason: str, reference: str | None, changes: list[dict]) -> dict:
        group_id = self.next_id("adjustment_group")
        group = {
            "id": gid("InventoryAdjustmentGroup", group_id),
            "createdAt": self.now(),
            "reason": REASON_LABELS.get(reason, reason),
            "referenceDocumentUri": reference,
            "changes": changes,
        }
        self.adjustment_groups[group_id] = group
        return group

    def set_quantities(
        self,
        *,
        name: str,
        reason: str,
        quantities: list[dict],
        reference_document_uri: str | None = None,
        persist: bool = True,
    ) -> tuple[dict | None, list[dict]]:
        """inventorySetQuantities 2026-04: all-or-nothing, compare-and-set per quantity.

        `persist=False` is the lost-write fault: the answer says applied, the shop is unchanged.
        """
        with self.lock:
            errors = self._check_common(
                name in SET_NAMES, "INVALID_NAME", reason, reference_document_uri
            )
            seen: set[tuple[int, int]] = set()
            plan: list[tuple[Level, int]] = []
            for index, row in enumerate(quantities):
                level = self._resolve_quantity_target(index, row, "quantities", errors)
                if level is None:
                    continue
                error = _set_error(index, row, level, name, seen)
                if error is not None:
                    errors.append(error)
                    continue
                plan.append((level, row["quantity"]))
            if errors:
                return None, errors
            moment = self.now()
            other = "on_hand" if name == "available" else "available"
            changes = []
            touched = []
            for level, quantity in plan:
                delta = quantity - level.quantity(name)
                for change_name in (name, other):
                    # Shopify's set examples leave quantityAfterChange null.
                    changes.append(_change(change_name, delta, None, level, None))
                if persist and delta:
                    # Setting either name moves `available`: the unavailable buckets stay put.
                    level.move({"available": delta}, moment)
                    touched.append(level)
            group = self._group(reason, reference_document_uri, changes)
            for level in touched:
                self._emit_level(level, moment)
            return group, []

    def adjust_quantities(
        self,
        *,
        name: str,
        reason: str,
        changes: list[dict],
        reference_document_uri: str | None = None,
        persist: bool = True,
    ) -> tuple[dict | None, list[dict]]:
        """inventoryAdjustQuantities 2026-04: deltas, same all-or-nothing compare-and-set."""
        with self.lock:
            errors = self._check_common(
                name in ADJUST_NAMES, "INVALID_QUANTITY_NAME", reason, reference_document_uri
            )
            plan: list[tuple[Level, int, str | None]] = []
            for index, row in enumerate(changes):
                level = self._resolve_quantity_target(index, row, "changes", errors)
                if level is None:
                    continue
                error = _adjust_error(index, row, level, name)
                if error is not None:
                    errors.append(error)
                    continue
                plan.append((level, row["delta"], row.get("ledgerDocumentUri")))
            if errors:
                return None, errors
            moment = self.now()
            result = []
            touched = []
            for level, delta, ledger in plan:
                names = [name] if name == "incoming" else [name, "on_hand"]
                after = {n: level.quantity(n) + delta for n in names}
                for change_name in names:
                    result.append(_change(change_name, delta, after[change_name], level, ledger))
                if persist and delta:
                    level.move({name: delta}, moment)
                    if name == "available":
                        touched.append(level)
            group = self._group(reason, reference_document_uri, result)
            for level in touched:
                self._emit_level(level, moment)
            return group, []

    def admin_edit(self, item_ref: Any, location_ref: Any = None, *, available: int) -> dict:
        """A merchant typing a new available number in the Shopify admin (no compare-and-set)."""
        with self.lock:
            item = self.find_item(item_ref)
            location = self.find_location(location_ref)
            moment = self.now()
            level = self._stock(item, location, moment)
            delta = int(available) - level.quantity("available")
            level.move({"available": delta}, moment)
            self._emit_level(level, moment)
            return self.level_json(level)


def _user_error(code: str, path: list[str] | None, message: str) -> dict:
    return {"code": code, "field": path, "message": message}


def _is_uri(value: Any) -> bool:
    return isinstance(value, str) and re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$", value) is not None


def _change(name: str, delta: int, after: int | None, level: Level, ledger: str | None) -> dict:
    """One row of an adjustment group's changes (the `_` keys are the sandbox's own)."""
    return {
        "name": name,
        "delta": delta,
        "quantityAfterChange": after,
        "_item_id": level.item_id,
        "_location_id": level.location_id,
        "ledgerDocumentUri": ledger,
    }


def _set_error(
    index: int, row: dict, level: Level, name: str, seen: set[tuple[int, int]]
) -> dict | None:
    """What is wrong with one row of inventorySetQuantities, if anything."""
    key = (level.item_id, level.location_id)
    if key in seen:
        return _user_error(
            "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR",
            ["input", "quantities", str(index)],
            "The combination of inventoryItemId and locationId must be unique.",
        )
    seen.add(key)
    quantity = row["quantity"]
    field_path = ["input", "quantities", str(index), "quantity"]
    if quantity < 0:
        return _user_error(
            "INVALID_QUANTITY_NEGATIVE", field_path, "The quantity can't be negative."
        )
    if quantity > QUANTITY_LIMIT:
        return _user_error(
            "INVALID_QUANTITY_TOO_HIGH",
            field_path,
            "The quantity can't be higher than 1,000,000,000.",
        )
    expected = row.get("changeFromQuantity")
    if name in SET_NAMES and expected is not None and expected != level.quantity(name):
        return _user_error(
            "CHANGE_FROM_QUANTITY_STALE",
            ["input", "quantities", str(index), "changeFromQuantity"],
            "The changeFromQuantity value does not match persisted value.",
        )
    return None


def _adjust_error(index: int, row: dict, level: Level, name: str) -> dict | None:
    """What is wrong with one row of inventoryAdjustQuantities, if anything."""
    prefix = ["input", "changes", str(index)]
    error = _ledger_error(prefix, row.get("ledgerDocumentUri"), name)
    if error is not None or name not in ADJUST_NAMES:
        return error
    delta = row["delta"]
    after = level.quantity(name) + delta
    if after > 2 * QUANTITY_LIMIT or after < -2 * QUANTITY_LIMIT:
        return _user_error(
            "INVALID_QUANTITY_TOO_HIGH" if delta > 0 else "INVALID_QUANTITY_TOO_LOW",
            [*prefix, "delta"],
            "The resulting quantity is out of range.",
        )
    expected = row.get("changeFromQuantity")
    if expected is not None and expected != level.quantity(name):
        return _user_error(
            "CHANGE_FROM_QUANTITY_STALE",
            [*prefix, "changeFromQuantity"],
            "The changeFromQuantity value does not match persisted value.",
        )
    return None


def _ledger_error(prefix: list[str], ledger: Any, name: str) -> dict | None:
    """`available` takes no ledger document; every other adjustable name needs an outside one."""
    path = [*prefix, "ledgerDocumentUri"]
    if name == "available" and ledger is not None:
        return _user_error(
            "INVALID_AVAILABLE_DOCUMENT",
            path,
            "A ledger document URI is not allowed when adjusting available.",
        )
    if name != "available" and name in ADJUST_NAMES:
        if ledger is None:
            return _user_error(
                "INVALID_QUANTITY_DOCUMENT",
                path,
                "A ledger document URI is required for this quantity name.",
            )
        if str(ledger).startswith("gid://shopify/"):
            return _user_error(
                "INTERNAL_LEDGER_DOCUMENT",
                path,
                "The ledger document URI can't reference a Shopify resource.",
            )
    return None
