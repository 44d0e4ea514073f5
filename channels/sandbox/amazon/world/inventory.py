"""FBA inventory: the buckets of units at Amazon's fulfilment centres and their notifications."""

from __future__ import annotations

from channels.sandbox.common.errors import SandboxError

from .base import WorldBase
from .records import FBA_BUCKETS, INBOUND_STAGES, FbaStock, Listing


class InventoryMixin(WorldBase):
    def _check_bucket(self, bucket: str) -> None:
        if bucket not in FBA_BUCKETS:
            raise SandboxError(f"unknown FBA bucket {bucket!r}; known: {', '.join(FBA_BUCKETS)}")

    def _fba_stock(self, listing: Listing) -> FbaStock:
        stock = self.fba.get(listing.key)
        if stock is None:
            stock = FbaStock(
                seller_id=listing.seller_id,
                sku=listing.sku,
                marketplace_id=listing.marketplace_id,
                asin=listing.asin,
                fn_sku=listing.fn_sku or self._fn_sku(listing.sku),
                product_name=listing.item_name or listing.sku,
                updated=self.now(),
            )
            listing.fn_sku = stock.fn_sku
            self.fba[listing.key] = stock
        return stock

    def set_fba(
        self,
        sku: str,
        *,
        seller_id: str | None = None,
        marketplace_id: str | None = None,
        **buckets: int,
    ) -> dict:
        """Set FBA buckets (absolute): fulfillable, inbound_working/shipped/receiving,
        pending_customer_order, fc_processing, researching_*_term, customer_damaged, ..."""
        with self.lock:
            listing = self.find_listing(sku, seller_id=seller_id, marketplace_id=marketplace_id)
            stock = self._fba_stock(listing)
            before = dict(stock.buckets)
            for bucket, value in buckets.items():
                self._check_bucket(bucket)
                if int(value) < 0:
                    raise SandboxError(f"{bucket} cannot be negative")
                stock.buckets[bucket] = int(value)
            changed = {b for b in FBA_BUCKETS if before[b] != stock.buckets[b]}
            self._fba_changed(stock, detected=bool(changed - set(INBOUND_STAGES[:3])))
            return dict(stock.buckets)

    def move_inbound(
        self,
        sku: str,
        quantity: int,
        *,
        to: str = "fulfillable",
        source: str | None = None,
        seller_id: str | None = None,
        marketplace_id: str | None = None,
    ) -> dict:
        """Move units along working -> shipped -> receiving -> fulfillable (the FC receiving a
        shipment). `source` defaults to the stage before `to`."""
        with self.lock:
            if to not in INBOUND_STAGES[1:]:
                raise SandboxError(f"'to' must be one of {INBOUND_STAGES[1:]}")
            source = source or INBOUND_STAGES[INBOUND_STAGES.index(to) - 1]
            if source not in INBOUND_STAGES[:-1]:
                raise SandboxError(f"'source' must be one of {INBOUND_STAGES[:-1]}")
            listing = self.find_listing(sku, seller_id=seller_id, marketplace_id=marketplace_id)
            stock = self._fba_stock(listing)
            if stock[source] < quantity:
                raise SandboxError(f"only {stock[source]} units in {source}")
            stock.buckets[source] -= quantity
            stock.buckets[to] += quantity
            self._fba_changed(stock, detected=to == "fulfillable")
            return dict(stock.buckets)

    def _fba_changed(self, stock: FbaStock, *, detected: bool = True) -> None:
        # getInventorySummaries' startDateTime "does not detect" inbound quantity changes, so
        # those leave lastUpdatedTime alone; the notification still goes out.
        if detected:
            stock.updated = self.now()
        b = stock.buckets
        listing = self.listings.get((stock.seller_id, stock.sku, stock.marketplace_id))
        self._publish(
            "FBA_INVENTORY_AVAILABILITY_CHANGES",
            {
                "SellerId": stock.seller_id,
                "FNSKU": stock.fn_sku,
                "ASIN": stock.asin or "",
                "SKU": stock.sku,
                "FulfillmentInventoryByMarketplace": [
                    {
                        "MarketplaceId": stock.marketplace_id,
                        "ItemName": (listing.item_name if listing else None) or stock.product_name,
                        "FulfillmentInventory": {
                            "InboundQuantityBreakdown": {
                                "Working": b["inbound_working"],
                                "Shipped": b["inbound_shipped"],
                                "Receiving": b["inbound_receiving"],
                            },
                            "Fulfillable": b["fulfillable"],
                            "Unfulfillable": stock.unfulfillable,
                            "Researching": stock.researching,
                            "ReservedQuantityBreakdown": {
                                "WarehouseProcessing": b["fc_processing"],
                                "WarehouseTransfer": b["pending_transshipment"],
                                "PendingCustomerOrder": b["pending_customer_order"],
                            },
                            "FutureSupplyBuyable": b["future_supply_buyable"],
                            "PendingCustomerOrderInTransit": 0,
                        },
                        "Stores": [],
                    }
                ],
            },
        )

    def fba_json(self, seller_id: str | None = None) -> list[dict]:
        with self.lock:
            return [
                {
                    "seller_id": s.seller_id,
                    "sku": s.sku,
                    "marketplace_id": s.marketplace_id,
                    "fn_sku": s.fn_sku,
                    "total": s.total,
                    **s.buckets,
                }
                for s in self.fba.values()
                if seller_id in (None, s.seller_id)
            ]
