"""Create listings from a channel's offers, matched to our SKUs (any channel kind)."""

from channels.management.mapping import MappingImportCommand as Command

__all__ = ["Command"]
