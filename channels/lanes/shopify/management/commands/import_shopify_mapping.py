"""Create listings from a Shopify channel's offers, matched to our SKUs."""

from channels.lanes.commands import MappingImportCommand
from channels.lanes.shopify.lane import ShopifyLane


class Command(MappingImportCommand):
    lane = ShopifyLane
