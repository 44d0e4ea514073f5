"""Create listings from a channel's offers, matched to our SKUs (any channel kind)."""

from channels.lanes.base import Lane
from channels.lanes.commands import MappingImportCommand
from channels.lanes.registry import lane_for_kind
from channels.models import Channel


class Command(MappingImportCommand):
    def lane_for(self, channel: Channel) -> Lane:
        return lane_for_kind(channel.kind)
