"""The reconciliation API: drift with its resolution, sales halts with reasons, runs on demand."""

import pytest
from rest_framework.test import APIClient

from allocation.models import SalesHalt
from channels.models import Listing
from ledger.models import Balance
from reconciliation.models import Drift, ReconciliationRun
from tests.factories import ChannelFactory, ListingFactory, SkuFactory


def make_drift(sku, *, channel="shop", expected=10, observed=6, resolution="open"):
    listing = ListingFactory(
        channel=ChannelFactory(code=channel),
        sku=sku,
        desired_quantity=expected,
        desired_version=1,
        pushed_quantity=expected,
        pushed_version=1,
    )
    return Drift.objects.create(
        channel=listing.channel,
        listing=listing,
        sku=sku,
        expected=expected,
        observed=observed,
        delta=observed - expected,
        resolution=resolution,
    )


def resolve(api_client, drift, **body):
    return api_client.post(f"/api/v1/drift/{drift.pk}/resolve/", body, format="json")


@pytest.mark.django_db
def test_the_api_needs_a_token(sku):
    make_drift(sku)
    assert APIClient().get("/api/v1/drift/").status_code in (401, 403)
    assert APIClient().post("/api/v1/reconciliation-runs/", {}, format="json").status_code in (
        401,
        403,
    )
    assert not ReconciliationRun.objects.exists()


@pytest.mark.django_db
def test_drift_is_listed_and_filtered(api_client, sku):
    mine = make_drift(sku, channel="shop")
    make_drift(SkuFactory(code="MUG"), channel="amazon-us", resolution="resynced")
    rows = api_client.get("/api/v1/drift/", {"channel": "shop", "resolution": "open"}).json()
    assert [row["id"] for row in rows["results"]] == [mine.pk]
    row = rows["results"][0]
    assert (row["channel"], row["sku"], row["expected"], row["observed"], row["delta"]) == (
        "shop",
        "TEE-M",
        10,
        6,
        -4,
    )
    by_sku = api_client.get("/api/v1/drift/", {"sku": "MUG"}).json()["results"]
    assert [row["sku"] for row in by_sku] == ["MUG"]
    by_listing = api_client.get("/api/v1/drift/", {"listing": mine.listing_id}).json()
    assert by_listing["count"] == 1
    assert api_client.get(f"/api/v1/drift/{mine.pk}/").json()["resolution"] == "open"


@pytest.mark.django_db
def test_resync_through_the_api_makes_the_listing_due_again(api_client, sku):
    drift = make_drift(sku, expected=10, observed=6)
    response = resolve(api_client, drift, action="resync")
    assert response.status_code == 200, response.json()
    assert (response.json()["resolution"], response.json()["resolved_by"]) == ("resynced", "ops")
    listing = Listing.objects.get(pk=drift.listing_id)
    # Due again, compared from what we expect: a stale answer is the pusher's to settle (I6).
    assert (listing.pushed_quantity, listing.pushed_version) == (10, 0)


@pytest.mark.django_db
def test_halt_through_the_api_opens_a_halt_on_the_channel(api_client, sku):
    drift = make_drift(sku, channel="shop")
    response = resolve(api_client, drift, action="halt", reason="gap of 4")
    assert response.json()["resolution"] == "halted"
    halt = SalesHalt.objects.get()
    assert response.json()["halt"] == halt.pk
    assert (halt.channel.code, halt.created_by) == ("shop", "ops")


@pytest.mark.django_db
def test_adopt_through_the_api_records_a_cycle_count(api_client, sku, warehouse, receive):
    receive(sku, warehouse, 10)
    drift = make_drift(sku, expected=10, observed=7)
    response = resolve(api_client, drift, action="adopt", reason="counted 7")
    assert response.json()["resolution"] == "adopted"
    assert response.json()["event"] is not None
    assert Balance.objects.get(sku=sku, location=warehouse, bucket="on_hand").quantity == 7


@pytest.mark.django_db
def test_dismiss_through_the_api_needs_a_reason(api_client, sku):
    drift = make_drift(sku)
    refused = resolve(api_client, drift, action="dismiss")
    assert refused.status_code == 400
    assert refused.json()["errors"] == {"reason": "Say why: dismiss needs a reason."}
    assert Drift.objects.get(pk=drift.pk).resolution == "open"
    dismissed = resolve(api_client, drift, action="dismiss", reason="a test order")
    assert (dismissed.json()["resolution"], dismissed.json()["resolution_reason"]) == (
        "dismissed",
        "a test order",
    )


@pytest.mark.django_db
def test_a_resolved_drift_answers_409(api_client, sku):
    drift = make_drift(sku, resolution="resynced")
    response = resolve(api_client, drift, action="dismiss", reason="late")
    assert response.status_code == 409
    assert "already Resynced" in response.json()["detail"]


@pytest.mark.django_db
def test_an_unknown_action_is_a_400(api_client, sku):
    drift = make_drift(sku)
    assert resolve(api_client, drift, action="ignore", reason="x").status_code == 400


# --- halts ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_halt_needs_a_reason(api_client, sku):
    ChannelFactory(code="shop")
    response = api_client.post("/api/v1/halts/", {"sku": "TEE-M", "channel": "shop"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"reason": "A halt needs a reason."}
    blank = api_client.post("/api/v1/halts/", {"sku": "TEE-M", "reason": "  "}, format="json")
    assert blank.status_code == 400
    assert not SalesHalt.objects.exists()


@pytest.mark.django_db
def test_a_halt_is_released_with_a_reason_only(api_client, sku):
    created = api_client.post(
        "/api/v1/halts/", {"sku": "TEE-M", "reason": "recall"}, format="json"
    ).json()
    assert (created["channel"], created["created_by"], created["released_at"]) == (
        None,
        "ops",
        None,
    )
    url = f"/api/v1/halts/{created['id']}/release/"
    missing = api_client.post(url, {}, format="json")
    assert missing.status_code == 400
    assert missing.json()["errors"] == {"reason": "Say why the halt can end."}
    assert SalesHalt.objects.get().released_at is None
    released = api_client.post(url, {"reason": "recall withdrawn"}, format="json").json()
    assert (released["released_by"], released["release_reason"]) == ("ops", "recall withdrawn")
    again = api_client.post(url, {"reason": "second click"}, format="json").json()
    assert again["release_reason"] == "recall withdrawn"  # the first release stands
    active = api_client.get("/api/v1/halts/", {"active": "true"}).json()
    assert active["count"] == 0


@pytest.mark.django_db
def test_releasing_a_halt_through_the_api_resolves_the_drift_it_held(api_client, sku):
    drift = make_drift(sku)
    halt_id = resolve(api_client, drift, action="halt", reason="gap").json()["halt"]
    api_client.post(f"/api/v1/halts/{halt_id}/release/", {"reason": "fixed"}, format="json")
    assert Drift.objects.get(pk=drift.pk).resolution == "resolved"


# --- runs -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_run_is_started_on_demand_and_queued_after_commit(
    api_client, sku, django_capture_on_commit_callbacks
):
    ChannelFactory(code="shop", mode="live")
    with django_capture_on_commit_callbacks() as queued:
        response = api_client.post(
            "/api/v1/reconciliation-runs/", {"channel": "shop", "skus": ["TEE-M"]}, format="json"
        )
    assert response.status_code == 202, response.json()
    body = response.json()
    assert (body["trigger"], body["status"], body["channel"], body["sku_codes"]) == (
        "manual",
        "reading",
        "shop",
        ["TEE-M"],
    )
    assert body["requested_by"] == "ops"
    assert body["started_at"]
    assert ReconciliationRun.objects.get().pk == body["id"]
    assert len(queued) == 1
    listed = api_client.get("/api/v1/reconciliation-runs/").json()["results"]
    assert [run["id"] for run in listed] == [body["id"]]
    assert (
        api_client.get(f"/api/v1/reconciliation-runs/{body['id']}/").json()["status"] == "reading"
    )


@pytest.mark.django_db
def test_a_run_for_every_channel_needs_no_body(api_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as queued:
        response = api_client.post("/api/v1/reconciliation-runs/", {}, format="json")
    assert response.status_code == 202
    assert (response.json()["channel"], response.json()["sku_codes"]) == (None, [])
    assert len(queued) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"skus": ["NOPE"]}, "skus"),
        ({"channel": "nowhere"}, "channel"),
        ({"channel": "paused-shop"}, "channel"),
    ],
)
def test_a_run_on_something_unknown_or_not_live_is_refused(
    api_client, sku, body, field, django_capture_on_commit_callbacks
):
    ChannelFactory(code="paused-shop", mode="paused")
    with django_capture_on_commit_callbacks() as queued:
        response = api_client.post("/api/v1/reconciliation-runs/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not ReconciliationRun.objects.exists()
    assert queued == []
