"""A real world for Amazon lane tests: an SP-API sandbox seller (and a Shopify sandbox shop)
over HTTP, our webhook endpoints on a live server, and a `settle()` that runs ingest, planner
and pushers in this process until nothing is left (no sleeps, no Celery).

The Amazon sandbox runs on a manual clock: each pass of `settle()` moves it one second, which
is what lets its queued work happen (an accepted patch applied, a feed processed, an AFN order
shipped) without the test waiting for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from channels import inbound, planner, push
from channels.lanes.amazon import api as amazon_api
from channels.lanes.amazon import client as amazon_client
from channels.lanes.amazon.lane import AmazonLane
from channels.lanes.amazon.mapping import import_mapping
from channels.lanes.shopify.lane import ShopifyLane
from channels.lanes.throttle import LocalThrottle
from channels.models import Channel, PushAttempt
from channels.sandbox.amazon import ManualClock
from channels.sandbox.amazon import serve_in_thread as serve_amazon
from tests.factories import LocationFactory, SkuFactory

from .shopify_world import CLIENT_OPTIONS as SHOPIFY_OPTIONS
from .shopify_world import Shop, World

NOTIFICATION_KEY = "amazon-notification-key"


class LocalBuckets:
    """The client's rate-limit buckets for one test: kept across clients like the shared ones
    in production, but never shared (through Redis) with a test running in parallel under the
    sandbox's same default seller id. Ten times Amazon's rates (the sandbox's own limits are
    off unless a test turns them on): a test of 30 patches should not spend 6 s pacing."""

    SCALE = 10.0

    def __init__(self) -> None:
        self.buckets: dict[str, LocalThrottle] = {}

    def __call__(self, key: str, capacity: float, rate: float) -> LocalThrottle:
        if key not in self.buckets:
            self.buckets[key] = LocalThrottle(capacity, rate * self.SCALE)
        return self.buckets[key]


def amazon_options() -> dict:
    return {
        "backoff": 0.01,
        "backoff_cap": 0.05,
        "timeout": 2.0,
        "max_attempts": 4,
        "throttle_factory": LocalBuckets(),
    }


@dataclass
class Seller:
    handle: object
    channel: Channel

    @property
    def sandbox(self):
        return self.handle.sandbox

    def mfn(self, sku: str) -> int | None:
        return self.sandbox.find_listing(sku, marketplace_id=self.channel.marketplace).quantity

    def patch_calls(self) -> int:
        return len(self.sandbox.requests("patchListingsItem"))


@dataclass
class MixedWorld(World):
    sellers: list[Seller] = field(default_factory=list)
    amazon_options: dict = field(default_factory=amazon_options)

    def open_seller(
        self,
        code: str,
        *,
        mfn: dict[str, int],
        afn: dict[str, dict] | None = None,
        location,
        seed: int = 1,
        notifications: dict | None = None,
        wall_start=None,
        **config,
    ) -> Seller:
        clock = ManualClock(wall_start=wall_start)
        handle = serve_amazon(seed=seed, clock=clock, rate_limits=False, **config)
        sandbox = handle.sandbox
        for sku, quantity in mfn.items():
            sandbox.add_listing(sku, quantity=quantity)
        for sku, buckets in (afn or {}).items():
            sandbox.add_listing(sku, channel="AFN", fba=buckets)
        channel = Channel(
            code=code,
            name=code,
            kind="amazon",
            mode="live",
            is_marketplace=True,
            api_base_url=handle.url,
            auth_url=handle.token_url,
            seller_id=handle.seller_id,
            marketplace="ATVPDKIKX0DER",
            region="NA",
            default_location=location,
        )
        channel.credentials = {
            "refresh_token": handle.refresh_token,
            "lwa_app_id": handle.client_id,
            "lwa_client_secret": handle.client_secret,
            "notification_key": NOTIFICATION_KEY,
        }
        channel.save()
        options = {
            "envelope": "eventbridge",
            "api_key_header": "X-Api-Key",
            "api_key": NOTIFICATION_KEY,
            "delay_s": (0, 0),
            **(notifications or {}),
        }
        sandbox.subscribe_notifications(
            f"{self.live_server_url}/webhooks/amazon/{channel.pk}/", **options
        )
        import_mapping(channel)
        seller = Seller(handle, channel)
        self.sellers.append(seller)
        return seller

    def close(self) -> None:
        super().close()
        for seller in self.sellers:
            seller.handle.stop()

    def lane_for(self, channel: Channel):
        if channel.kind == "amazon":
            return AmazonLane(**self.amazon_options)
        return ShopifyLane(**SHOPIFY_OPTIONS)

    def settle(self, *, rounds: int = 80, lane=None) -> None:
        """Deliver webhooks and notifications, ingest, plan, push and read back until a whole
        pass does nothing, nothing new was published and no push waits for its read-back."""
        last_published = None
        for _ in range(rounds):
            work, published = self.step(lane=lane)
            waiting = PushAttempt.objects.filter(status=PushAttempt.Status.ACCEPTED).exists()
            if not work and not waiting and published == last_published:
                return
            last_published = published
        raise AssertionError("the world did not settle")

    def step(self, *, lane=None) -> tuple[int, int]:
        """One pass (a second of the sellers' time): (work done, messages published so far)."""
        published = sum(s.sandbox.flush_webhooks()["published"] for s in self.shops)
        for seller in self.sellers:
            seller.sandbox.advance(1.0)
            published += seller.sandbox.flush()["delivered"]
        work = inbound.process_pending()
        work += planner.plan_dirty_skus().skus
        for channel in Channel.objects.filter(
            pk__in=[s.channel.pk for s in (*self.shops, *self.sellers)]
        ):
            outcome = push.push_channel(channel, lane or self.lane_for(channel))
            work += outcome.attempts + outcome.already_shown + outcome.acknowledged
        return work, published


@contextmanager
def mixed_world(
    live_server_url: str, receive, settings, monkeypatch, stock: dict[str, int]
) -> Iterator[MixedWorld]:
    """A MixedWorld over a WH-EAST warehouse holding `stock`, whose every Amazon client (the
    lane's, ingest's order reads, polls, FBA reads) uses this test's own buckets: the
    sandbox's default seller id is the same in every test and every run. An accepted push is
    read back at every pass (the sandbox applies it a few of its seconds on)."""
    settings.AMAZON_CONFIRM_INTERVAL_SECONDS = 0
    warehouse = LocationFactory(code="WH-EAST")
    for code, quantity in stock.items():
        receive(SkuFactory(code=code), warehouse, quantity)
    built = MixedWorld(live_server_url)
    monkeypatch.setattr(
        amazon_client, "default_throttle_factory", built.amazon_options["throttle_factory"]
    )
    monkeypatch.setattr(amazon_api, "_clients", {})
    built.warehouse = warehouse
    try:
        yield built
    finally:
        built.close()


__all__ = ["MixedWorld", "Seller", "Shop", "mixed_world"]
