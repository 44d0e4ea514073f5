from django.core.management.base import BaseCommand, CommandError

from ledger import selectors


class Command(BaseCommand):
    help = "Prove I2: every stored balance equals the sum of its ledger entries. Exits 1 on a mismatch."

    def handle(self, *args, **options):
        mismatches = selectors.ledger_mismatches()
        if not mismatches:
            self.stdout.write(
                self.style.SUCCESS("OK: every balance equals the sum of its entries.")
            )
            return
        self.stdout.write(
            f"{'SKU':<24} {'LOCATION':<16} {'BUCKET':<11} {'STORED':>10} {'ENTRIES':>10}"
        )
        for m in mismatches:
            stored = "missing" if m.stored is None else str(m.stored)
            self.stdout.write(
                f"{m.sku:<24} {m.location:<16} {m.bucket:<11} {stored:>10} {m.from_entries:>10}"
            )
        raise CommandError(
            f"{len(mismatches)} balance(s) differ from the sum of their entries.", returncode=1
        )
