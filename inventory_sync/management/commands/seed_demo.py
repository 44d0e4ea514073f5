from django.core.management.base import BaseCommand

from allocation.velocity import velocity_recompute
from channels.demo import demo_channels_seed
from channels.planner import plan_dirty_skus
from ledger.demo_catalog import demo_catalog_seed, demo_sales_history_seed
from ledger.models import Location, Sku


class Command(BaseCommand):
    help = (
        "Create the demo catalog (SKUs over 3 locations with opening balances) and the demo "
        "channels with a listing per SKU, then plan their quantities. Safe to rerun."
    )

    def handle(self, *args, **options):
        outcome = demo_catalog_seed()
        self.stdout.write(
            # Our own locations; the channels' FBA pools are Amazon's.
            f"Demo catalog: {Sku.objects.count()} SKUs, "
            f"{Location.objects.exclude(kind=Location.Kind.FBA).count()} locations; "
            f"{outcome.recorded} opening balance(s) recorded, {outcome.duplicates} already there."
        )
        history = demo_sales_history_seed()
        tiers = velocity_recompute()
        self.stdout.write(
            f"Demo sales history: {history.recorded} event(s) over the last month; "
            f"{tiers.tiers_changed} velocity tier(s) set from it."
        )
        listings = demo_channels_seed()
        planned = 0
        while (step := plan_dirty_skus()).skus:
            planned += step.skus
        self.stdout.write(
            f"Demo channels: {listings} listing(s) created; {planned} SKU(s) planned."
        )
