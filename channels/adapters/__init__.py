"""One lane per channel kind, one protocol (channels.push.Lane)."""

from __future__ import annotations


def lane_for(channel):
    """The lane for a channel's kind. Imported lazily: the clients stay plain modules."""
    if channel.kind == "shopify":
        from .shopify_lane import ShopifyLane

        return ShopifyLane()
    if channel.kind == "amazon":
        from .amazon_lane import AmazonLane

        return AmazonLane()
    raise NotImplementedError(f"no lane for channel kind {channel.kind!r} yet")
