"""Simulated buyers: the background loop and the control API behind it."""

from __future__ import annotations

import time

from tests.channels.sandbox.amazon.support import SpApi


def _wait_for(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def test_buyers_order_mfn_and_afn_listings_until_stock_runs_out(sandbox):
    sandbox.add_listing("TEE-M", quantity=3)
    sandbox.add_listing("HOODIE", channel="AFN", fba={"fulfillable": 2})

    sandbox.start_buyers(200.0, seed=3)
    assert _wait_for(lambda: sandbox.buyers.refused >= 5)
    loop = sandbox.stop_buyers()

    orders = sandbox.orders_json()
    by_channel = {o["fulfillment"]["fulfilledBy"] for o in orders}
    assert by_channel == {"MERCHANT", "AMAZON"}
    assert loop["orders"] == len(orders) == 5
    assert sandbox.listing("TEE-M")["quantity"] == 0
    assert sandbox.listing("HOODIE")["fba"]["fulfillable"] == 0


def test_buyers_stop_at_max_orders_and_can_cancel(sandbox):
    sandbox.add_listing("TEE-M", quantity=50)

    sandbox.start_buyers(200.0, max_orders=6, cancel_rate=0.5, seed=1)
    assert sandbox.buyers.join(timeout=5)

    statuses = [o["fulfillment"]["fulfillmentStatus"] for o in sandbox.orders_json()]
    cancelled = statuses.count("CANCELLED")
    assert len(statuses) == 6
    assert cancelled == sandbox.buyers.cancelled > 0
    assert sandbox.listing("TEE-M")["quantity"] == 50 - 6 + cancelled


def test_the_control_api_starts_and_stops_buyers(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=50)
    control = api.handle.control_url

    started = api.session.post(f"{control}/buyers", json={"rate_per_second": 100, "max_orders": 3})
    assert started.status_code == 201
    assert _wait_for(lambda: len(sandbox.orders) == 3)
    stopped = api.session.delete(f"{control}/buyers")

    assert stopped.json()["buyers"]["orders"] == 3
    assert api.session.get(f"{control}/buyers").json() == {"buyers": None}
