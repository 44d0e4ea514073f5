"""Finding a location, variant, inventory item, order or level by id, global id, SKU or name."""

from __future__ import annotations

from typing import Any

from channels.sandbox.common.errors import NotFound

from .base import ShopBase
from .records import InventoryItem, Level, Location, Order, Variant, parse_gid


class LookupsMixin(ShopBase):
    def primary_location(self) -> Location:
        for location in self.locations.values():
            if location.is_primary:
                return location
        return next(iter(self.locations.values()))

    def _location_by_name(self, name: str) -> Location | None:
        for location in self.locations.values():
            if location.name == name:
                return location
        return None

    def _location_by_ref(self, ref: Any, *, create: bool = False) -> Location:
        number = ref if isinstance(ref, int) else parse_gid(ref, "Location")
        if number is None and isinstance(ref, str) and ref.isdigit():
            number = int(ref)
        if number is not None:
            if number in self.locations:
                return self.locations[number]
            raise NotFound(f"no location {ref}")
        location = self._location_by_name(str(ref))
        if location is None:
            if not create:
                raise NotFound(f"no location named {ref!r}")
            location = self.add_location(str(ref))
        return location

    def find_location(self, ref: Any = None) -> Location:
        with self.lock:
            return self.primary_location() if ref is None else self._location_by_ref(ref)

    def find_variant(self, ref: Any) -> Variant:
        """A variant by numeric id, ProductVariant gid or SKU (strings that are not gids)."""
        with self.lock:
            if isinstance(ref, Variant):
                return ref
            number = ref if isinstance(ref, int) else parse_gid(ref, "ProductVariant")
            if number is not None:
                if number in self.variants:
                    return self.variants[number]
                raise NotFound(f"no variant {ref}")
            for variant in self.variants.values():
                if variant.sku == ref:
                    return variant
            raise NotFound(f"no variant with SKU {ref!r}")

    def find_item(self, ref: Any) -> InventoryItem:
        """An inventory item by numeric id, InventoryItem gid or SKU."""
        with self.lock:
            if isinstance(ref, InventoryItem):
                return ref
            number = ref if isinstance(ref, int) else parse_gid(ref, "InventoryItem")
            if number is not None:
                if number in self.items:
                    return self.items[number]
                raise NotFound(f"no inventory item {ref}")
            variant = self.find_variant(ref)
            return self.items[variant.inventory_item_id]

    def find_order(self, ref: Any) -> Order:
        """An order by numeric id, Order gid or name ("#1001")."""
        with self.lock:
            if isinstance(ref, Order):
                return ref
            number = ref if isinstance(ref, int) else parse_gid(ref, "Order")
            if number is None and isinstance(ref, str) and ref.isdigit():
                number = int(ref)
            if number is not None and number in self.orders:
                return self.orders[number]
            for order in self.orders.values():
                if order.name == ref or order.name == f"#{ref}":
                    return order
            raise NotFound(f"no order {ref}")

    def level(self, item_ref: Any, location_ref: Any = None) -> Level:
        with self.lock:
            item = self.find_item(item_ref)
            location = self.find_location(location_ref)
            level = self.levels.get((item.id, location.id))
            if level is None:
                raise NotFound(f"{item.sku or item.id} is not stocked at {location.name}")
            return level
