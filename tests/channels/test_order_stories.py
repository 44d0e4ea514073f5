"""Property: however Shopify's webhooks for one order arrive — reordered, duplicated — the
ledger ends where the order's true story says (I3).

A small model of one order line plays a random story (edits, refunds before and after
shipping, fulfilments, a cancel), emitting the webhooks Shopify would. They are delivered in a
random order with duplicates; the ledger must then carry exactly the story's end state."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels import inbound
from channels.lanes.shopify import webhooks as shopify_webhooks
from channels.models import ChannelOrder, Listing
from ledger.models import Balance
from tests.factories import ChannelFactory, ListingFactory, LocationFactory, SkuFactory

SECRET = "story-secret"
_ids = count(10_000)


class Story:
    """One order line of `quantity` items on Shopify, and the webhooks its life sends."""

    def __init__(self, order_id: int, quantity: int) -> None:
        self.order_id, self.quantity = order_id, quantity
        self.current, self.shipped, self.returned = quantity, 0, 0
        self.cancelled = False
        self.clock = datetime(2026, 11, 30, 10, tzinfo=UTC)
        self.webhooks: list[tuple[str, dict]] = []
        self._snapshot("orders/create")

    def _tick(self) -> str:
        self.clock += timedelta(seconds=1)
        return self.clock.isoformat()

    def _snapshot(self, topic: str) -> None:
        self.webhooks.append(
            (
                topic,
                {
                    "id": self.order_id,
                    "name": f"#{self.order_id}",
                    "created_at": "2026-11-30T10:00:00+00:00",
                    "updated_at": self._tick(),
                    "cancelled_at": self.clock.isoformat() if self.cancelled else None,
                    "line_items": [
                        {
                            "id": 1,
                            "variant_id": 111,
                            "sku": "TEE-M",
                            "quantity": self.quantity,
                            "current_quantity": self.current,
                        }
                    ],
                },
            )
        )

    @property
    def unfulfilled(self) -> int:
        return self.current - (self.shipped - self.returned)

    def play(self, step: tuple[str, int]) -> None:
        kind, amount = step
        if self.cancelled:
            return
        if kind == "edit" and 0 < amount <= self.unfulfilled:
            self.current -= amount
            self._snapshot("orders/updated")
        elif kind == "refund_cancel" and 0 < amount <= self.unfulfilled:
            self.current -= amount
            self._refund("cancel", amount)
            self._snapshot("orders/updated")
        elif kind == "ship" and 0 < amount <= self.unfulfilled:
            self.shipped += amount
            self.webhooks.append(
                (
                    "fulfillments/create",
                    {
                        "id": next(_ids),
                        "order_id": self.order_id,
                        "status": "success",
                        "line_items": [{"id": 1, "quantity": amount}],
                    },
                )
            )
            self._snapshot("orders/updated")
        elif kind == "return" and 0 < amount <= self.shipped - self.returned:
            self.returned += amount
            self.current -= amount
            self._refund("return", amount)
            self._snapshot("orders/updated")
        elif kind == "cancel" and self.shipped == 0:
            self.cancelled = True
            self._snapshot("orders/cancelled")

    def _refund(self, restock_type: str, amount: int) -> None:
        self.webhooks.append(
            (
                "refunds/create",
                {
                    "id": next(_ids),
                    "order_id": self.order_id,
                    "refund_line_items": [
                        {
                            "id": next(_ids),
                            "line_item_id": 1,
                            "quantity": amount,
                            "restock_type": restock_type,
                        }
                    ],
                },
            )
        )

    @property
    def committed(self) -> int:
        return 0 if self.cancelled else self.unfulfilled

    @property
    def shop_available_moved(self) -> int:
        """How Shopify's own `available` moved: down at checkout, back up for every item that
        left the order unshipped or came back (restocked)."""
        return 0 if self.cancelled else -self.current


steps = st.lists(
    st.tuples(
        st.sampled_from(["edit", "refund_cancel", "ship", "return", "cancel"]),
        st.integers(min_value=1, max_value=3),
    ),
    max_size=6,
)


@pytest.fixture(params=[1, 6], ids=["single", "six-pack"])
def world(db, request):
    warehouse = LocationFactory(code="WH-EAST")
    sku = SkuFactory(code="TEE-M")
    shop = ChannelFactory(code="story-shop", default_location=warehouse)
    shop.credentials = {"access_token": "x", "webhook_secret": SECRET}
    shop.save()
    ListingFactory(
        channel=shop,
        sku=sku,
        external_id="gid://shopify/ProductVariant/111",
        pack_size=request.param,
    )
    from ledger import services
    from ledger.rules import EventLine

    services.record_event(
        kind="receipt",
        lines=[EventLine("TEE-M", "WH-EAST", 1000)],
        idempotency_key="story:stock",
        source="test",
    )
    return shop


def _balance(bucket: str) -> int:
    row = Balance.objects.filter(sku__code="TEE-M", bucket=bucket).first()
    return row.quantity if row else 0


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    quantity=st.integers(min_value=1, max_value=5),
    story_steps=steps,
    data=st.data(),
)
def test_any_delivery_order_ends_in_the_storys_ledger(world, client, quantity, story_steps, data):
    story = Story(next(_ids), quantity)
    for step in story_steps:
        story.play(step)
    deliveries = data.draw(st.permutations(range(len(story.webhooks))))
    duplicates = data.draw(st.lists(st.sampled_from(range(len(story.webhooks))), max_size=3))
    before = _balance("committed"), _balance("on_hand")
    delta_before = Listing.objects.get(channel=world).channel_delta
    for index in [*deliveries, *duplicates]:
        topic, payload = story.webhooks[index]
        body = json.dumps(payload).encode()
        client.post(
            reverse("webhooks:shopify", args=[world.pk]),
            data=body,
            content_type="application/json",
            HTTP_X_SHOPIFY_TOPIC=topic,
            HTTP_X_SHOPIFY_HMAC_SHA256=shopify_webhooks.sign(SECRET, body),
            HTTP_X_SHOPIFY_EVENT_ID=f"{story.order_id}-{index}",
        )
        inbound.process_pending()
    # what waited for its order (a refund or fulfilment first) is retried until none is left
    later = datetime.now(UTC) + timedelta(hours=1)
    for _ in range(len(story.webhooks)):
        if not inbound.process_pending(now=later):
            break
    pack = Listing.objects.get(channel=world).pack_size  # ledger units per Shopify item
    committed = _balance("committed") - before[0]
    on_hand = _balance("on_hand") - before[1]
    assert committed == story.committed * pack, story.webhooks
    assert on_hand == (story.returned - story.shipped) * pack, story.webhooks
    order = ChannelOrder.objects.get(channel=world, external_id=str(story.order_id))
    assert (order.status == "cancelled") == story.cancelled
    # and the pusher's compare base follows what the shop itself did, whatever the order
    moved = Listing.objects.get(channel=world).channel_delta - delta_before
    assert moved == story.shop_available_moved, story.webhooks
