"""A small real world for Shopify lane tests: two sandbox shops over HTTP, our webhook
endpoint on a live server, and a `settle()` that runs ingest, planner and pushers in this
process until nothing is left to do (deterministic: no sleeps, no Celery)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.servers.basehttp import WSGIRequestHandler

from channels import inbound, planner, push
from channels.lanes.shopify.lane import ShopifyLane
from channels.lanes.shopify.mapping import import_mapping
from channels.models import Channel, Listing
from channels.sandbox.shopify import serve_in_thread
from ledger.models import Balance

# Django's test server writes headers and body separately; with Nagle on, every webhook waits
# for the client's delayed ACK (~40 ms). gunicorn does not have this; the test server should not.
WSGIRequestHandler.disable_nagle_algorithm = True

SECRET = "shpss_e2e_webhook_secret"
# Fast retries: the faults are injected on purpose, real time spent backing off adds nothing.
CLIENT_OPTIONS = {"backoff_base": 0.01, "backoff_cap": 0.05, "timeout": 2.0, "max_attempts": 4}


@dataclass
class Shop:
    handle: object
    channel: Channel

    @property
    def sandbox(self):
        return self.handle.sandbox

    def available(self, sku: str) -> int:
        levels = [
            lv for lv in self.sandbox.levels_json(sku) if lv["location_gid"] == self.location_gid
        ]
        return levels[0]["available"]

    @property
    def location_gid(self) -> str:
        return self.channel.external_location_id

    def set_calls(self) -> int:
        counters = self.sandbox.request_log.counters()
        return counters["by_mutation_field"].get("inventorySetQuantities", 0)


@dataclass
class World:
    live_server_url: str
    shops: list[Shop] = field(default_factory=list)

    def open_shop(
        self, code: str, *, stock: dict[str, int], location, seed: int, **webhooks
    ) -> Shop:
        handle = serve_in_thread(seed=seed)
        handle.sandbox.seed([{"sku": sku, "quantities": {}} for sku in stock])
        primary = handle.sandbox.primary_location()
        for sku, quantity in stock.items():
            handle.sandbox.admin_edit(sku, primary.gid, available=quantity)
        channel = Channel(
            code=code,
            name=code,
            kind="shopify",
            mode="live",
            api_base_url=handle.url,
            api_version="2026-04",
            external_location_id=primary.gid,
            default_location=location,
        )
        channel.credentials = {"access_token": handle.access_token, "webhook_secret": SECRET}
        channel.save()
        options = {"delay_ms": (0, 0), **webhooks}
        handle.sandbox.subscribe_webhooks(
            f"{self.live_server_url}/webhooks/shopify/{channel.pk}/", SECRET, **options
        )
        import_mapping(channel)
        shop = Shop(handle, channel)
        self.shops.append(shop)
        return shop

    def close(self) -> None:
        for shop in self.shops:
            shop.handle.stop()

    def settle(self, *, rounds: int = 60, lane: ShopifyLane | None = None) -> None:
        """Deliver webhooks, ingest, plan and push until a whole pass does nothing and no
        shop published anything new."""
        lane = lane or ShopifyLane(**CLIENT_OPTIONS)
        last_published = None
        for _ in range(rounds):
            published = sum(s.sandbox.flush_webhooks()["published"] for s in self.shops)
            work = inbound.process_pending()
            work += planner.plan_dirty_skus().skus
            for shop in self.shops:
                channel = Channel.objects.get(pk=shop.channel.pk)
                outcome = push.push_channel(channel, lane)
                work += outcome.attempts + outcome.already_shown
            if not work and published == last_published:
                return
            last_published = published
        raise AssertionError("the world did not settle")


def listing(shop: Shop, sku: str) -> Listing:
    return Listing.objects.get(channel=shop.channel, sku__code=sku)


def balance(sku: str, location: str, bucket: str) -> int:
    row = Balance.objects.filter(sku__code=sku, location__code=location, bucket=bucket).first()
    return row.quantity if row else 0
