"""The sandbox on the real clock, as in the demo: delayed work runs from its own thread and
notifications go out on time without anyone calling flush()."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from channels.sandbox.amazon import SandboxHandle, serve_in_thread
from tests.channels.sandbox.amazon.support import NotificationReceiver, SpApi


@pytest.fixture
def live() -> Iterator[SandboxHandle]:
    handle = serve_in_thread(
        patch_apply_delay=0.1, order_pending_seconds=0.1, afn_ship_seconds=0.2, rate_scale=10.0
    )
    yield handle
    handle.stop()


def _wait_for(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def test_an_accepted_patch_applies_by_itself(live: SandboxHandle):
    live.sandbox.add_listing("TEE-M", quantity=7)
    api = SpApi(live)

    answer = api.patch_quantity("TEE-M", 3)

    assert answer["status"] == "ACCEPTED"
    assert _wait_for(lambda: live.sandbox.listing("TEE-M")["quantity"] == 3)
    assert live.sandbox.request_log.invalid_responses() == []


def test_afn_orders_ship_and_notifications_arrive_on_their_own(live: SandboxHandle):
    receiver = NotificationReceiver()
    try:
        live.sandbox.subscribe_notifications(receiver.url, notification_types=["ORDER_CHANGE"])
        live.sandbox.add_listing("HOODIE", channel="AFN", fba={"fulfillable": 2})

        order = live.sandbox.place_order("HOODIE", 1)

        def statuses() -> list[str]:
            return [
                d.notification["Payload"]["OrderChangeNotification"]["Summary"]["OrderStatus"]
                for d in receiver.of("ORDER_CHANGE")
            ]

        assert _wait_for(lambda: sorted(statuses()) == ["Pending", "Shipped", "Unshipped"])
        shipped = live.sandbox.order_json(order["orderId"])
        assert shipped["fulfillment"]["fulfillmentStatus"] == "SHIPPED"
    finally:
        receiver.close()


def test_rate_scale_speeds_the_buckets_up(live: SandboxHandle):
    live.sandbox.add_listing("TEE-M", quantity=7)
    api = SpApi(live)
    path = api.listing_path("TEE-M")

    # Burst 10 at 50/s: thirty quick calls outrun the refill.
    statuses = [
        api.call("GET", path, {"marketplaceIds": "ATVPDKIKX0DER"}).status_code for _ in range(30)
    ]

    assert statuses[:10] == [200] * 10
    assert 429 in statuses
    assert _wait_for(
        lambda: api.call("GET", path, {"marketplaceIds": "ATVPDKIKX0DER"}).status_code == 200,
        timeout=1.0,
    )
