"""The JSON the control API answers with: locations, variants with their levels, orders."""

from __future__ import annotations

from typing import Any

from channels.sandbox.shopify import payloads

from .base import ShopBase
from .records import Level, Location, Variant, gid


class ViewsMixin(ShopBase):
    def location_json(self, location: Location) -> dict:
        return {
            "id": location.id,
            "gid": location.gid,
            "name": location.name,
            "is_active": location.is_active,
            "is_primary": location.is_primary,
        }

    def variant_json(self, variant: Variant) -> dict:
        product = self.products[variant.product_id]
        return {
            "sku": variant.sku,
            "barcode": variant.barcode,
            "title": product.title,
            "product_id": product.id,
            "product_gid": product.gid,
            "variant_id": variant.id,
            "variant_gid": variant.gid,
            "inventory_item_id": variant.inventory_item_id,
            "inventory_item_gid": gid("InventoryItem", variant.inventory_item_id),
            # The variant's own levels by location id (not a sort of the whole shop's levels
            # per variant, which made seeding a large catalogue quadratic).
            "levels": [
                self.level_json(self.levels[(variant.inventory_item_id, location)])
                for location in sorted(self.locations)
                if (variant.inventory_item_id, location) in self.levels
            ],
        }

    def level_json(self, level: Level) -> dict:
        item = self.items[level.item_id]
        location = self.locations[level.location_id]
        return {
            "sku": item.sku,
            "inventory_item_id": item.id,
            "inventory_item_gid": item.gid,
            "location_id": location.id,
            "location_gid": location.gid,
            "location_name": location.name,
            "updated_at": payloads.rest_time(level.updated_at),
            **level.as_json(),
        }

    def levels_json(self, sku: str | None = None) -> list[dict]:
        with self.lock:
            return [
                self.level_json(level)
                for _, level in sorted(self.levels.items())
                if sku is None or self.items[level.item_id].sku == sku
            ]

    def order_json(self, order_ref: Any) -> dict:
        with self.lock:
            return payloads.order_payload(self.find_order(order_ref))

    def orders_json(self) -> list[dict]:
        with self.lock:
            return [payloads.order_payload(order) for order in self.orders.values()]
