"""The Amazon lane's bulk read for reconciliation, against the SP-API sandbox over real HTTP:
searchListingsItems for a few listings, the All Listings Report for a whole seller, and every
request either way counted.

The sandbox runs on a manual clock with Amazon's usage plans on; the client's sleeps (its
bucket waits and the report polls) move it, so a report is built while the lane waits for it
and no test sleeps for real.
"""

from __future__ import annotations

import random
import threading

import pytest

from channels.lanes.amazon import api, listings_report
from channels.lanes.amazon import client as amazon
from channels.lanes.amazon.lane import AmazonLane
from channels.lanes.amazon.listings_report import (
    REPORT_THRESHOLD,
    REPORT_TYPE,
    parse_listings_report,
)
from channels.lanes.amazon.usage_plans import USAGE_PLANS
from channels.lanes.base import LevelRead, SendResult
from channels.models import Channel, Listing
from channels.sandbox.amazon import ManualClock, serve_in_thread
from channels.sandbox.amazon import reports as sandbox_reports
from channels.sandbox.common.errors import NotFound
from ledger.models import Sku
from tests.channels.lanes.amazon.test_amazon_client import SharedTime

pytestmark = pytest.mark.django_db

US = "ATVPDKIKX0DER"


@pytest.fixture(scope="module")
def handle():
    handle = serve_in_thread(clock=ManualClock())
    yield handle
    handle.stop()


@pytest.fixture
def sandbox(handle, monkeypatch):
    sandbox = handle.sandbox
    sandbox.reset()
    sandbox.config.gzip_documents = False
    sandbox.set_rate_limits(enabled=True, scale=1.0)
    # Clients are cached per channel and options: none of an earlier test's.
    monkeypatch.setattr(api, "_clients", {})
    yield sandbox
    # Every request the lane sent is valid against Amazon's official models.
    assert sandbox.invalid_requests() == []


@pytest.fixture
def shared_time(sandbox) -> SharedTime:
    return SharedTime(sandbox)


@pytest.fixture
def channel(handle, sandbox) -> Channel:
    seller = sandbox.seller()
    channel = Channel(
        code="amazon-us",
        name="amazon-us",
        kind="amazon",
        mode="live",
        is_marketplace=True,
        api_base_url=handle.url,
        auth_url=handle.token_url,
        seller_id=seller.seller_id,
        marketplace=US,
        region="NA",
    )
    channel.credentials = {
        "refresh_token": seller.refresh_token,
        "lwa_app_id": sandbox.config.client_id,
        "lwa_client_secret": sandbox.config.client_secret,
    }
    channel.save()
    return channel


@pytest.fixture
def options(shared_time) -> dict:
    """The lane's client options: our buckets and the sandbox on one fake time."""
    return {
        "throttle_factory": shared_time.throttle,
        "sleep": shared_time.sleep,
        "rng": random.Random(7),
        "timeout": 5.0,
        "backoff": 0.01,
    }


@pytest.fixture
def lane(options) -> AmazonLane:
    return AmazonLane(**options)


def list_on_amazon(sandbox, channel, mfn: dict[str, int], *, afn=(), unknown=()) -> dict:
    """Offers at Amazon (merchant quantities, FBA ones) and a listing of ours for each, plus
    listings of SKUs Amazon does not know; listing by seller SKU."""
    for sku, quantity in mfn.items():
        sandbox.add_listing(sku, quantity=quantity)
    for sku in afn:
        sandbox.add_listing(sku, channel="AFN", fba={"fulfillable": 9})
    codes = [*mfn, *afn, *unknown]
    skus = Sku.objects.bulk_create([Sku(code=code, title=code) for code in codes])
    fba = set(afn)
    rows = Listing.objects.bulk_create(
        Listing(
            channel=channel,
            sku=sku,
            external_id=sku.code,
            fulfilment=Listing.Fulfilment.FBA if sku.code in fba else Listing.Fulfilment.MERCHANT,
        )
        for sku in skus
    )
    return {row.external_id: row for row in rows}


def read(lane, channel, sandbox, listings) -> tuple[LevelRead, dict]:
    """The lane's read, and the sandbox's counters over exactly that read."""
    sandbox.request_log.clear()
    result = lane.read_all_levels(channel, list(listings))
    return result, sandbox.request_log.counters()


def amazon_shows(sandbox, sku: str) -> int | None:
    """The merchant quantity of the offer, as Seller Central shows it (None: FBA, no offer)."""
    try:
        return sandbox.find_listing(sku, marketplace_id=US).quantity
    except NotFound:
        return None


def test_a_few_listings_are_searched_and_every_call_is_counted(sandbox, channel, lane):
    listings = list_on_amazon(
        sandbox, channel, {"TEE-M": 10, "MUG-RED": 4}, afn=["MUG-FBA"], unknown=["GONE"]
    )
    sandbox.set_mfn_quantity("TEE-M", 6)  # a seller's edit in Seller Central

    result, counters = read(lane, channel, sandbox, listings.values())

    assert result.levels == {
        listings["TEE-M"].pk: 6,
        listings["MUG-RED"].pk: 4,
        listings["MUG-FBA"].pk: None,
        listings["GONE"].pk: None,
    }
    assert amazon_shows(sandbox, "TEE-M") == 6
    assert result.method == listings_report.SEARCH
    assert counters["by_operation"] == {"searchListingsItems": 1}
    assert (result.calls, result.throttled) == (counters["calls"], 0)


@pytest.mark.parametrize(
    ("count", "operations"),
    [
        (REPORT_THRESHOLD, {"searchListingsItems"}),
        (REPORT_THRESHOLD + 1, {"createReport", "getReport", "getReportDocument"}),
    ],
)
def test_the_report_reads_listings_above_the_threshold_and_search_up_to_it(
    sandbox, channel, lane, count, operations
):
    listings = list_on_amazon(sandbox, channel, {f"SKU-{n:04d}": n % 7 for n in range(count)})

    result, counters = read(lane, channel, sandbox, listings.values())

    assert set(counters["by_operation"]) == operations
    assert result.levels == {row.pk: amazon_shows(sandbox, sku) for sku, row in listings.items()}


def test_a_whole_seller_is_read_by_report_with_fba_unknown_and_edited_listings(
    sandbox, channel, lane, shared_time
):
    mfn = {f"SKU-{n:04d}": 5 for n in range(REPORT_THRESHOLD)}
    listings = list_on_amazon(sandbox, channel, mfn, afn=["MUG-FBA"], unknown=["GONE"])
    sandbox.set_mfn_quantity("SKU-0003", 1)
    sandbox.add_listing("NOT-OURS", quantity=50)  # in the report, not asked for

    result, counters = read(lane, channel, sandbox, listings.values())

    assert result.method == listings_report.REPORT
    assert result.levels[listings["SKU-0003"].pk] == 1
    assert result.levels[listings["MUG-FBA"].pk] is None
    assert result.levels[listings["GONE"].pk] is None
    assert result.levels == {row.pk: amazon_shows(sandbox, sku) for sku, row in listings.items()}
    assert len(result.levels) == len(listings)
    report = sandbox.requests("createReport")[0]["body"]
    assert report["reportType"] == REPORT_TYPE
    # the SP-API calls the sandbox answered, and the document's download from its URL
    assert result.calls == counters["calls"] + 1
    assert counters["by_operation"]["createReport"] == 1
    assert counters["by_operation"]["getReportDocument"] == 1
    # polled no faster than getReport's plan, and only a few times for a report built in 3 s
    assert min(shared_time.sleeps) >= 1 / USAGE_PLANS["getReport"].rate
    assert counters["by_operation"]["getReport"] <= 4


@pytest.mark.parametrize("ending", ["FATAL", "CANCELLED"])
def test_a_report_amazon_cannot_build_falls_back_to_search(
    sandbox, channel, options, shared_time, ending
):
    listings = list_on_amazon(
        sandbox, channel, {f"SKU-{n:04d}": 2 for n in range(REPORT_THRESHOLD + 1)}
    )
    sleep = shared_time.sleep

    def end_the_report_first(seconds: float) -> None:
        for report in list(sandbox.reports.values()):
            if report.status != "IN_QUEUE":
                continue
            if ending == "CANCELLED":
                sandbox_reports.cancel_report(sandbox, report.seller_id, report.report_id)
            else:
                report.status = "FATAL"  # Amazon's own failure: nothing the sandbox injects
        sleep(seconds)

    lane = AmazonLane(**{**options, "sleep": end_the_report_first})

    result, counters = read(lane, channel, sandbox, listings.values())

    assert result.method == f"{listings_report.SEARCH} ({listings_report.REPORT} ended {ending})"
    assert set(result.levels.values()) == {2}
    assert counters["by_operation"]["createReport"] == 1
    assert counters["by_operation"]["searchListingsItems"] == -(-(REPORT_THRESHOLD + 1) // 20)
    assert "getReportDocument" not in counters["by_operation"]
    assert result.calls == counters["calls"]  # nothing downloaded


def test_throttled_answers_are_counted_as_calls(sandbox, channel, lane):
    listings = list_on_amazon(sandbox, channel, {"TEE-M": 3})
    sandbox.throttle("searchListingsItems", count=2)

    result, counters = read(lane, channel, sandbox, listings.values())

    assert result.levels == {listings["TEE-M"].pk: 3}
    assert result.throttled == counters["throttled"] == 2
    assert result.calls == counters["calls"] == 3


def test_the_clients_per_push_counting_survives_a_read(sandbox, channel, lane, options):
    listings = list_on_amazon(sandbox, channel, {"TEE-M": 3})
    lane.read_all_levels(channel, list(listings.values()))
    client = api.client_for(channel, **options)  # the cached one the read used

    counted = SendResult()
    with api.counted(client, counted):
        client.listing_quantities(["TEE-M"])
    result, _ = read(lane, channel, sandbox, listings.values())

    assert counted.calls == 1
    assert result.calls == 1  # one tally per read: not the push's, not the last read's


def test_reads_in_two_threads_on_the_cached_client_count_only_their_own_calls(
    sandbox, channel, lane
):
    listings = list_on_amazon(sandbox, channel, {f"SKU-{n:02d}": 1 for n in range(60)})
    big, small = list(listings.values()), [listings["SKU-00"]]  # 3 searches, 1 search
    start = threading.Barrier(2)
    results: dict[str, LevelRead] = {}

    def read_in_thread(name: str, chosen: list[Listing]) -> None:
        start.wait()
        results[name] = lane.read_all_levels(channel, chosen)

    threads = [
        threading.Thread(target=read_in_thread, args=("big", big)),
        threading.Thread(target=read_in_thread, args=("small", small)),
    ]
    sandbox.request_log.clear()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert (results["big"].calls, results["small"].calls) == (3, 1)
    assert sandbox.request_log.counters()["calls"] == 4


def test_a_client_given_to_the_lane_is_counted_and_keeps_counting_pushes(sandbox, channel, options):
    listings = list_on_amazon(sandbox, channel, {"TEE-M": 3})
    seller = sandbox.seller()
    client = amazon.AmazonClient(  # built outside the cache: no hook on it
        endpoint=channel.api_base_url,
        token_url=channel.auth_url,
        credentials=amazon.credentials_from(channel.credentials),
        seller_id=seller.seller_id,
        marketplace_id=US,
        **options,
    )
    lane = AmazonLane(client=client)

    result, counters = read(lane, channel, sandbox, listings.values())
    counted = SendResult()
    with api.counted(client, counted):
        client.listing_quantities(["TEE-M"])

    assert result.calls == counters["calls"] == 1
    assert counted.calls == 1


# --- the report's parsing ---------------------------------------------------------------------


def test_the_report_is_parsed_by_header_name_and_leniently():
    header = "Seller SKU\titem-name\tfulfillment_channel\tQuantity\tstatus"
    rows = [
        'TEE-M\t12" pizza pan "deluxe\tDEFAULT\t7\tActive',  # quotes are text, never fields
        "MUG-FBA\tMug\tAMAZON_NA\t\tActive",
        "CAP\tCap\t\t3\tActive",  # no fulfillment channel: a merchant offer
        "ODD\tOdd\tDEFAULT\tn/a\tIncomplete",
        "SHORT",
        "\t\t\t\t",
    ]
    content = ("\ufeff" + "\n".join([header, *rows]) + "\n").encode("utf-8")

    assert parse_listings_report(content) == {
        "TEE-M": 7,
        "MUG-FBA": None,
        "CAP": 3,
        "ODD": None,
        "SHORT": None,
    }


def test_a_windows_1252_report_is_read():
    content = "seller-sku\tquantity\titem-name\nCAFÉ-1\t4\tCafé\n".encode("cp1252")
    assert parse_listings_report(content) == {"CAFÉ-1": 4}


def test_the_sandbox_report_columns_are_understood():
    header = "\t".join(sandbox_reports.LISTINGS_COLUMNS)
    values = dict.fromkeys(sandbox_reports.LISTINGS_COLUMNS, "")
    values.update({"seller-sku": "TEE-M", "quantity": "8", "fulfillment-channel": "DEFAULT"})
    row = "\t".join(values[column] for column in sandbox_reports.LISTINGS_COLUMNS)
    assert parse_listings_report(f"{header}\n{row}\n".encode()) == {"TEE-M": 8}


def test_a_document_without_a_seller_sku_column_is_refused():
    with pytest.raises(listings_report.ListingsReportError):
        parse_listings_report(b"return-date\torder-id\tsku-ish\n")
