"""The only place that maps a channel kind to its lane. A new kind: a package beside these and
one line in LANES."""

from __future__ import annotations

from django.urls import URLPattern

from channels.models import Channel

from .amazon.lane import AmazonLane
from .base import CredentialField, Lane, PeriodicJob
from .shopify.lane import ShopifyLane

LANES: dict[str, type[Lane]] = {
    Channel.Kind.SHOPIFY: ShopifyLane,
    Channel.Kind.AMAZON: AmazonLane,
}

# One instance per kind for the protocol's class-level answers (handlers, jobs, URLs).
_shared: dict[str, Lane] = {}


class NoLane(Lane):
    """A kind with no lane yet (POS, EDI): every capability says "not here"."""


def lane_for_kind(kind: str) -> Lane:
    lane = _shared.get(kind)
    if lane is None:
        lane = _shared[kind] = LANES.get(kind, NoLane)()
    return lane


def lane_for(channel: Channel, **options) -> Lane:
    """The lane for a channel's kind; options go to its client (tests, benchmarks)."""
    if channel.kind not in LANES:
        raise NotImplementedError(f"no lane for channel kind {str(channel.kind)!r} yet")
    # A new one each time: a lane reads its settings (read-back interval, deadline) when made.
    return LANES[channel.kind](**options)


def lanes() -> list[Lane]:
    return [lane_for_kind(kind) for kind in LANES]


def kinds_polling_orders() -> list[str]:
    return [lane.kind for lane in lanes() if lane.orders_poll_seconds is not None]


def superseding_topics() -> set[str]:
    """Topics where only the newest event of a key matters, in any lane."""
    return {topic for lane in lanes() for topic in lane.supersede_keys}


def claim_topics() -> dict[str, set[str]]:
    """Per channel kind, the topics its lane applies in shared claims (claim_keys)."""
    return {lane.kind: set(lane.claim_keys) for lane in lanes() if lane.claim_keys}


def periodic_jobs() -> list[PeriodicJob]:
    return [job for lane in lanes() for job in lane.periodic_jobs]


def webhook_urlpatterns() -> list[URLPattern]:
    return [pattern for lane in lanes() for pattern in lane.webhook_urls()]


def credential_fields() -> list[CredentialField]:
    return [field for lane in lanes() for field in lane.credential_fields()]
