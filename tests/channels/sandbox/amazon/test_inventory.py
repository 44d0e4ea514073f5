"""FBA Inventory v1 getInventorySummaries and the control API behind FBA stock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from channels.sandbox.amazon import SandboxError
from channels.sandbox.amazon.clock import iso
from tests.channels.sandbox.amazon.support import US, SpApi


def _summaries(api: SpApi, **params) -> dict:
    query = {
        "granularityType": "Marketplace",
        "granularityId": US,
        "marketplaceIds": US,
        **params,
    }
    return api.ok("GET", "/fba/inventory/v1/summaries", query, operation="getInventorySummaries")


def test_details_show_every_bucket(api: SpApi, sandbox):
    sandbox.add_listing(
        "HOODIE",
        channel="AFN",
        fba={
            "fulfillable": 40,
            "inbound_working": 10,
            "inbound_shipped": 5,
            "inbound_receiving": 3,
            "pending_customer_order": 2,
            "fc_processing": 1,
            "researching_short_term": 1,
            "customer_damaged": 1,
            "defective": 2,
        },
    )

    body = _summaries(api, details="true")

    assert body["payload"]["granularity"] == {"granularityType": "Marketplace", "granularityId": US}
    summary = body["payload"]["inventorySummaries"][0]
    assert summary["sellerSku"] == "HOODIE"
    assert summary["totalQuantity"] == 65
    details = summary["inventoryDetails"]
    assert details["fulfillableQuantity"] == 40
    assert (
        details["inboundWorkingQuantity"],
        details["inboundShippedQuantity"],
        details["inboundReceivingQuantity"],
    ) == (10, 5, 3)
    assert details["reservedQuantity"]["totalReservedQuantity"] == 3
    assert details["reservedQuantity"]["pendingCustomerOrderQuantity"] == 2
    assert details["researchingQuantity"]["totalResearchingQuantity"] == 1
    assert details["unfulfillableQuantity"]["totalUnfulfillableQuantity"] == 3
    assert details["unfulfillableQuantity"]["defectiveQuantity"] == 2
    assert "pagination" not in body


def test_without_details_there_are_no_buckets(api: SpApi, sandbox):
    sandbox.add_listing("HOODIE", channel="AFN", fba={"fulfillable": 4})

    summary = _summaries(api)["payload"]["inventorySummaries"][0]

    assert "inventoryDetails" not in summary
    assert summary["totalQuantity"] == 4


def test_pages_of_fifty_with_a_next_token(api: SpApi, sandbox):
    for n in range(60):
        sandbox.add_listing(f"FBA-{n:02d}", channel="AFN", fba={"fulfillable": n})

    first = _summaries(api)
    second = _summaries(api, nextToken=first["pagination"]["nextToken"])

    skus = [s["sellerSku"] for s in first["payload"]["inventorySummaries"]]
    skus += [s["sellerSku"] for s in second["payload"]["inventorySummaries"]]
    assert len(first["payload"]["inventorySummaries"]) == 50
    assert skus == [f"FBA-{n:02d}" for n in range(60)]
    assert "pagination" not in second


def test_a_next_token_expires_after_thirty_seconds(api: SpApi, sandbox, clock):
    for n in range(55):
        sandbox.add_listing(f"FBA-{n:02d}", channel="AFN", fba={"fulfillable": 1})
    token = _summaries(api)["pagination"]["nextToken"]

    clock.advance(31)
    response = api.call(
        "GET",
        "/fba/inventory/v1/summaries",
        {
            "granularityType": "Marketplace",
            "granularityId": US,
            "marketplaceIds": US,
            "nextToken": token,
        },
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "InvalidInput"


def test_seller_skus_filter(api: SpApi, sandbox):
    for sku in ("A", "B", "C"):
        sandbox.add_listing(sku, channel="AFN", fba={"fulfillable": 1})

    body = _summaries(api, sellerSkus="A,C")

    assert [s["sellerSku"] for s in body["payload"]["inventorySummaries"]] == ["A", "C"]


def test_start_date_time_finds_changes_but_not_inbound_ones(api: SpApi, sandbox, clock):
    sandbox.add_listing("A", channel="AFN", fba={"fulfillable": 5, "inbound_working": 4})
    sandbox.add_listing("B", channel="AFN", fba={"fulfillable": 5, "inbound_working": 4})
    clock.advance(60)
    since = iso(sandbox.now())

    sandbox.set_fba("A", fulfillable=2)
    sandbox.move_inbound("B", 4, to="inbound_shipped")  # Amazon does not detect this one

    changed = _summaries(api, startDateTime=since)
    assert [s["sellerSku"] for s in changed["payload"]["inventorySummaries"]] == ["A"]
    sandbox.move_inbound("B", 4, to="inbound_receiving")
    sandbox.move_inbound("B", 4, to="fulfillable")
    changed = _summaries(api, startDateTime=since)
    assert [s["sellerSku"] for s in changed["payload"]["inventorySummaries"]] == ["A", "B"]


def test_inbound_stock_moves_through_receiving_to_fulfillable(sandbox):
    sandbox.add_listing("HOODIE", channel="AFN", fba={"inbound_working": 10})

    sandbox.move_inbound("HOODIE", 10, to="inbound_shipped")
    sandbox.move_inbound("HOODIE", 10, to="inbound_receiving")
    buckets = sandbox.move_inbound("HOODIE", 6, to="fulfillable")

    assert (buckets["inbound_receiving"], buckets["fulfillable"]) == (4, 6)
    with pytest.raises(SandboxError):
        sandbox.move_inbound("HOODIE", 5, to="fulfillable")


def test_the_control_api_sets_buckets(api: SpApi, sandbox):
    sandbox.add_listing("HOODIE", channel="AFN", fba={"fulfillable": 1})

    response = api.session.post(
        f"{api.handle.control_url}/fba", json={"sku": "HOODIE", "fulfillable": 9, "expired": 1}
    )

    assert response.status_code == 200
    details = _summaries(api, details="true")["payload"]["inventorySummaries"][0]
    assert details["inventoryDetails"]["fulfillableQuantity"] == 9
    assert details["inventoryDetails"]["unfulfillableQuantity"]["expiredQuantity"] == 1


def test_granularity_id_must_name_the_marketplace(api: SpApi, sandbox):
    response = api.call(
        "GET",
        "/fba/inventory/v1/summaries",
        {"granularityType": "Marketplace", "granularityId": "A2EUQ1WTGCTBG2", "marketplaceIds": US},
    )

    assert response.status_code == 400


def test_start_date_in_the_future_returns_nothing(api: SpApi, sandbox):
    sandbox.add_listing("A", channel="AFN", fba={"fulfillable": 5})

    body = _summaries(api, startDateTime=iso(sandbox.now() + timedelta(days=1)))

    assert body["payload"]["inventorySummaries"] == []
