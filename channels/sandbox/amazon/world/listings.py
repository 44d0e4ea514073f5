"""Listings: creating them, reading them, and the merchant quantity a buyer can take."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from channels.sandbox.amazon.clock import iso
from channels.sandbox.common.errors import NotFound, SandboxError

from .base import WorldBase
from .records import MFN_CHANNEL, Listing, is_afn


class ListingsMixin(WorldBase):
    def add_listing(
        self,
        sku: str,
        *,
        seller_id: str | None = None,
        marketplace_id: str | None = None,
        channel: str = MFN_CHANNEL,
        quantity: int | None = None,
        asin: str | None = None,
        product_type: str = "PRODUCT",
        title: str | None = None,
        price: str | Decimal | None = None,
        fba: dict[str, int] | None = None,
        lead_time_to_ship_max_days: int | None = None,
    ) -> dict:
        """A complete, buyable listing. `channel` is "DEFAULT" (MFN, `quantity` merchant units)
        or an AFN code ("AMAZON_NA", "AMAZON_EU", ...; "AFN" picks the marketplace's code), whose
        stock is FBA buckets (`fba={"fulfillable": 20, ...}`)."""
        with self.lock:
            seller = self.seller(seller_id)
            marketplace_id = marketplace_id or seller.marketplace_ids[0]
            info = self._marketplace(marketplace_id)
            if channel.upper() in ("AFN", "FBA", "AMAZON"):
                channel = info[4]
            channel = channel.upper()
            now = self.now()
            listing = Listing(
                seller_id=seller.seller_id,
                sku=sku,
                marketplace_id=marketplace_id,
                asin=asin or self._asin(sku),
                product_type=product_type,
                item_name=title or f"Sandbox item {sku}",
                fulfillment_channel_code=channel,
                quantity=None if is_afn(channel) else int(quantity or 0),
                price=Decimal(str(price or self.config.currency_default_price)),
                created=now,
                updated=now,
                fn_sku=self._fn_sku(sku) if is_afn(channel) else None,
                lead_time_to_ship_max_days=lead_time_to_ship_max_days,
            )
            self.listings[listing.key] = listing
            if listing.afn or fba:
                stock = self._fba_stock(listing)
                for bucket, value in (fba or {}).items():
                    self._check_bucket(bucket)
                    stock.buckets[bucket] = int(value)
                if not fba and quantity:
                    stock.buckets["fulfillable"] = int(quantity)
            return self.listing_json(listing)

    def find_listing(
        self, sku: str, *, seller_id: str | None = None, marketplace_id: str | None = None
    ) -> Listing:
        seller = self.seller(seller_id)
        if marketplace_id is None:
            for key, listing in self.listings.items():
                if key[0] == seller.seller_id and key[1] == sku:
                    return listing
            raise NotFound(f"no listing {sku!r} for seller {seller.seller_id}")
        listing = self.listings.get((seller.seller_id, sku, marketplace_id))
        if listing is None:
            raise NotFound(f"no listing {sku!r} in {marketplace_id} for seller {seller.seller_id}")
        return listing

    def listing(self, sku: str, **where: Any) -> dict:
        with self.lock:
            return self.listing_json(self.find_listing(sku, **where))

    def listing_json(self, listing: Listing) -> dict:
        stock = self.fba.get(listing.key)
        return {
            "seller_id": listing.seller_id,
            "sku": listing.sku,
            "marketplace_id": listing.marketplace_id,
            "asin": listing.asin,
            "fn_sku": listing.fn_sku,
            "product_type": listing.product_type,
            "item_name": listing.item_name,
            "fulfillment_channel_code": listing.fulfillment_channel_code,
            "afn": listing.afn,
            "quantity": listing.quantity,
            "buyable": self.buyable_quantity(listing),
            "price": str(listing.price) if listing.price is not None else None,
            "lead_time_to_ship_max_days": listing.lead_time_to_ship_max_days,
            "converted_from": listing.converted_from,
            "incomplete": listing.incomplete,
            "fba": dict(stock.buckets) if stock else None,
            "updated": iso(listing.updated),
        }

    def listings_json(self, seller_id: str | None = None) -> list[dict]:
        with self.lock:
            return [
                self.listing_json(listing)
                for listing in self.listings.values()
                if seller_id in (None, listing.seller_id)
            ]

    def buyable_quantity(self, listing: Listing) -> int:
        if listing.incomplete or listing.asin is None:
            return 0
        if listing.afn:
            stock = self.fba.get(listing.key)
            return stock["fulfillable"] if stock else 0
        return listing.quantity or 0

    def set_mfn_quantity(
        self,
        sku: str,
        quantity: int,
        *,
        seller_id: str | None = None,
        marketplace_id: str | None = None,
    ) -> dict:
        """A seller editing the quantity in Seller Central (not through the API): drift."""
        with self.lock:
            listing = self.find_listing(sku, seller_id=seller_id, marketplace_id=marketplace_id)
            if listing.afn:
                raise SandboxError(f"{sku!r} is fulfilled by Amazon; use set_fba")
            self._set_listing_quantity(listing, int(quantity))
            return self.listing_json(listing)

    def _set_listing_quantity(self, listing: Listing, quantity: int) -> None:
        before = listing.quantity
        listing.quantity = quantity
        listing.updated = self.now()
        if before != quantity:
            self._publish(
                "LISTINGS_ITEM_MFN_QUANTITY_CHANGE",
                {
                    "SellerId": listing.seller_id,
                    "FulfillmentChannelCode": MFN_CHANNEL,
                    "Sku": listing.sku,
                    "Quantity": quantity,
                },
            )

    def _set_late_issues(
        self, seller_id: str, sku: str, marketplace_ids: list[str], issues: list[dict]
    ) -> None:
        for marketplace_id in marketplace_ids:
            listing = self.listings.get((seller_id, sku, marketplace_id))
            if listing is not None and listing.late_issues != issues:
                listing.late_issues = list(issues)
                listing.updated = self.now()

    def _convert_to_mfn(self, listing: Listing) -> None:
        # https://developer-docs.amazon.com/sp-api/changelog/clarification-on-how-to-use-the-inventory-feed-type-quantity-attribute
        # A merchant quantity on an FBA offer switches it to merchant-fulfilled; the units at
        # the fulfilment centre can no longer be sold (stranded inventory).
        self.channel_switches.append(
            {
                "seller_id": listing.seller_id,
                "sku": listing.sku,
                "marketplace_id": listing.marketplace_id,
                "from": listing.fulfillment_channel_code,
                "to": MFN_CHANNEL,
                "at": iso(self.now()),
            }
        )
        listing.converted_from = listing.fulfillment_channel_code
        listing.fulfillment_channel_code = MFN_CHANNEL
        listing.quantity = 0
