"""Re-seal every channel's stored credentials (and every fulfilment partner's secret) under
the first credentials key.

Run after adding a new key in front of CREDENTIALS_KEYS, or after changing SECRET_KEY with the
old one in SECRET_KEY_FALLBACKS; then the old key can go (README, "Rotating keys").
"""

from cryptography.fernet import Fernet
from django.core.management.base import BaseCommand, CommandError

from access import audit
from access.models import AuditEntry
from channels.models import Channel, FulfilmentPartner
from inventory_sync.lib import secrets


class Command(BaseCommand):
    help = (
        "Re-encrypt every channel's credentials and fulfilment partner's secret with the first "
        "key (CREDENTIALS_KEYS)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--generate-key",
            action="store_true",
            help="Print a new random key for CREDENTIALS_KEYS and change nothing.",
        )

    def handle(self, *args, generate_key: bool, **options):
        if generate_key:
            self.stdout.write(Fernet.generate_key().decode())
            return
        report = secrets.reseal_rows(Channel.objects.all(), "credentials_sealed")
        partners = secrets.reseal_rows(FulfilmentPartner.objects.all(), "secret_sealed")
        # Which key seals the credentials is no secret; the trail says when it changed.
        audit.record(
            None,
            "channel.rotate_credentials",
            target_type="channels.channel",
            after={"resealed": report.resealed, "unreadable": len(report.unreadable)},
            via=AuditEntry.Via.COMMAND,
        )
        audit.record(
            None,
            "fulfilmentpartner.rotate_secret",
            target_type="channels.fulfilmentpartner",
            after={"resealed": partners.resealed, "unreadable": len(partners.unreadable)},
            via=AuditEntry.Via.COMMAND,
        )
        self.stdout.write(
            f"{report.resealed} channel(s) re-sealed under the first key, "
            f"{report.current} already under it, {len(report.unreadable)} unreadable; "
            f"fulfilment partner secrets: {partners.resealed} re-sealed, "
            f"{partners.current} already, {len(partners.unreadable)} unreadable."
        )
        unreadable = []
        if report.unreadable:
            codes = Channel.objects.filter(pk__in=report.unreadable).values_list("code", flat=True)
            unreadable.append(f"channel(s) {', '.join(sorted(codes))}")
        if partners.unreadable:
            names = FulfilmentPartner.objects.filter(pk__in=partners.unreadable).values_list(
                "name", flat=True
            )
            unreadable.append(f"fulfilment partner(s) {', '.join(sorted(names))}")
        if unreadable:
            raise CommandError(
                f"Unreadable credentials on {' and '.join(unreadable)}: {secrets.UNREADABLE}"
            )
