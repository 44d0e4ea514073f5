"""Returns: FBA customer returns landing in their buckets, and merchant return requests."""

from __future__ import annotations

from datetime import datetime

from channels.sandbox.amazon.clock import iso
from channels.sandbox.common.errors import NotFound, SandboxError

from .base import WorldBase
from .records import RETURN_BUCKET, RETURN_DISPOSITIONS, MerchantReturn, ReturnRow


class ReturnsMixin(WorldBase):
    def add_return(
        self,
        sku: str,
        quantity: int = 1,
        *,
        disposition: str = "SELLABLE",
        reason: str = "UNWANTED_ITEM",
        order_id: str | None = None,
        status: str | None = None,
        return_date: datetime | None = None,
        license_plate_number: str | None = None,
        fulfillment_center_id: str = "PHX7",
        customer_comments: str = "",
        seller_id: str | None = None,
        marketplace_id: str | None = None,
        apply_to_inventory: bool = True,
    ) -> dict:
        """A customer return processed by an FBA fulfilment centre: a row of the
        GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA report and, unless told otherwise, the unit
        landing in its FBA bucket (SELLABLE -> fulfillable, damaged/defective/expired ->
        unfulfillable, CARRIER_DAMAGED/DAMAGED -> Amazon's, reimbursed)."""
        if disposition not in RETURN_DISPOSITIONS:
            raise SandboxError(f"disposition must be one of {RETURN_DISPOSITIONS}")
        with self.lock:
            listing = self.find_listing(sku, seller_id=seller_id, marketplace_id=marketplace_id)
            stock = self._fba_stock(listing)
            row = ReturnRow(
                seller_id=listing.seller_id,
                marketplace_id=listing.marketplace_id,
                return_date=return_date or self.now(),
                order_id=order_id or self._order_id(),
                sku=sku,
                asin=listing.asin,
                fn_sku=stock.fn_sku,
                product_name=listing.item_name or sku,
                quantity=int(quantity),
                fulfillment_center_id=fulfillment_center_id,
                disposition=disposition,
                reason=reason,
                status=status
                or (
                    "Reimbursed"
                    if RETURN_BUCKET[disposition] is None
                    else "Unit returned to inventory"
                ),
                license_plate_number=license_plate_number
                or f"LPNRR{self.rng.randrange(10**9):09d}",
                customer_comments=customer_comments,
            )
            self.returns.append(row)
            bucket = RETURN_BUCKET[disposition]
            if apply_to_inventory and bucket is not None:
                stock.buckets[bucket] += row.quantity
                self._fba_changed(stock)
            return _return_json(row)

    def add_merchant_return(
        self,
        order_id: str,
        sku: str,
        quantity: int = 1,
        *,
        reason: str = "NO_REASON_GIVEN",
        status: str = "Approved",
        resolution: str = "StandardRefund",
        request_date: datetime | None = None,
    ) -> dict:
        """A buyer asks to return units of a merchant-fulfilled order (the seller receives and
        grades them)."""
        with self.lock:
            order = self.orders.get(order_id)
            if order is None:
                raise NotFound(f"no order {order_id!r}")
            listing = self.find_listing(sku, seller_id=order.seller_id)
            entry = MerchantReturn(
                seller_id=order.seller_id,
                marketplace_id=order.marketplace_id,
                order_id=order_id,
                order_date=order.created,
                request_date=request_date or self.now(),
                status=status,
                rma_id=f"D{self._number():09d}",
                asin=listing.asin,
                sku=sku,
                item_name=listing.item_name,
                quantity=int(quantity),
                reason=reason,
                resolution=resolution,
            )
            self.merchant_returns.append(entry)
            return {"rma_id": entry.rma_id, "order_id": order_id, "sku": sku}

    def returns_json(self) -> list[dict]:
        with self.lock:
            return [_return_json(r) for r in self.returns]


def _return_json(row: ReturnRow) -> dict:
    return {
        "return-date": iso(row.return_date).replace("Z", "+00:00"),
        "order-id": row.order_id,
        "sku": row.sku,
        "asin": row.asin or "",
        "fnsku": row.fn_sku,
        "product-name": row.product_name,
        "quantity": row.quantity,
        "fulfillment-center-id": row.fulfillment_center_id,
        "detailed-disposition": row.disposition,
        "reason": row.reason,
        "status": row.status,
        "license-plate-number": row.license_plate_number,
        "customer-comments": row.customer_comments,
        "seller_id": row.seller_id,
        "marketplace_id": row.marketplace_id,
    }
