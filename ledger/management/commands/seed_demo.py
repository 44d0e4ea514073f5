from django.core.management.base import BaseCommand

from ledger.demo_catalog import demo_catalog_seed
from ledger.models import Location, Sku


class Command(BaseCommand):
    help = "Create the demo catalog (SKUs over 3 locations with opening balances). Safe to rerun."

    def handle(self, *args, **options):
        outcome = demo_catalog_seed()
        self.stdout.write(
            f"Demo catalog: {Sku.objects.count()} SKUs, {Location.objects.count()} locations; "
            f"{outcome.recorded} opening balance(s) recorded, {outcome.duplicates} already there."
        )
