"""Create listings from an Amazon seller's listings, matched to our SKUs by seller SKU."""

from django.core.management.base import BaseCommand, CommandError

from channels.adapters.amazon import AmazonCredentialsError, AmazonError
from channels.adapters.amazon_lane import import_mapping
from channels.models import Channel


class Command(BaseCommand):
    help = (
        "Read every listing of an Amazon channel's seller in its marketplace (Listings Items "
        "API) and create a listing for each whose seller SKU is one of our SKU codes, with its "
        "ASIN, product type and fulfilment (MFN or FBA). Lists what could not be matched."
    )

    def add_arguments(self, parser):
        parser.add_argument("channel", help="channel code")

    def handle(self, *args, channel: str, verbosity: int = 1, **options):
        found = Channel.objects.filter(code=channel).first()
        if found is None:
            raise CommandError(f"No channel {channel!r}.")
        if found.kind != Channel.Kind.AMAZON:
            raise CommandError(f"Channel {channel!r} is {found.kind}, not amazon.")

        def progress(count, item):
            if count % 250 == 0:
                self.stderr.write(f"… {count} listings read")

        try:
            report = import_mapping(found, progress=progress)
        except AmazonCredentialsError as error:
            raise CommandError(str(error)) from error
        except AmazonError as error:
            raise CommandError(f"Amazon refused or failed: {error}") from error
        self.stdout.write(
            f"{len(report.created)} listing(s) created, {report.already_mapped} already mapped, "
            f"{len(report.unmatched)} unmatched."
        )
        if verbosity > 1:
            for seller_sku in report.created:
                self.stdout.write(f"  created: {seller_sku}")
        for seller_sku in report.corrected:
            self.stdout.write(f"  fulfilment set to Amazon's: {seller_sku}")
        for row in report.unmatched:
            self.stdout.write(
                f"  unmatched: seller SKU {row['seller_sku']!r}  asin={row['asin']!r}"
            )
