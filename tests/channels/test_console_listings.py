import pytest

from tests.factories import ChannelFactory, ListingFactory


@pytest.mark.django_db
def test_the_sku_page_loads_its_listings_with_their_explanations(
    client, user, sku, warehouse, receive
):
    ListingFactory(channel=ChannelFactory(code="shopify", name="Shopify"), sku=sku)
    ListingFactory(
        channel=ChannelFactory(code="amazon-us", name="Amazon US", is_marketplace=True),
        sku=sku,
        external_id="TEE-M-US",
    )
    receive(sku, warehouse, 40)
    client.force_login(user)

    page = client.get("/skus/TEE-M/").content.decode()
    assert 'hx-get="/skus/TEE-M/listings/"' in page

    panel = client.get("/skus/TEE-M/listings/", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in panel
    assert 'data-channel="shopify"' in panel
    assert 'data-channel="amazon-us"' in panel
    assert "pool: WH-EAST 40" in panel
    assert "slow tier default buffer 5 %" in panel  # the marketplace gets the tier default
    assert "→ 38" in panel


@pytest.mark.django_db
def test_the_listings_panel_needs_a_login(client, sku):
    response = client.get("/skus/TEE-M/listings/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
