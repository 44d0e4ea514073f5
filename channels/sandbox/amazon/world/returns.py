"""Returns: FBA customer returns landing in their buckets, and buyers' return requests on
shipped merchant-fulfilled orders (the flat-file returns report's rows)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from string import ascii_letters
from typing import Any

from channels.sandbox.amazon.clock import iso
from channels.sandbox.common.errors import NotFound, SandboxError

from .base import WorldBase
from .records import (
    RETURN_BUCKET,
    RETURN_DISPOSITIONS,
    MerchantReturn,
    Order,
    OrderItem,
    ReturnRow,
)

# The buyer's reason as the flat-file returns report spells it (Amazon's return reason codes).
DEFAULT_RETURN_REASON = "CR-UNWANTED_ITEM"
RETURN_ITEM_FIELDS = frozenset({"order_item_id", "seller_sku", "quantity", "reason"})


class NotReturnable(SandboxError):
    """A return the buyer cannot ask for: the order is Amazon's to handle, or the units were
    not shipped (or are back already)."""

    status = 409
    code = "not_returnable"


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

    def return_merchant_order(
        self,
        order_id: str,
        items: list[dict],
        *,
        returned_at: datetime | None = None,
        status: str = "Approved",
        resolution: str = "StandardRefund",
    ) -> dict:
        """A buyer asks to return shipped units of a merchant-fulfilled (MFN) order: one return
        request (one Amazon RMA ID, Amazon's prepaid label) with a row per item in the
        GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE report. `items`: [{"order_item_id" or
        "seller_sku", "quantity", "reason"?}].

        Refused with nothing recorded: an unknown order or item (NotFound, 404), an order
        Amazon fulfils (its returns go back to an FBA centre: `add_return`), an order with
        nothing shipped, more units than were shipped and not yet returned (NotReturnable,
        409), a malformed item or a return dated before the shipment (SandboxError, 400)."""
        with self.lock:
            order = self._order(order_id)
            if order.afn:
                raise NotReturnable(
                    f"order {order_id} is fulfilled by Amazon: its returns go back to an FBA "
                    "fulfilment centre (POST /_sandbox/returns)",
                    order_id=order_id,
                )
            if not any(item.shipped for item in order.items):
                raise NotReturnable(
                    f"order {order_id} is {order.status}: nothing was shipped to return",
                    order_id=order_id,
                )
            lines = _requested_lines(order, items)
            self._check_returnable(order, lines)
            when = returned_at or self.now()
            shipped_at = min(package.ship_time for package in order.packages)
            if when < shipped_at:
                raise SandboxError(
                    f"returned_at {iso(when)} is before order {order_id} shipped "
                    f"({iso(shipped_at)})"
                )
            request = {
                "rma_id": self._rma_id(),
                "request_date": when,
                "status": status,
                "resolution": resolution,
                **self._return_label(),
            }
            entries = [
                self._merchant_return_row(order, item, quantity, reason, **request)
                for item, quantity, reason in lines
            ]
            self.merchant_returns.extend(entries)
            return _request_json(entries)

    def add_merchant_return(
        self,
        order_id: str,
        sku: str,
        quantity: int = 1,
        *,
        reason: str = DEFAULT_RETURN_REASON,
        status: str = "Approved",
        resolution: str = "StandardRefund",
        request_date: datetime | None = None,
    ) -> dict:
        """One seller SKU of a shipped MFN order back (see `return_merchant_order`)."""
        request = self.return_merchant_order(
            order_id,
            [{"seller_sku": sku, "quantity": int(quantity), "reason": reason}],
            returned_at=request_date,
            status=status,
            resolution=resolution,
        )
        return {**request, "sku": sku}

    def returnable_items(
        self, seller_id: str | None = None, marketplace_id: str | None = None
    ) -> list[tuple[str, str]]:
        """(order id, order item id) of every merchant-fulfilled item with shipped units not
        yet returned, oldest order first."""
        with self.lock:
            seller = self.seller(seller_id)
            returned = self._returned_units()
            return [
                (order.order_id, item.order_item_id)
                for order in self.orders.values()
                if order.seller_id == seller.seller_id
                and not order.afn
                and marketplace_id in (None, order.marketplace_id)
                for item in order.items
                if item.shipped > returned.get((order.order_id, item.order_item_id), 0)
            ]

    def merchant_returns_json(self, order_id: str | None = None) -> list[dict]:
        """The merchant return requests (of one order), each with its items."""
        with self.lock:
            requests: dict[str, list[MerchantReturn]] = {}
            for entry in self.merchant_returns:
                if order_id in (None, entry.order_id):
                    requests.setdefault(entry.rma_id, []).append(entry)
            return [_request_json(entries) for entries in requests.values()]

    def _check_returnable(self, order: Order, lines: list[tuple[OrderItem, int, str]]) -> None:
        asked: dict[str, int] = {}
        for item, quantity, _ in lines:
            asked[item.order_item_id] = asked.get(item.order_item_id, 0) + quantity
        returned = self._returned_units()
        for item in order.items:
            wanted = asked.get(item.order_item_id, 0)
            already = returned.get((order.order_id, item.order_item_id), 0)
            if wanted > item.shipped - already:
                raise NotReturnable(
                    f"{wanted} unit(s) of order item {item.order_item_id} ({item.sku}) cannot "
                    f"be returned: {item.shipped} shipped, {already} already returned",
                    order_id=order.order_id,
                    order_item_id=item.order_item_id,
                    shipped=item.shipped,
                    returned=already,
                )

    def _returned_units(self) -> dict[tuple[str, str], int]:
        units: dict[tuple[str, str], int] = {}
        for entry in self.merchant_returns:
            key = (entry.order_id, entry.order_item_id)
            units[key] = units.get(key, 0) + entry.quantity
        return units

    def _merchant_return_row(
        self,
        order: Order,
        item: OrderItem,
        quantity: int,
        reason: str,
        **request: Any,
    ) -> MerchantReturn:
        return MerchantReturn(
            seller_id=order.seller_id,
            marketplace_id=order.marketplace_id,
            order_id=order.order_id,
            order_item_id=item.order_item_id,
            order_date=order.created,
            asin=item.asin,
            sku=item.sku,
            item_name=item.title,
            quantity=quantity,
            reason=reason,
            order_quantity=item.quantity,
            order_amount=item.unit_price * item.quantity,
            currency=order.currency,
            **request,
        )

    def _return_label(self) -> dict:
        """The prepaid label of one request (all its items travel in one parcel)."""
        carrier = self.rng.choice(("USPS", "UPS"))
        tracking = (
            f"92020903{self.rng.randrange(10**14):014d}"
            if carrier == "USPS"
            else f"1Z{self.rng.randrange(16**6):06X}03{self.rng.randrange(10**8):08d}"
        )
        return {
            "carrier": carrier,
            "tracking_id": tracking,
            "label_cost": Decimal(self.rng.randrange(350, 1000)) / 100,
        }

    def _rma_id(self) -> str:
        """Like Amazon's ("DfqRyqfBRRMA"): D, eight letters, RMA. The counter part keeps ids
        apart across resets (the app under test dedupes on them), the seeded part across
        runs."""
        n = self._number()
        counter = ""
        for _ in range(4):
            n, digit = divmod(n, len(ascii_letters))
            counter += ascii_letters[digit]
        seeded = "".join(self.rng.choice(ascii_letters) for _ in range(4))
        return f"D{counter}{seeded}RMA"

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


def _requested_lines(order: Order, items: object) -> list[tuple[OrderItem, int, str]]:
    """(order item, quantity, reason) of each requested item, or why the request is malformed."""
    if not isinstance(items, list) or not items:
        raise SandboxError(
            'items must be a non-empty list of {"order_item_id" or "seller_sku", "quantity", '
            '"reason"?}'
        )
    lines = []
    for entry in items:
        if not isinstance(entry, dict):
            raise SandboxError("each item must be a JSON object")
        unknown = set(entry) - RETURN_ITEM_FIELDS
        if unknown:
            raise SandboxError(f"unknown item fields: {sorted(unknown)}")
        item = _order_item(order, entry.get("order_item_id"), entry.get("seller_sku"))
        quantity = entry.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise SandboxError(
                f"quantity must be a positive whole number (order item {item.order_item_id})"
            )
        reason = entry.get("reason", DEFAULT_RETURN_REASON)
        if not isinstance(reason, str) or not reason.strip():
            raise SandboxError("reason must be a return reason code such as CR-DEFECTIVE")
        lines.append((item, quantity, reason.strip()))
    return lines


def _order_item(order: Order, order_item_id: object, seller_sku: object) -> OrderItem:
    if order_item_id is None and seller_sku is None:
        raise SandboxError("name each item by order_item_id or seller_sku")
    matches = [
        item
        for item in order.items
        if order_item_id in (None, item.order_item_id) and seller_sku in (None, item.sku)
    ]
    if not matches:
        named = order_item_id if order_item_id is not None else seller_sku
        raise NotFound(f"order {order.order_id} has no item {named!r}")
    if len(matches) > 1:
        raise SandboxError(
            f"order {order.order_id} has {len(matches)} items of seller SKU {seller_sku!r}: "
            "name the order_item_id"
        )
    return matches[0]


def _request_json(entries: list[MerchantReturn]) -> dict:
    first = entries[0]
    return {
        "rma_id": first.rma_id,
        "order_id": first.order_id,
        "returned_at": iso(first.request_date),
        "status": first.status,
        "resolution": first.resolution,
        "items": [
            {
                "order_item_id": entry.order_item_id,
                "seller_sku": entry.sku,
                "asin": entry.asin,
                "quantity": entry.quantity,
                "reason": entry.reason,
            }
            for entry in entries
        ],
    }
