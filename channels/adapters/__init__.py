"""One lane per channel kind, one protocol (channels.push.Lane)."""

from __future__ import annotations

from channels.models import Channel


def lane_for(channel: Channel):
    if channel.kind == Channel.Kind.SHOPIFY:
        from .shopify_lane import ShopifyLane

        return ShopifyLane()
    raise NotImplementedError(f"no lane for channel kind {channel.kind!r} yet")
