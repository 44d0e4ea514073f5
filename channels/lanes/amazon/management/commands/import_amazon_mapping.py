"""Create listings from a Amazon channel's offers, matched to our SKUs."""

from channels.lanes.amazon.lane import AmazonLane
from channels.lanes.commands import MappingImportCommand


class Command(MappingImportCommand):
    lane = AmazonLane
