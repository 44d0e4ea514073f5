"""The catalogue: locations, one-variant products with their inventory items, and stocking
an item at a location."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from channels.sandbox.common.errors import SandboxError

from .base import ShopBase
from .records import STORED_NAMES, InventoryItem, Level, Location, Product, Variant


class CatalogueMixin(ShopBase):
    def add_location(
        self,
        name: str,
        *,
        primary: bool = False,
        is_active: bool = True,
        fulfills_online_orders: bool = True,
    ) -> Location:
        with self.lock:
            location = Location(
                id=self.next_id("location"),
                name=name,
                created_at=self.now(),
                is_active=is_active,
                fulfills_online_orders=fulfills_online_orders,
                is_primary=primary,
            )
            self.locations[location.id] = location
            return location

    def seed(
        self, products: Iterable[dict], locations: Iterable[dict | str] = ()
    ) -> dict[str, list[dict]]:
        """Create locations and one-variant products with stock.

        products: [{"sku", "barcode"?, "title"?, "variant_title"?, "price"?, "grams"?,
                    "quantities"?: {location name | id | gid: int | {"available": n, ...}}}]
        Without "quantities" the item is stocked at the primary location with 0 available.
        """
        with self.lock:
            for spec in locations:
                spec = {"name": spec} if isinstance(spec, str) else dict(spec)
                if self._location_by_name(spec["name"]) is None:
                    self.add_location(
                        spec["name"],
                        is_active=spec.get("is_active", True),
                        fulfills_online_orders=spec.get("fulfills_online_orders", True),
                    )
            created = [self._seed_product(dict(spec)) for spec in products]
            return {
                "locations": [self.location_json(loc) for loc in self.locations.values()],
                "products": created,
            }

    def _seed_product(self, spec: dict) -> dict:
        moment = self.now()
        sku = spec.get("sku")
        title = spec.get("title") or (f"Product {sku}" if sku else "Untitled product")
        product = Product(
            id=self.next_id("product"),
            title=title,
            handle=re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "product",
            created_at=moment,
            updated_at=moment,
        )
        variant = Variant(
            id=self.next_id("variant"),
            product_id=product.id,
            inventory_item_id=self.next_id("inventory_item"),
            sku=sku,
            barcode=spec.get("barcode"),
            title=spec.get("variant_title") or "Default Title",
            price=Decimal(str(spec.get("price", self.config.default_price))),
            created_at=moment,
            updated_at=moment,
            grams=int(spec.get("grams", 0)),
        )
        item = InventoryItem(
            id=variant.inventory_item_id,
            variant_id=variant.id,
            sku=sku,
            created_at=moment,
            updated_at=moment,
            tracked=spec.get("tracked", True),
        )
        product.variant_ids.append(variant.id)
        self.products[product.id] = product
        self.variants[variant.id] = variant
        self.items[item.id] = item
        quantities = spec.get("quantities")
        if quantities is None:
            quantities = {self.primary_location().id: 0}
        for location_ref, value in quantities.items():
            location = self._location_by_ref(location_ref, create=True)
            level = self._stock(item, location, moment)
            buckets = value if isinstance(value, dict) else {"available": value}
            deltas = {}
            for name, amount in buckets.items():
                if name == "on_hand":
                    deltas["available"] = deltas.get("available", 0) + int(amount)
                elif name in STORED_NAMES:
                    deltas[name] = deltas.get(name, 0) + int(amount)
                else:
                    raise SandboxError(f"unknown quantity name {name!r}")
            level.move(deltas, moment)
        return self.variant_json(variant)

    def _stock(self, item: InventoryItem, location: Location, moment: datetime) -> Level:
        key = (item.id, location.id)
        level = self.levels.get(key)
        if level is None:
            level = Level(item_id=item.id, location_id=location.id, created_at=moment)
            self.levels[key] = level
        return level

    def activate(self, item_ref: Any, location_ref: Any) -> Level:
        """Stock an item at a location (Shopify's inventoryActivate)."""
        with self.lock:
            item = self.find_item(item_ref)
            location = self._location_by_ref(location_ref)
            return self._stock(item, location, self.now())
