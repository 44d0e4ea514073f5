"""Listings Items 2021-08-01: reads, quantity patches (queued, applied later), AFN listings."""

from __future__ import annotations

import pytest

from tests.channels.sandbox.amazon.support import US, SpApi


def test_get_listings_item_shows_summaries_and_merchant_quantity(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=7, title="Tee M", asin="B0TEEM0001")

    item = api.get_listing("TEE-M")

    assert item["sku"] == "TEE-M"
    summary = item["summaries"][0]
    assert summary["asin"] == "B0TEEM0001"
    assert summary["marketplaceId"] == US
    assert summary["status"] == ["DISCOVERABLE", "BUYABLE"]
    assert item["fulfillmentAvailability"] == [{"fulfillmentChannelCode": "DEFAULT", "quantity": 7}]
    assert item["issues"] == []


def test_included_data_defaults_to_summaries_only(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=7)

    item = api.ok(
        "GET", api.listing_path("TEE-M"), {"marketplaceIds": US}, operation="getListingsItem"
    )

    assert set(item) == {"sku", "summaries"}


def test_unknown_sku_is_404(api: SpApi):
    response = api.call("GET", api.listing_path("NOPE"), {"marketplaceIds": US})

    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "NOT_FOUND"
    assert "x-amzn-RateLimit-Limit" in response.headers


def test_a_patch_is_accepted_and_applied_after_the_delay(api: SpApi, sandbox, clock):
    sandbox.add_listing("TEE-M", quantity=7)

    answer = api.patch_quantity("TEE-M", 3)

    assert answer["status"] == "ACCEPTED"
    assert answer["issues"] == []
    assert answer["submissionId"]
    # ACCEPTED means queued: the listing still shows the old quantity.
    assert api.get_listing("TEE-M")["fulfillmentAvailability"][0]["quantity"] == 7
    clock.advance(sandbox.config.patch_apply_delay - 0.5)
    assert api.get_listing("TEE-M")["fulfillmentAvailability"][0]["quantity"] == 7
    clock.advance(0.5)
    assert api.get_listing("TEE-M")["fulfillmentAvailability"][0]["quantity"] == 3


def test_accepted_patches_apply_in_submission_order(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=7)

    api.patch_quantity("TEE-M", 3)
    api.patch_quantity("TEE-M", 5)
    sandbox.advance(sandbox.config.patch_apply_delay)

    assert sandbox.listing("TEE-M")["quantity"] == 5


def test_replace_drops_handling_time_merge_keeps_it(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=7, lead_time_to_ship_max_days=3)

    api.patch_quantity("TEE-M", 4, op="merge")
    sandbox.advance(sandbox.config.patch_apply_delay)
    assert sandbox.listing("TEE-M")["lead_time_to_ship_max_days"] == 3

    api.patch_quantity("TEE-M", 4, op="replace")
    sandbox.advance(sandbox.config.patch_apply_delay)
    assert sandbox.listing("TEE-M")["lead_time_to_ship_max_days"] is None


def test_validation_preview_answers_valid_and_changes_nothing(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=7)
    body = {
        "productType": "PRODUCT",
        "patches": [
            {
                "op": "merge",
                "path": "/attributes/fulfillment_availability",
                "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 1}],
            }
        ],
    }

    answer = api.ok(
        "PATCH",
        api.listing_path("TEE-M"),
        {"marketplaceIds": US, "mode": "VALIDATION_PREVIEW", "includedData": "issues,identifiers"},
        body,
        operation="patchListingsItem",
    )

    assert answer["status"] == "VALID"
    assert answer["identifiers"][0]["marketplaceId"] == US
    sandbox.advance(60)
    assert sandbox.listing("TEE-M")["quantity"] == 7


def test_a_missing_channel_code_is_invalid_with_amazons_issue(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=7)
    body = {
        "productType": "PRODUCT",
        "patches": [
            {
                "op": "replace",
                "path": "/attributes/fulfillment_availability",
                "value": [{"quantity": 1}],
            }
        ],
    }

    answer = api.ok(
        "PATCH",
        api.listing_path("TEE-M"),
        {"marketplaceIds": US},
        body,
        operation="patchListingsItem",
    )

    assert answer["status"] == "INVALID"
    assert answer["issues"][0]["code"] == "99022"
    assert answer["issues"][0]["severity"] == "ERROR"
    sandbox.advance(60)
    assert sandbox.listing("TEE-M")["quantity"] == 7


def test_a_nested_attribute_path_is_invalid(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=7)
    body = {
        "productType": "PRODUCT",
        "patches": [
            {
                "op": "replace",
                "path": "/attributes/fulfillment_availability/0/quantity",
                "value": [{"value": 1}],
            }
        ],
    }

    answer = api.ok(
        "PATCH",
        api.listing_path("TEE-M"),
        {"marketplaceIds": US},
        body,
        operation="patchListingsItem",
    )

    assert answer["status"] == "INVALID"
    assert "top-level" in answer["issues"][0]["message"]


def test_a_merchant_quantity_on_an_afn_listing_converts_it_to_mfn(api: SpApi, sandbox):
    # Amazon's documented behaviour: the offer switches to merchant-fulfilled and the units at
    # the fulfilment centre are stranded. A client must never send DEFAULT quantities to AFN.
    sandbox.add_listing("HOODIE", channel="AFN", fba={"fulfillable": 12})
    before = api.get_listing("HOODIE")
    assert before["fulfillmentAvailability"] == [
        {"fulfillmentChannelCode": "AMAZON_NA", "quantity": 12}
    ]

    answer = api.patch_quantity("HOODIE", 5)
    sandbox.advance(sandbox.config.patch_apply_delay)

    assert answer["status"] == "ACCEPTED"
    after = api.get_listing("HOODIE")
    assert after["fulfillmentAvailability"] == [
        {"fulfillmentChannelCode": "DEFAULT", "quantity": 5}
    ]
    assert sandbox.listing("HOODIE")["converted_from"] == "AMAZON_NA"
    assert sandbox.listing("HOODIE")["fba"]["fulfillable"] == 12  # stranded, not sellable
    assert [s["sku"] for s in sandbox.channel_switches] == ["HOODIE"]


def test_reject_mode_refuses_a_merchant_quantity_on_an_afn_listing(api: SpApi, sandbox):
    sandbox.config.afn_merchant_quantity = "reject"
    sandbox.add_listing("HOODIE", channel="AFN", fba={"fulfillable": 12})

    answer = api.patch_quantity("HOODIE", 5)
    sandbox.advance(sandbox.config.patch_apply_delay)

    assert answer["status"] == "INVALID"
    assert answer["issues"][0]["attributeNames"] == ["fulfillment_availability"]
    assert sandbox.listing("HOODIE")["fulfillment_channel_code"] == "AMAZON_NA"
    assert sandbox.channel_switches == []


def test_a_quantity_for_an_amazon_channel_code_is_invalid(api: SpApi, sandbox):
    sandbox.add_listing("HOODIE", channel="AFN", fba={"fulfillable": 12})

    answer = api.patch_quantity("HOODIE", 20, channel="AMAZON_NA")

    assert answer["status"] == "INVALID"
    assert answer["issues"][0]["code"] == "4000003"
    assert sandbox.listing("HOODIE")["fba"]["fulfillable"] == 12


def test_a_patch_of_an_unknown_sku_is_accepted_but_the_listing_is_not_buyable(api: SpApi, sandbox):
    # Amazon accepts offer data for a SKU it has no item for (selling-partner-api-docs#3748).
    answer = api.patch_quantity("TYPO-SKU", 10)
    sandbox.advance(sandbox.config.patch_apply_delay)

    assert answer["status"] == "ACCEPTED"
    item = api.get_listing("TYPO-SKU")
    assert item["summaries"][0]["status"] == []
    assert {i["code"] for i in item["issues"]} == {"90220"}


def test_lost_patch_fault_answers_accepted_and_never_applies(api: SpApi, sandbox):
    sandbox.add_listing("TEE-M", quantity=7)
    sandbox.lose_patches(1)

    lost = api.patch_quantity("TEE-M", 3)
    sandbox.advance(600)

    assert lost["status"] == "ACCEPTED"
    assert sandbox.listing("TEE-M")["quantity"] == 7
    # The fault was used up: the next push applies.
    api.patch_quantity("TEE-M", 3)
    sandbox.advance(sandbox.config.patch_apply_delay)
    assert sandbox.listing("TEE-M")["quantity"] == 3


def test_a_sku_with_a_slash_travels_percent_encoded(api: SpApi, sandbox):
    sandbox.add_listing("TEE/M blue", quantity=2)

    item = api.get_listing("TEE/M blue")

    assert item["sku"] == "TEE/M blue"


def test_search_listings_items_pages_through_every_sku(api: SpApi, sandbox):
    for n in range(5):
        sandbox.add_listing(f"SKU-{n}", quantity=n)

    seen, token, pages = [], None, 0
    while True:
        params = {"marketplaceIds": US, "pageSize": "2", "sortBy": "sku", "sortOrder": "ASC"}
        if token:
            params["pageToken"] = token
        page = api.ok(
            "GET",
            f"/listings/2021-08-01/items/{api.seller_id}",
            params,
            operation="searchListingsItems",
        )
        pages += 1
        assert page["numberOfResults"] == 5
        seen += [item["sku"] for item in page["items"]]
        token = page.get("pagination", {}).get("nextToken")
        if not token:
            break

    assert seen == [f"SKU-{n}" for n in range(5)]
    assert pages == 3


def test_search_by_sku_identifiers(api: SpApi, sandbox):
    for sku in ("A", "B", "C"):
        sandbox.add_listing(sku, quantity=1)

    page = api.ok(
        "GET",
        f"/listings/2021-08-01/items/{api.seller_id}",
        {"marketplaceIds": US, "identifiers": "A,C", "identifiersType": "SKU"},
        operation="searchListingsItems",
    )

    assert sorted(item["sku"] for item in page["items"]) == ["A", "C"]


@pytest.mark.parametrize("quantity", [-1, "3"])
def test_a_quantity_that_is_not_a_non_negative_integer_is_invalid(api: SpApi, sandbox, quantity):
    sandbox.add_listing("TEE-M", quantity=7)
    body = {
        "productType": "PRODUCT",
        "patches": [
            {
                "op": "merge",
                "path": "/attributes/fulfillment_availability",
                "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": quantity}],
            }
        ],
    }

    answer = api.ok(
        "PATCH",
        api.listing_path("TEE-M"),
        {"marketplaceIds": US},
        body,
        operation="patchListingsItem",
    )

    assert answer["status"] == "INVALID"
    assert answer["issues"][0]["code"] == "4000001"
