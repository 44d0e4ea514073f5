"""The Shopify mapping import: a listing per variant whose SKU (or barcode) names exactly one
of our SKUs."""

from __future__ import annotations

from allocation.services import skus_mark_dirty
from channels import inbox
from channels.lanes.base import MappingConflict, MappingReport
from channels.models import Channel, Listing
from ledger.models import Sku

from .api import client_for


def import_mapping(channel: Channel, *, progress=None) -> MappingReport:
    """Read every variant of the shop and create a listing for each one whose SKU (or, failing
    that, barcode) names exactly one canonical SKU. Unmatched and ambiguous variants are
    reported for a person to resolve; existing listings are left as they are.

    Afterwards quarantined orders of the channel are retried (a new mapping may explain them)
    and the mapped SKUs are recomputed, so their listings get a desired quantity.
    """
    report = MappingReport()
    mapped = set(Listing.objects.filter(channel=channel).values_list("external_id", flat=True))
    new_sku_ids: list[int] = []
    for count, variant in enumerate(client_for(channel).iter_variants(), start=1):
        if progress is not None:
            progress(count, variant)
        if variant.variant_gid in mapped:
            report.already_mapped += 1
            continue
        candidates = list(Sku.objects.filter(code=variant.sku)) if variant.sku else []
        if not candidates and variant.barcode:
            candidates = list(Sku.objects.filter(barcode=variant.barcode))
        described = {
            "variant": variant.variant_gid,
            "sku": variant.sku,
            "barcode": variant.barcode,
            "title": variant.title,
        }
        if not candidates:
            report.unmatched.append(described)
            continue
        if len(candidates) > 1:
            report.ambiguous.append(described)
            continue
        Listing.objects.create(
            channel=channel,
            sku=candidates[0],
            external_id=variant.variant_gid,
            shopify_inventory_item_id=variant.inventory_item_gid or "",
            shopify_location_id=channel.external_location_id,
        )
        mapped.add(variant.variant_gid)
        new_sku_ids.append(candidates[0].pk)
        report.created.append(variant.variant_gid)
    if new_sku_ids:
        skus_mark_dirty(sku_ids=new_sku_ids)
        inbox.retry_quarantined(channel=channel)
    return report


def map_listing(channel: Channel, variant_gid: str, channel_sku: str, sku: Sku) -> Listing:
    """A listing of `sku` for one variant an order named: its inventory item is read from the
    shop (searched by the variant's SKU, or by the SKU alone when the order line named no
    variant), so levels can be set at once."""
    found = (
        client_for(channel).variants_by_sku([channel_sku]).get(channel_sku, [])
        if channel_sku
        else []
    )
    matching = [v for v in found if not variant_gid or v.variant_gid == variant_gid]
    if len(matching) != 1:
        raise MappingConflict(
            f"{channel.code}: the shop has {len(matching)} variant(s) {variant_gid or ''} with "
            f"SKU {channel_sku!r}; give the variant its SKU in Shopify and run the mapping "
            "import, or map it in the admin."
        )
    variant = matching[0]
    return Listing.objects.create(
        channel=channel,
        sku=sku,
        external_id=variant.variant_gid,
        shopify_inventory_item_id=variant.inventory_item_gid or "",
        shopify_location_id=channel.external_location_id,
    )
