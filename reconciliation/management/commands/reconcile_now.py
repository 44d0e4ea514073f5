"""Read every channel back now, wait out the grace window, record and resolve drift."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from channels.models import Channel
from ledger.models import Sku
from reconciliation.services import reconcile


class Command(BaseCommand):
    help = (
        "Reconcile now: read each listing's level back from its channel, record drift "
        "(after the grace window for orders on their way), resync small drift and halt large."
    )

    def add_arguments(self, parser):
        parser.add_argument("--channel", help="Only this channel (its code).")
        parser.add_argument(
            "--sku", action="append", default=[], help="Only this SKU code (repeatable)."
        )
        parser.add_argument("--tier", default="", help="Only SKUs of this velocity tier (hero…).")

    def handle(self, *args, **options):
        channel = None
        if options["channel"]:
            channel = Channel.objects.filter(code=options["channel"]).first()
            if channel is None:
                known = ", ".join(Channel.objects.values_list("code", flat=True)) or "none"
                raise CommandError(f"No channel {options['channel']!r} (known: {known}).")
            if channel.mode != Channel.Mode.LIVE:
                raise CommandError(f"Channel {channel.code} is {channel.mode}: only live ones are read.")  # fmt: skip
        codes = options["sku"]
        if codes:
            missing = sorted(set(codes) - set(Sku.objects.filter(code__in=codes).values_list("code", flat=True)))  # fmt: skip
            if missing:
                raise CommandError(f"Unknown SKU(s): {', '.join(missing)}.")
        run = reconcile(
            channel=channel,
            sku_codes=codes,
            velocity_tier=options["tier"],
            requested_by="reconcile_now",
            progress=lambda line: self.stdout.write(line),
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Run {run.pk}: {run.listings_checked} listing(s) checked, {run.drifted} drifted, "
                f"{run.resynced} resynced, {run.halted} halted; {run.api_calls} API call(s), "
                f"{(run.duration_ms or 0) / 1000:.1f} s."
            )
        )
        for code, summary in sorted(run.channels.items()):
            if summary.get("error"):
                self.stderr.write(f"{code}: {summary['error']}")
        if any(summary.get("error") for summary in run.channels.values()):
            raise CommandError("Some channels could not be read (above).")
