"""The periodic FBA sync: every live Amazon channel's FBA inventory, read over real HTTP from
an SP-API sandbox seller, becomes its region's pool; one failing channel stops no other."""

import logging

import pytest

from channels.lanes.amazon import fba
from channels.lanes.amazon.jobs import check_amazon_fulfilment_task, sync_fba_inventory_task
from channels.models import Channel, Listing
from channels.sandbox.amazon import ManualClock, serve_in_thread
from ledger.models import InventoryEvent, Location
from tests.channels.shopify_world import balance
from tests.factories import ListingFactory, SkuFactory

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

SELLER_ID = "A1FBASYNCTASK"  # its own rate-limit buckets in this process


@pytest.fixture
def handle():
    handle = serve_in_thread(clock=ManualClock(), rate_limits=False, default_seller_id=SELLER_ID)
    handle.sandbox.add_listing(
        "MUG-RED", channel="AFN", fba={"fulfillable": 7, "inbound_shipped": 3}
    )
    yield handle
    handle.stop()


def amazon_channel(handle, code: str, *, mode: str = "live", credentials: dict | None = None):
    channel = Channel(
        code=code,
        name=code,
        kind=Channel.Kind.AMAZON,
        mode=mode,
        api_base_url=handle.url,
        auth_url=handle.token_url,
        seller_id=handle.seller_id,
        marketplace="ATVPDKIKX0DER",
        region="NA",
    )
    channel.credentials = (
        credentials
        if credentials is not None
        else {
            "refresh_token": handle.refresh_token,
            "lwa_app_id": handle.client_id,
            "lwa_client_secret": handle.client_secret,
        }
    )
    channel.save()
    mug = SkuFactory(code="MUG-RED")
    ListingFactory(channel=channel, sku=mug, external_id="MUG-RED", fulfilment="fba")
    return channel


def test_live_amazon_channels_are_read_into_the_pool_and_a_broken_one_stops_no_other(
    handle, caplog
):
    Location.objects.create(code="FBA-NA", name="FBA North America", kind="fba", region="NA")
    amazon_channel(handle, "amazon-broken", credentials={})
    amazon_channel(handle, "amazon-us")
    amazon_channel(handle, "amazon-shadow", mode="shadow")
    amazon_channel(handle, "amazon-paused", mode="paused")

    with caplog.at_level(logging.ERROR, logger="channels.tasks"):
        applied = sync_fba_inventory_task()

    assert applied == 1
    assert balance("MUG-RED", "FBA-NA", "on_hand") == 7
    assert balance("MUG-RED", "FBA-NA", "incoming") == 3
    # only the one live channel that could read called Amazon
    assert len(handle.sandbox.requests("getInventorySummaries")) == 1
    assert [r.getMessage() for r in caplog.records] == [
        "channel amazon-broken: FBA inventory sync failed"
    ]


def test_a_second_run_with_nothing_changed_records_nothing(handle):
    Location.objects.create(code="FBA-NA", name="FBA North America", kind="fba", region="NA")
    amazon_channel(handle, "amazon-us")
    sync_fba_inventory_task()
    snapshots = InventoryEvent.objects.filter(kind="fba_snapshot").count()

    sync_fba_inventory_task()

    assert InventoryEvent.objects.filter(kind="fba_snapshot").count() == snapshots == 1


def test_every_page_is_read_before_any_is_applied_so_slow_applying_outlives_no_token(
    handle, monkeypatch
):
    # given more FBA SKUs than one page (50), and applying that takes longer than a page
    # token lives (30 s)
    Location.objects.create(code="FBA-NA", name="FBA North America", kind="fba", region="NA")
    channel = amazon_channel(handle, "amazon-us")
    for number in range(60):
        code = f"MUG-{number:02d}"
        handle.sandbox.add_listing(code, channel="AFN", fba={"fulfillable": number})
        ListingFactory(
            channel=channel, sku=SkuFactory(code=code), external_id=code, fulfilment="fba"
        )
    record = fba.record_fba_stock

    def slow_record(*args, **kwargs):
        handle.sandbox.advance(31)
        return record(*args, **kwargs)

    monkeypatch.setattr(fba, "record_fba_stock", slow_record)
    # when the periodic sync runs
    outcome = fba.sync_fba_inventory(channel)
    # then both pages were read and every SKU reached the pool
    assert outcome.read == 61
    assert len(handle.sandbox.requests("getInventorySummaries")) == 2
    assert balance("MUG-59", "FBA-NA", "on_hand") == 59


def test_the_hourly_check_follows_an_offer_switched_to_fba_and_maps_nothing_new(handle, caplog):
    # given a listing we send merchant quantities to, whose offer the seller has since switched
    # to FBA in Seller Central, and a seller SKU nobody has mapped
    channel = amazon_channel(handle, "amazon-us")
    tee = ListingFactory(
        channel=channel, sku=SkuFactory(code="TEE-M"), external_id="TEE-M", fulfilment="merchant"
    )
    handle.sandbox.add_listing("TEE-M", channel="AFN", fba={"fulfillable": 4})
    SkuFactory(code="CAP-1")
    handle.sandbox.add_listing("CAP-1", quantity=3)
    # when the hourly check runs
    with caplog.at_level(logging.WARNING, logger="channels.lanes.amazon.mapping"):
        corrected = check_amazon_fulfilment_task()
    # then the listing is Amazon's to fulfil, said in the log, and nothing else was mapped
    assert corrected == 1
    tee.refresh_from_db()
    assert tee.fulfilment == Listing.Fulfilment.FBA
    assert "TEE-M" in caplog.text
    assert not Listing.objects.filter(external_id="CAP-1").exists()
    # and a second run finds nothing to change
    assert check_amazon_fulfilment_task() == 0
