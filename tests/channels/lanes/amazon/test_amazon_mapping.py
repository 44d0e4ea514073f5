"""The Amazon mapping import (`import_amazon_mapping` and the Channel admin action), over real
HTTP against an SP-API sandbox seller: every seller SKU that is one of our SKU codes becomes a
listing with its ASIN, product type and fulfilment; the rest are listed for a person."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from channels.models import Channel, Listing
from channels.sandbox.amazon import ManualClock, serve_in_thread
from ledger.models import Sku
from tests.factories import ChannelFactory, ListingFactory, SkuFactory

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

# A seller id of its own: the client's rate-limit buckets are named after it, and must not be
# shared with another test's sandbox seller in this process.
SELLER_ID = "A1MAPPINGIMPORT"


@pytest.fixture
def handle():
    handle = serve_in_thread(clock=ManualClock(), rate_limits=False, default_seller_id=SELLER_ID)
    yield handle
    handle.stop()
    # Every request we sent was one Amazon would accept, and every answer matched the model.
    assert handle.sandbox.invalid_requests() == []
    assert handle.sandbox.request_log.invalid_responses() == []


def amazon_channel(handle, code="amazon-us", **fields) -> Channel:
    channel = Channel(
        **{
            "code": code,
            "name": "Amazon US",
            "kind": Channel.Kind.AMAZON,
            "is_marketplace": True,
            "api_base_url": handle.url,
            "auth_url": handle.token_url,
            "seller_id": handle.seller_id,
            "marketplace": "ATVPDKIKX0DER",
            "region": "NA",
            **fields,
        }
    )
    channel.credentials = {
        "refresh_token": handle.refresh_token,
        "lwa_app_id": handle.client_id,
        "lwa_client_secret": handle.client_secret,
    }
    channel.save()
    return channel


def run(*args, **options) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_amazon_mapping", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def seller(handle):
    """Two seller SKUs that are ours (one merchant-fulfilled, one FBA) and one that is not."""
    SkuFactory(code="TEE-M")
    SkuFactory(code="MUG-RED")
    sandbox = handle.sandbox
    sandbox.add_listing("TEE-M", quantity=5, product_type="SHIRT")
    sandbox.add_listing("MUG-RED", channel="AFN", fba={"fulfillable": 7})
    sandbox.add_listing("MYSTERY-1", quantity=2)
    return handle


def test_import_creates_a_listing_per_seller_sku_that_names_one_of_our_skus(seller):
    channel = amazon_channel(seller)
    sandbox = seller.sandbox
    mystery_asin = sandbox.listing("MYSTERY-1")["asin"]

    out, err = run("amazon-us")

    assert out == (
        "2 listing(s) created, 0 already mapped, 1 unmatched.\n"
        f"  unmatched: seller SKU 'MYSTERY-1' (ASIN {mystery_asin!r})\n"
    )
    assert err == ""
    listings = {
        listing.external_id: listing
        for listing in Listing.objects.filter(channel=channel).select_related("sku")
    }
    assert sorted(listings) == ["MUG-RED", "TEE-M"]
    tee, mug = listings["TEE-M"], listings["MUG-RED"]
    assert (tee.sku.code, tee.asin, tee.amazon_product_type, tee.fulfilment) == (
        "TEE-M",
        sandbox.listing("TEE-M")["asin"],
        "SHIRT",
        Listing.Fulfilment.MERCHANT,
    )
    assert (mug.sku.code, mug.asin, mug.fulfilment) == (
        "MUG-RED",
        sandbox.listing("MUG-RED")["asin"],
        Listing.Fulfilment.FBA,
    )
    # the planner computes the new listings next
    assert set(
        Sku.objects.filter(allocation_dirty_since__isnull=False).values_list("code", flat=True)
    ) == {"TEE-M", "MUG-RED"}
    # read through the Listings API, nothing written to Amazon
    assert sandbox.requests("searchListingsItems")
    assert not sandbox.requests("patchListingsItem")
    assert sandbox.listing("TEE-M")["quantity"] == 5


def test_a_second_import_counts_what_is_already_mapped_and_creates_nothing(seller):
    channel = amazon_channel(seller)
    run("amazon-us")

    out, _ = run("amazon-us")

    assert out.splitlines()[0] == "0 listing(s) created, 2 already mapped, 1 unmatched."
    assert Listing.objects.filter(channel=channel).count() == 2


def test_an_existing_listing_keeps_its_sku_and_takes_amazons_asin_and_fulfilment(seller):
    channel = amazon_channel(seller)
    kept = ListingFactory(channel=channel, sku=Sku.objects.get(code="TEE-M"), external_id="TEE-M")

    out, _ = run("amazon-us")

    assert out.splitlines()[0] == "1 listing(s) created, 1 already mapped, 1 unmatched."
    kept.refresh_from_db()
    assert (kept.sku.code, kept.fulfilment) == ("TEE-M", Listing.Fulfilment.MERCHANT)
    assert kept.asin.startswith("B0")  # Amazon's, filled in


def test_verbosity_2_names_each_listing_created(seller):
    amazon_channel(seller)

    out, _ = run("amazon-us", verbosity=2)

    assert "  created: TEE-M\n" in out
    assert "  created: MUG-RED\n" in out


def test_progress_goes_to_stderr_every_250_listings(handle):
    amazon_channel(handle)
    for n in range(260):
        handle.sandbox.add_listing(f"OTHER-{n:03d}", quantity=1)

    out, err = run("amazon-us")

    assert err == "… 250 offers read\n"
    assert out.splitlines()[0] == "0 listing(s) created, 0 already mapped, 260 unmatched."
    assert len(out.splitlines()) == 261


def test_an_unknown_channel_or_another_kind_is_refused(handle):
    ChannelFactory(code="shop", kind=Channel.Kind.SHOPIFY)

    with pytest.raises(CommandError, match="No channel 'nope'"):
        run("nope")
    with pytest.raises(CommandError, match="Channel 'shop' is shopify, not amazon"):
        run("shop")
    assert not handle.sandbox.requests()


def test_a_channel_without_seller_id_is_refused_before_any_call(handle):
    amazon_channel(handle, seller_id="")

    with pytest.raises(CommandError, match="needs its seller id"):
        run("amazon-us")
    assert not handle.sandbox.requests()
    assert not Listing.objects.exists()


def test_amazon_failing_past_the_attempts_is_an_error_and_creates_nothing(seller, settings):
    settings.AMAZON_MAX_ATTEMPTS = 2
    settings.AMAZON_BACKOFF = 0.01
    amazon_channel(seller)
    seller.sandbox.fail("searchListingsItems", status=503, count=2)

    with pytest.raises(CommandError, match="Amazon refused or failed"):
        run("amazon-us")
    assert len(seller.sandbox.requests("searchListingsItems")) == 2
    assert not Listing.objects.exists()


# --- the admin action --------------------------------------------------------------------------


@pytest.fixture
def admin_client_logged_in(client, django_user_model):
    admin = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(admin)
    return client


def run_action(client, *channels: Channel) -> list[str]:
    response = client.post(
        "/admin/channels/channel/",
        {"action": "import_mapping", "_selected_action": [c.pk for c in channels]},
        follow=True,
    )
    assert response.status_code == 200
    return [str(message) for message in response.context["messages"]]


def test_the_admin_action_imports_each_selected_channel_through_its_own_lane(
    seller, admin_client_logged_in
):
    channel = amazon_channel(seller)
    # A kind with no lane yet is named, not failed.
    store = ChannelFactory(code="store", kind=Channel.Kind.POS)

    messages = run_action(admin_client_logged_in, channel, store)

    assert messages == [
        "amazon-us: 2 listing(s) created, 0 already mapped, 1 unmatched.",
        "amazon-us: no SKU for seller SKU 'MYSTERY-1' "
        f"(ASIN {seller.sandbox.listing('MYSTERY-1')['asin']!r})",
        "store: this channel kind has no mapping import.",
    ]
    assert sorted(Listing.objects.values_list("external_id", flat=True)) == ["MUG-RED", "TEE-M"]


def test_the_admin_action_reports_an_amazon_failure(seller, admin_client_logged_in, settings):
    settings.AMAZON_MAX_ATTEMPTS = 1
    channel = amazon_channel(seller)
    seller.sandbox.fail("searchListingsItems", status=500, count=1)

    messages = run_action(admin_client_logged_in, channel)

    assert len(messages) == 1
    assert messages[0].startswith("amazon-us: Amazon refused or failed: ")
    assert not Listing.objects.exists()
