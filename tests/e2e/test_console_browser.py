"""The console in a real browser: login, live search through htmx, SKU detail."""

import shutil

import pytest
from django.contrib.auth.models import Group

from access.roles import Role
from tests.factories import ChannelFactory, ListingFactory, LocationFactory, SkuFactory

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser():
    # Playwright's sync API runs an event loop in this thread: the test data is made before
    # it starts (see `shop`), and the live server does its database work in its own thread.
    from playwright import sync_api

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


def viewer(django_user_model):
    """A person who reads every page (the console's least role)."""
    person = django_user_model.objects.create_user("ops", password="correct-horse")
    person.groups.add(Group.objects.get(name=Role.VIEWER))


@pytest.fixture
def shop(django_user_model, receive):
    viewer(django_user_model)
    warehouse = LocationFactory(code="WH-EAST")
    tee = SkuFactory(code="TEE-M", title="Organic tee")
    receive(tee, warehouse, 12)
    SkuFactory(code="MUG-WHT", title="Stoneware mug")
    ListingFactory(
        channel=ChannelFactory(code="amazon-us", name="Amazon US", is_marketplace=True), sku=tee
    )


def test_login_search_and_detail(shop, live_server, browser):
    # given the shop's data (made before the browser starts)
    page = browser.new_page()
    failed = []
    # A poll still in flight when the page moves on is aborted by the browser, not failed.
    page.on(
        "requestfailed",
        lambda request: request.failure == "net::ERR_ABORTED" or failed.append(request.url),
    )

    # when a person logs in
    page.goto(f"{live_server.url}/")
    page.fill("input[name=username]", "ops")
    page.fill("input[name=password]", "correct-horse")
    page.click("button[type=submit]")

    # then the dashboard shows the totals, with htmx loaded from our own static files
    assert page.text_content("#total-on-hand").strip() == "12"
    assert page.evaluate("typeof htmx") == "object"
    assert page.get_attribute("script[src*=htmx]", "src").startswith("/static/")

    # when they type in the SKU search, the table narrows without a page load
    page.goto(f"{live_server.url}/skus/")
    assert page.locator("#sku-table tbody tr").count() == 2
    page.type("input[name=q]", "mug")
    page.wait_for_function("document.querySelectorAll('#sku-table tbody tr').length === 1")
    assert page.text_content("#sku-table tbody tr td a").strip() == "MUG-WHT"
    assert page.url.endswith("/skus/?q=mug")

    # and the detail page shows balances per location and bucket
    page.goto(f"{live_server.url}/skus/TEE-M/")
    row = page.locator("#balances tbody tr").first
    assert row.locator("td[data-bucket=on_hand]").text_content().strip() == "12"
    assert row.locator("td[data-bucket=available]").text_content().strip() == "12"
    # and its listings panel arrives through htmx with the quantity and the reason for it
    panel = page.locator("#sku-listings tr[data-channel=amazon-us]")
    panel.wait_for()
    assert panel.locator("td[data-field=quantity]").text_content().strip() == "11"
    assert "slow tier default buffer 5 %" in panel.text_content()
    # a viewer is offered no halt form (an operator's action), and sees the SKU's history
    assert page.locator("#sku-listings form").count() == 0
    assert page.locator("#sku-listings .audit-trail").count() == 1
    assert failed == []


@pytest.fixture
def channels_with_state(django_user_model):
    from channels.models import Listing, PushAttempt

    viewer(django_user_model)
    shop = ChannelFactory(code="demo-shop", name="Demo shop")
    ListingFactory(channel=shop, sku=SkuFactory(code="IN-SYNC"), external_id="v-1")
    behind = ListingFactory(channel=shop, sku=SkuFactory(code="BEHIND"), external_id="v-2")
    Listing.objects.filter(pk=behind.pk).update(
        desired_quantity=4, desired_version=3, pushed_quantity=6, pushed_version=2
    )
    PushAttempt.objects.create(
        channel=shop, idempotency_key="k-1", status="acknowledged", latency_ms=420
    )


def test_channel_health_and_the_listings_not_in_sync(channels_with_state, live_server, browser):
    page = browser.new_page()
    page.goto(f"{live_server.url}/channels/")
    page.fill("input[name=username]", "ops")
    page.fill("input[name=password]", "correct-horse")
    page.click("button[type=submit]")
    # the health row shows the push latency of the last hour
    row = page.locator("#channel-health tr[data-channel=demo-shop]")
    assert row.locator("td[data-field=p50]").text_content().strip() == "420 ms"
    # the channel's listings, then only those not in sync, swapped in by htmx
    row.locator("a").click()
    page.wait_for_selector("tr[data-listing=v-2]")
    assert page.locator("#listing-table tbody tr").count() == 2
    page.click("text=Not in sync")
    page.wait_for_function("document.querySelectorAll('#listing-table tbody tr').length === 1")
    behind = page.locator("tr[data-listing=v-2]")
    assert behind.locator("td[data-field=desired]").text_content().strip() == "4"
    assert behind.locator("td[data-field=expected]").text_content().strip() == "6"
    assert page.url.endswith("?show=differing")
