from django.core.management.base import BaseCommand, CommandError

from ledger import selectors
from ledger.checks import LedgerCheck, registered_checks


class Command(BaseCommand):
    help = (
        "Prove I2: every stored balance equals the sum of its ledger entries; and run the "
        "checks other apps register (each reserved bucket equals its active reservations). "
        "Exits 1 on a mismatch."
    )

    def handle(self, *args, **options):
        failures = []
        mismatches = selectors.ledger_mismatches()
        if mismatches:
            self._balance_table(mismatches)
            failures.append(f"{len(mismatches)} balance(s) differ from the sum of their entries")
        else:
            self.stdout.write(
                self.style.SUCCESS("OK: every balance equals the sum of its entries.")
            )
        for check in registered_checks():
            disagreements = check.find()
            if disagreements:
                self._check_table(check, disagreements)
                failures.append(f"{len(disagreements)} {check.fails}")
            else:
                self.stdout.write(self.style.SUCCESS(f"OK: {check.proves}."))
        if failures:
            raise CommandError("; ".join(failures) + ".", returncode=1)

    def _balance_table(self, mismatches):
        self.stdout.write(
            f"{'SKU':<24} {'LOCATION':<16} {'BUCKET':<11} {'STORED':>10} {'ENTRIES':>10}"
        )
        for m in mismatches:
            stored = "missing" if m.stored is None else str(m.stored)
            self.stdout.write(
                f"{m.sku:<24} {m.location:<16} {m.bucket:<11} {stored:>10} {m.from_entries:>10}"
            )

    def _check_table(self, check: LedgerCheck, disagreements):
        self.stdout.write(
            f"{'SKU':<24} {'LOCATION':<16} {check.ledger_column:>12} {check.records_column:>12}"
        )
        for d in disagreements:
            self.stdout.write(f"{d.sku:<24} {d.location:<16} {d.ledger:>12} {d.records:>12}")
