"""Buyers returning shipped merchant-fulfilled (MFN) units: the control API that creates a
return request, the refusals, the flat-file returns report that lists it, the simulated buyers
that return now and then, and FBA returns left as they were."""

from __future__ import annotations

import csv
import io
import random
import re
from datetime import timedelta

import pytest

from channels.sandbox.amazon.clock import iso
from channels.sandbox.amazon.world.buyers import BuyerLoop
from tests.channels.sandbox.amazon.support import US, SpApi

MERCHANT_RETURNS = "GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE"
# Amazon's "Returns reports attributes" page, GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE, in order.
COLUMNS = [
    "Order ID",
    "Order date",
    "Return request date",
    "Return request status",
    "Amazon RMA ID",
    "Merchant RMA ID",
    "Label type",
    "Label cost",
    "Currency code",
    "Return carrier",
    "Tracking ID",
    "Label to be paid by",
    "A-to-Z Claim",
    "Is prime",
    "ASIN",
    "Merchant SKU",
    "Item Name",
    "Return quantity",
    "Return Reason",
    "In policy",
    "Return type",
    "Resolution",
    "Invoice number",
    "Return delivery date",
    "Order Amount",
    "Order quantity",
    "SafeT Action reason",
    "SafeT claim id",
    "SafeT claim state",
    "SafeT claim creation time",
    "SafeT claim reimbursement amount",
    "Refunded Amount",
]


def _ship(api: SpApi, order: dict, shipped: dict[str, int] | None = None, reference: str = "1"):
    """Confirm a package of `shipped` ({order item id: units}; default everything)."""
    items = shipped or {i["orderItemId"]: i["quantityOrdered"] for i in order["orderItems"]}
    api.ok(
        "POST",
        f"/orders/v0/orders/{order['orderId']}/shipmentConfirmation",
        body={
            "marketplaceId": US,
            "packageDetail": {
                "packageReferenceId": reference,
                "carrierCode": "UPS",
                "trackingNumber": f"1Z999AA1012345678{reference}",
                "shipDate": "2026-03-02T10:00:00Z",
                "orderItems": [
                    {"orderItemId": item_id, "quantity": units} for item_id, units in items.items()
                ],
            },
        },
        operation="confirmShipment",
        status=204,
    )


def _shipped_order(api: SpApi, sandbox, lines: list[tuple[str, int]]) -> dict:
    order = sandbox.place_order(lines=lines)
    sandbox.advance(2)
    _ship(api, order)
    return order


def _return(api: SpApi, order_id: str, **body):
    return api.session.post(f"{api.handle.control_url}/orders/{order_id}/returns", json=body)


def _report_rows(api: SpApi, sandbox, **window) -> tuple[list[str], list[dict]] | None:
    """The header and rows of a merchant returns report; None when Amazon cancels it."""
    created = api.ok(
        "POST",
        "/reports/2021-06-30/reports",
        body={"reportType": MERCHANT_RETURNS, "marketplaceIds": [US], **window},
        operation="createReport",
        status=202,
    )
    sandbox.advance(sandbox.config.report_queue_seconds + sandbox.config.report_processing_seconds)
    report = api.ok(
        "GET", f"/reports/2021-06-30/reports/{created['reportId']}", operation="getReport"
    )
    if report["processingStatus"] == "CANCELLED":
        return None
    assert report["processingStatus"] == "DONE"
    document = api.ok(
        "GET",
        f"/reports/2021-06-30/documents/{report['reportDocumentId']}",
        operation="getReportDocument",
    )
    reader = csv.DictReader(io.StringIO(api.download(document["url"]).text), delimiter="\t")
    return list(reader.fieldnames or []), list(reader)


def test_a_shipped_mfn_item_returned_through_the_control_api_is_in_the_returns_report(
    api: SpApi, sandbox
):
    sandbox.add_listing("TEE-M", quantity=10, title="Tee, medium", price="19.50")
    order = _shipped_order(api, sandbox, [("TEE-M", 2)])
    item = order["orderItems"][0]

    answer = _return(
        api,
        order["orderId"],
        items=[{"order_item_id": item["orderItemId"], "quantity": 1, "reason": "CR-DEFECTIVE"}],
    )

    assert answer.status_code == 201, answer.text
    request = answer.json()["return"]
    assert request["order_id"] == order["orderId"]
    assert request["items"] == [
        {
            "order_item_id": item["orderItemId"],
            "seller_sku": "TEE-M",
            "asin": sandbox.listing("TEE-M")["asin"],
            "quantity": 1,
            "reason": "CR-DEFECTIVE",
        }
    ]
    header, rows = _report_rows(api, sandbox)
    assert header == COLUMNS
    [row] = rows
    today = sandbox.now().strftime("%d-%b-%Y")
    assert {column: row[column] for column in COLUMNS if row[column]} == {
        "Order ID": order["orderId"],
        "Order date": today,
        "Return request date": today,
        "Return request status": "Approved",
        "Amazon RMA ID": request["rma_id"],
        "Label type": "AmazonPrePaidLabel",
        "Label cost": row["Label cost"],
        "Currency code": "USD",
        "Return carrier": row["Return carrier"],
        "Tracking ID": row["Tracking ID"],
        "Label to be paid by": "Seller",
        "A-to-Z Claim": "N",
        "Is prime": "N",
        "ASIN": sandbox.listing("TEE-M")["asin"],
        "Merchant SKU": "TEE-M",
        "Item Name": "Tee, medium",
        "Return quantity": "1",
        "Return Reason": "CR-DEFECTIVE",
        "In policy": "Y",
        "Return type": "C-Returns",
        "Resolution": "StandardRefund",
        "Order Amount": "39.00",
        "Order quantity": "2",
    }
    assert row["Return carrier"] in ("USPS", "UPS")
    assert re.fullmatch(r"D[A-Za-z]{8}RMA", request["rma_id"])
    # The return moves no merchant quantity: the seller grades the unit when it arrives.
    assert sandbox.listing("TEE-M")["quantity"] == 8


def test_one_request_returns_several_items_named_by_seller_sku(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=10)
    sandbox.add_listing("MUG-RED", quantity=10)
    order = _shipped_order(api, sandbox, [("TEE-M", 3), ("MUG-RED", 1)])

    answer = _return(
        api,
        order["orderId"],
        items=[{"seller_sku": "TEE-M", "quantity": 2}, {"seller_sku": "MUG-RED", "quantity": 1}],
    )

    assert answer.status_code == 201, answer.text
    _, rows = _report_rows(api, sandbox)
    by_sku = {row["Merchant SKU"]: row for row in rows}
    assert {sku: row["Return quantity"] for sku, row in by_sku.items()} == {
        "TEE-M": "2",
        "MUG-RED": "1",
    }
    # One return request: one RMA id and one parcel's label on both rows, the default reason.
    assert {row["Amazon RMA ID"] for row in rows} == {answer.json()["return"]["rma_id"]}
    assert len({(row["Tracking ID"], row["Label cost"]) for row in rows}) == 1
    assert {row["Return Reason"] for row in rows} == {"CR-UNWANTED_ITEM"}
    listed = api.session.get(f"{api.handle.control_url}/orders/{order['orderId']}/returns")
    assert listed.json()["returns"] == [answer.json()["return"]]


def test_units_already_returned_cannot_come_back_twice(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=10)
    order = _shipped_order(api, sandbox, [("TEE-M", 2)])
    one = [{"seller_sku": "TEE-M", "quantity": 1}]

    first = _return(api, order["orderId"], items=one)
    second = _return(api, order["orderId"], items=one)
    third = _return(api, order["orderId"], items=one)

    assert (first.status_code, second.status_code, third.status_code) == (201, 201, 409)
    assert third.json()["error"] == "not_returnable"
    assert (third.json()["shipped"], third.json()["returned"]) == (2, 2)
    assert len(sandbox.merchant_returns) == 2


def test_only_the_shipped_units_of_a_partly_shipped_order_can_be_returned(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=10)
    order = sandbox.place_order("TEE-M", 3)
    sandbox.advance(2)
    _ship(api, order, {order["orderItems"][0]["orderItemId"]: 1})

    too_many = _return(api, order["orderId"], items=[{"seller_sku": "TEE-M", "quantity": 2}])
    shipped_one = _return(api, order["orderId"], items=[{"seller_sku": "TEE-M", "quantity": 1}])

    assert too_many.status_code == 409
    assert "1 shipped, 0 already returned" in too_many.json()["message"]
    assert shipped_one.status_code == 201


@pytest.mark.parametrize(
    ("order_kind", "body", "status", "says"),
    [
        ("missing", {"items": [{"seller_sku": "TEE-M", "quantity": 1}]}, 404, "no order"),
        ("unshipped", {"items": [{"seller_sku": "TEE-M", "quantity": 1}]}, 409, "nothing was"),
        ("cancelled", {"items": [{"seller_sku": "TEE-M", "quantity": 1}]}, 409, "CANCELLED"),
        ("fba", {"items": [{"seller_sku": "HOODIE", "quantity": 1}]}, 409, "fulfilled by Amazon"),
        ("shipped", {"items": [{"seller_sku": "TEE-M", "quantity": 3}]}, 409, "2 shipped"),
        ("shipped", {"items": [{"seller_sku": "HOODIE", "quantity": 1}]}, 404, "has no item"),
        ("shipped", {"items": [{"order_item_id": "999", "quantity": 1}]}, 404, "has no item"),
        ("shipped", {"items": []}, 400, "non-empty list"),
        ("shipped", {}, 400, "non-empty list"),
        ("shipped", {"items": [{"seller_sku": "TEE-M"}]}, 400, "positive whole"),
        ("shipped", {"items": [{"seller_sku": "TEE-M", "quantity": 0}]}, 400, "positive whole"),
        ("shipped", {"items": [{"seller_sku": "TEE-M", "quantity": True}]}, 400, "positive"),
        ("shipped", {"items": [{"quantity": 1}]}, 400, "order_item_id or seller_sku"),
        ("shipped", {"items": [{"sku": "TEE-M", "quantity": 1}]}, 400, "unknown item fields"),
        ("shipped", {"items": [], "when": "now"}, 400, "unknown fields"),
        (
            "shipped",
            {"items": [{"seller_sku": "TEE-M", "quantity": 1}], "returned_at": "yesterday"},
            400,
            "ISO 8601",
        ),
    ],
)
def test_a_return_that_cannot_be_asked_for_is_refused_and_records_nothing(
    api: SpApi, sandbox, order_kind, body, status, says
):
    sandbox.add_listing("TEE-M", quantity=10)
    sandbox.add_listing("HOODIE", channel="AFN", fba={"fulfillable": 3})
    orders = {
        "missing": {"orderId": "111-0000000-0000000"},
        "unshipped": sandbox.place_order("TEE-M", 2),
        "cancelled": sandbox.place_order("TEE-M", 2),
        "fba": sandbox.place_order("HOODIE", 1),
    }
    sandbox.cancel_order(orders["cancelled"]["orderId"])
    sandbox.advance(2)
    sandbox.ship_order(orders["fba"]["orderId"])  # Amazon shipped it: still not the seller's
    orders["shipped"] = _shipped_order(api, sandbox, [("TEE-M", 2)])

    answer = _return(api, orders[order_kind]["orderId"], **body)

    assert answer.status_code == status, answer.text
    assert says in answer.json()["message"]
    assert sandbox.merchant_returns == []
    assert _report_rows(api, sandbox) is None  # Amazon cancels a report with no rows


def test_the_return_date_places_the_request_in_the_report_window(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=10)
    order = _shipped_order(api, sandbox, [("TEE-M", 2)])
    later = sandbox.now() + timedelta(days=3)
    item = [{"seller_sku": "TEE-M", "quantity": 1}]

    before_shipping = _return(
        api, order["orderId"], items=item, returned_at=iso(sandbox.now() - timedelta(days=1))
    )
    answer = _return(api, order["orderId"], items=item, returned_at=iso(later))

    assert before_shipping.status_code == 400
    assert "before order" in before_shipping.json()["message"]
    assert answer.json()["return"]["returned_at"] == iso(later)
    until_tomorrow = {"dataEndTime": iso(sandbox.now() + timedelta(days=1))}
    assert _report_rows(api, sandbox, **until_tomorrow) is None
    _, [row] = _report_rows(api, sandbox, dataEndTime=iso(later))
    assert row["Return request date"] == later.strftime("%d-%b-%Y")


def test_an_fba_order_still_comes_back_through_the_fba_returns_route(api: SpApi, sandbox):
    sandbox.add_listing("HOODIE", channel="AFN", fba={"fulfillable": 3})
    order = sandbox.place_order("HOODIE", 1)
    sandbox.advance(2)
    sandbox.ship_order(order["orderId"])
    control = api.handle.control_url

    refused = _return(api, order["orderId"], items=[{"seller_sku": "HOODIE", "quantity": 1}])
    fba = api.session.post(
        f"{control}/returns",
        json={"sku": "HOODIE", "order_id": order["orderId"], "disposition": "SELLABLE"},
    )

    assert refused.status_code == 409
    assert "POST /_sandbox/returns" in refused.json()["message"]
    assert fba.status_code == 201
    assert fba.json()["return"]["order-id"] == order["orderId"]
    assert sandbox.listing("HOODIE")["fba"]["fulfillable"] == 3  # 2 left + the one back
    assert sandbox.merchant_returns == []


def test_the_returns_of_an_unknown_order_are_404(api: SpApi):
    answer = api.session.get(f"{api.handle.control_url}/orders/111-0000000-0000000/returns")

    assert answer.status_code == 404


def test_a_simulated_buyer_returns_only_shipped_merchant_units(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=10)
    sandbox.add_listing("HOODIE", channel="AFN", fba={"fulfillable": 3})
    shipped = _shipped_order(api, sandbox, [("TEE-M", 1)])
    sandbox.place_order("TEE-M", 2)  # not shipped
    afn = sandbox.place_order("HOODIE", 1)
    sandbox.advance(2)
    sandbox.ship_order(afn["orderId"])
    buyers = BuyerLoop(sandbox, rate_per_second=1.0, rng=random.Random(5))

    first = buyers.return_once()
    second = buyers.return_once()

    assert first is not None
    assert second is None  # the one shipped unit is back already
    [entry] = sandbox.merchant_returns
    assert (entry.order_id, entry.sku, entry.quantity) == (shipped["orderId"], "TEE-M", 1)
    assert entry.reason.startswith("CR-")
    assert buyers.as_json()["returned"] == 1


def test_buyers_started_with_a_return_rate_return_shipped_units(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=50)
    _shipped_order(api, sandbox, [("TEE-M", 2)])
    control = api.handle.control_url

    started = api.session.post(
        f"{control}/buyers", json={"rate_per_second": 200, "max_orders": 5, "return_rate": 1.0}
    )
    assert started.status_code == 201
    assert sandbox.buyers.join(timeout=5)

    # Five turns, each with a return asked for: the two shipped units came back, no more.
    assert sandbox.buyers.as_json()["returned"] == 2
    assert sum(entry.quantity for entry in sandbox.merchant_returns) == 2
