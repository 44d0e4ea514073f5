"""The mapping import as a management command, shared by `import_mapping CHANNEL` (any kind,
through the registry) and the per-kind names each lane keeps (`import_shopify_mapping`,
`import_amazon_mapping`), which name their own lane."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from channels.models import Channel

from .base import ChannelError, CredentialsError, Lane


class MappingImportCommand(BaseCommand):
    help = (
        "Read the channel's offers (Shopify variants, Amazon seller listings) and create a "
        "listing for each that names exactly one of our SKUs. Lists what could not be matched."
    )
    lane: type[Lane] | None = None  # a per-kind command refuses channels of another kind

    def lane_for(self, channel: Channel) -> Lane:
        if self.lane is None or channel.kind != self.lane.kind:
            kind = self.lane.kind if self.lane else "?"
            raise CommandError(f"Channel {channel.code!r} is {channel.kind}, not {kind}.")
        return self.lane()

    def add_arguments(self, parser):
        parser.add_argument("channel", help="channel code")

    def handle(self, *args, channel: str, verbosity: int = 1, **options):
        found = Channel.objects.filter(code=channel).first()
        if found is None:
            raise CommandError(f"No channel {channel!r}.")
        lane = self.lane_for(found)

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
