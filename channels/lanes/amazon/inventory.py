"""FBA stock as Amazon reports it, in one shape whichever way it came: an inventory summary
(FBA Inventory API, `details=true`) or an FBA_INVENTORY_AVAILABILITY_CHANGES notification.

Amazon is the authority for the units in its fulfilment centres, so each report becomes an
absolute snapshot of the pool's buckets (channels.lanes.amazon.fba). Its buckets map to ours so that what
the pool can sell is Amazon's fulfillable count:

- on_hand      = fulfillable + the centre's own holds + unfulfillable + the units our ingested
                 FBA orders commit (channels.lanes.amazon.fba);
- reserved     = the fulfilment centre's own holds (processing, transfers between centres);
- unsellable   = unfulfillable (customer damaged, defective, expired …);
- incoming     = inbound working + shipped + receiving: never sellable until received.

Amazon's reservation for pending customer orders is not used: those orders are ingested and
commit their units themselves, so available = fulfillable whichever arrives first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from channels.lanes.base import PayloadError

from .notifications import payload


@dataclass(frozen=True, slots=True)
class FbaStock:
    seller_sku: str
    fulfillable: int
    unfulfillable: int
    reserved_for_orders: int
    reserved_by_centre: int
    inbound: int

    @property
    def physical(self) -> int:
        """Every unit Amazon holds for us (inbound aside), its pending orders' included."""
        return (
            self.fulfillable
            + self.reserved_for_orders
            + self.reserved_by_centre
            + self.unfulfillable
        )


def from_notification(notification: Mapping, marketplace_ids: Iterable[str]) -> FbaStock:
    """An FBA_INVENTORY_AVAILABILITY_CHANGES snapshot of one SKU, for the first of
    `marketplace_ids` it lists (a region's marketplaces share one pool of stock)."""
    body = payload(notification)
    sku = body.get("SKU")
    by_marketplace = {
        entry.get("MarketplaceId"): entry.get("FulfillmentInventory") or {}
        for entry in body.get("FulfillmentInventoryByMarketplace") or ()
    }
    if not sku or not by_marketplace:
        raise PayloadError("FBA_INVENTORY_AVAILABILITY_CHANGES without SKU or inventory")
    inventory = next((by_marketplace[m] for m in marketplace_ids if m in by_marketplace), None)
    if inventory is None:
        inventory = next(iter(by_marketplace.values()))
    inbound = inventory.get("InboundQuantityBreakdown") or {}
    reserved = inventory.get("ReservedQuantityBreakdown") or {}
    for_orders = _int(reserved.get("PendingCustomerOrder"))
    return FbaStock(
        seller_sku=str(sku),
        fulfillable=_int(inventory.get("Fulfillable")),
        unfulfillable=_int(inventory.get("Unfulfillable")),
        reserved_for_orders=for_orders,
        reserved_by_centre=sum(_int(value) for value in reserved.values()) - for_orders,
        inbound=sum(_int(inbound.get(stage)) for stage in ("Working", "Shipped", "Receiving")),
    )


def from_summary(summary: Mapping) -> FbaStock:
    """One `inventorySummaries[]` entry of getInventorySummaries with `details=true`."""
    sku = summary.get("sellerSku")
    details = summary.get("inventoryDetails")
    if not sku or not isinstance(details, Mapping):
        raise PayloadError("inventory summary without sellerSku or inventoryDetails")
    reserved = details.get("reservedQuantity") or {}
    total_reserved = _int(reserved.get("totalReservedQuantity"))
    for_orders = _int(reserved.get("pendingCustomerOrderQuantity"))
    return FbaStock(
        seller_sku=str(sku),
        fulfillable=_int(details.get("fulfillableQuantity")),
        unfulfillable=_int(
            (details.get("unfulfillableQuantity") or {}).get("totalUnfulfillableQuantity")
        ),
        reserved_for_orders=for_orders,
        reserved_by_centre=max(total_reserved - for_orders, 0),
        inbound=sum(
            _int(details.get(name))
            for name in (
                "inboundWorkingQuantity",
                "inboundShippedQuantity",
                "inboundReceivingQuantity",
            )
        ),
    )


def _int(value: object) -> int:
    try:
        return max(int(value or 0), 0)
    except (TypeError, ValueError):
        return 0
