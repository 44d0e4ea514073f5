"""Create listings from a shop's variants, matched to our SKUs by SKU code or barcode."""

from django.core.management.base import BaseCommand, CommandError

from channels.adapters.shopify import ShopifyError
from channels.adapters.shopify_lane import import_mapping
from channels.models import Channel


class Command(BaseCommand):
    help = (
        "Read every variant of a Shopify channel's shop and create a listing for each one whose "
        "SKU (or barcode) names exactly one of our SKUs. Lists what could not be matched."
    )

    def add_arguments(self, parser):
        parser.add_argument("channel", help="channel code")

    def handle(self, *args, channel: str, **options):
        found = Channel.objects.filter(code=channel).first()
        if found is None:
            raise CommandError(f"No channel {channel!r}.")
        if found.kind != Channel.Kind.SHOPIFY:
            raise CommandError(f"Channel {channel!r} is {found.kind}, not shopify.")

        def progress(count, variant):
            if count % 250 == 0:
                self.stderr.write(f"… {count} variants read")

        try:
            report = import_mapping(found, progress=progress)
        except ShopifyError as error:
            raise CommandError(f"Shopify refused or failed: {error}") from error
        self.stdout.write(
            f"{len(report.created)} listing(s) created, {report.already_mapped} already mapped, "
            f"{len(report.unmatched)} unmatched, {len(report.ambiguous)} ambiguous."
        )
        for label, rows in (("unmatched", report.unmatched), ("ambiguous", report.ambiguous)):
            for row in rows:
                self.stdout.write(
                    f"  {label}: {row['variant']}  sku={row['sku']!r}  "
                    f"barcode={row['barcode']!r}  {row['title']}"
                )
