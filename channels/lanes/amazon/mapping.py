"""The Amazon mapping import: a listing per seller SKU that names one of our SKUs, with its
ASIN, product type and fulfilment; and the hourly check that keeps mapped listings' fulfilment
in line with Amazon's."""

from __future__ import annotations

import logging

from allocation.services import skus_mark_dirty
from channels import inbox
from channels.lanes.base import MappingConflict, MappingReport
from channels.models import Channel, Listing
from ledger.models import Sku

from . import client as amazon
from .api import client_for
from .returns import retry_unmapped_returns

logger = logging.getLogger(__name__)


def import_mapping(channel: Channel, *, progress=None, create: bool = True) -> MappingReport:
    """Read the seller's listings in this marketplace and create a listing for each whose
    seller SKU names a canonical SKU, with its ASIN, product type and fulfilment (MFN or
    AFN). Unmatched seller SKUs are reported for a person to resolve. With `create=False`
    only the listings already mapped are brought in line with Amazon (`check_fulfilment`)."""
    report = MappingReport()
    mapped = {listing.external_id: listing for listing in Listing.objects.filter(channel=channel)}
    new_sku_ids: list[int] = []
    for count, item in enumerate(client_for(channel).search_listings(), start=1):
        if progress is not None:
            progress(count, item)
        summary = amazon.listing_summary(item, channel.marketplace)
        existing = mapped.get(summary.sku)
        if existing is not None:
            report.already_mapped += 1
            if _align(existing, summary):
                report.corrected.append(summary.sku)
                new_sku_ids.append(existing.sku_id)
            continue
        if not create:
            continue
        sku = Sku.objects.filter(code=summary.sku).first()
        if sku is None:
            report.unmatched.append({"seller_sku": summary.sku, "asin": summary.asin})
            continue
        Listing.objects.create(
            channel=channel,
            sku=sku,
            external_id=summary.sku,
            asin=summary.asin or "",
            amazon_product_type=summary.product_type or "",
            fulfilment=(
                Listing.Fulfilment.FBA
                if summary.fulfillment_channel == "AFN"
                else Listing.Fulfilment.MERCHANT
            ),
        )
        mapped[summary.sku] = Listing(external_id=summary.sku)
        new_sku_ids.append(sku.pk)
        report.created.append(summary.sku)
    if new_sku_ids:
        skus_mark_dirty(sku_ids=new_sku_ids)
        inbox.retry_quarantined(channel=channel)
        retry_unmapped_returns(channel)
    return report


def check_fulfilment(channel: Channel) -> list[str]:
    """Bring mapped listings' fulfilment (and ASIN, product type) in line with Amazon, creating
    none: an offer switched to FBA in Seller Central stops getting merchant quantities within
    one check. Returns the seller SKUs whose fulfilment changed."""
    corrected = import_mapping(channel, create=False).corrected
    for seller_sku in corrected:
        logger.warning(
            "channel %s: Amazon now says %s is fulfilled otherwise; the listing follows it",
            channel.code,
            seller_sku,
        )
    return corrected


def _align(listing: Listing, summary: amazon.ListingSummary, *, save: bool = True) -> bool:
    """Take Amazon's word for a mapped listing's fulfilment, ASIN and product type."""
    changed = []
    if summary.fulfillment_channel in ("AFN", "MFN"):
        fulfilment = (
            Listing.Fulfilment.FBA
            if summary.fulfillment_channel == "AFN"
            else Listing.Fulfilment.MERCHANT
        )
        if listing.fulfilment != fulfilment:
            listing.fulfilment = fulfilment
            changed.append("fulfilment")
    for name, value in (("asin", summary.asin), ("amazon_product_type", summary.product_type)):
        if value and getattr(listing, name) != value:
            setattr(listing, name, value)
            changed.append(name)
    if changed and save:
        listing.save(update_fields=changed)
    return "fulfilment" in changed


def map_listing(channel: Channel, variant: str, channel_sku: str, sku: Sku) -> Listing:
    """A listing of `sku` for the seller SKU an order named, with the ASIN, product type and
    fulfilment Amazon shows for it (a quantity patch names the product type)."""
    seller_sku = variant or channel_sku
    item = client_for(channel).get_listing(seller_sku)
    if item is None:
        raise MappingConflict(
            f"{channel.code}: Amazon has no listing with seller SKU {seller_sku!r} in this "
            "marketplace."
        )
    summary = amazon.listing_summary(item, channel.marketplace)
    listing = Listing(channel=channel, sku=sku, external_id=seller_sku)
    _align(listing, summary, save=False)
    listing.save()
    return listing
