"""Create listings from a Shopify channel's offers, matched to our SKUs."""

from channels.management.mapping import MappingImportCommand
from channels.models import Channel


class Command(MappingImportCommand):
    kind = Channel.Kind.SHOPIFY
