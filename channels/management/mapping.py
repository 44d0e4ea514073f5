"""The mapping import as a management command: `import_mapping CHANNEL` for any kind, and the
per-kind names the lanes keep (`import_shopify_mapping`, `import_amazon_mapping`)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from channels.lanes.base import ChannelError, CredentialsError
from channels.lanes.registry import lane_for_kind
from channels.models import Channel


class MappingImportCommand(BaseCommand):
    help = (
        "Read the channel's offers (Shopify variants, Amazon seller listings) and create a "
        "listing for each that names exactly one of our SKUs. Lists what could not be matched."
    )
    kind: str | None = None  # a per-kind command refuses channels of another kind

    def add_arguments(self, parser):
        parser.add_argument("channel", help="channel code")

    def handle(self, *args, channel: str, verbosity: int = 1, **options):
        found = Channel.objects.filter(code=channel).first()
        if found is None:
            raise CommandError(f"No channel {channel!r}.")
        if self.kind is not None and found.kind != self.kind:
            raise CommandError(f"Channel {channel!r} is {found.kind}, not {self.kind}.")
        lane = lane_for_kind(found.kind)

        def progress(count, item):
            if count % 250 == 0:
                self.stderr.write(f"… {count} offers read")

        try:
            report = lane.import_mapping(found, progress=progress)
        except NotImplementedError as error:
            raise CommandError(str(error)) from error
        except CredentialsError as error:
            raise CommandError(str(error)) from error
        except ChannelError as error:
            raise CommandError(f"{lane.label} refused or failed: {error}") from error
        self.stdout.write(report.summary())
        if verbosity > 1:
            for created in report.created:
                self.stdout.write(f"  created: {created}")
        for corrected in report.corrected:
            self.stdout.write(f"  fulfilment set to the channel's: {corrected}")
        for label, rows in (("unmatched", report.unmatched), ("ambiguous", report.ambiguous)):
            for row in rows:
                self.stdout.write(f"  {label}: {lane.describe_unmapped(row)}")
