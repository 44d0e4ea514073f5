"""An operator's day in a real browser against two Shopify sandbox shops over HTTP: a drifted
listing seen on the dashboard and halted, the halt released, a receipt scanned by barcode, a
quarantined variant fixed in place, a return graded; and a viewer who can do none of it.

Screenshots of every main page are saved in E2E_ARTEFACTS (default var/e2e/).

The world is built before the browser starts and moved on in a helper thread between steps:
Playwright's sync API runs an event loop in the test's thread, where Django refuses database
work. `settle()` delivers the shops' webhooks, ingests, plans and pushes until all is quiet,
so the test sees what the sandboxes show without waiting on a clock.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import connection

from access.roles import Role
from channels.lanes.shopify.lane import ShopifyLane
from channels.models import Channel, ChannelOrder, ChannelOrderLine, ChannelReturn, Listing
from ledger.models import Balance, Sku
from reconciliation.confirm import confirm_phase
from reconciliation.models import Drift
from reconciliation.runs import read_phase, start_run
from tests.channels.shopify_world import CLIENT_OPTIONS, World
from tests.e2e.test_console_browser import browser  # noqa: F401 — the fixture
from tests.factories import ChannelFactory, LocationFactory, SkuFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ARTEFACTS = Path(os.environ.get("E2E_ARTEFACTS", "var/e2e"))
BARCODE = "4006381333931"
PASSWORD = "correct-horse"


def in_thread(work):
    """Run database work outside Playwright's event loop; its result, or its exception."""
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = work()
        except BaseException as error:  # noqa: BLE001 — raised again in the test's thread
            outcome["error"] = error
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def lanes(channel):
    return ShopifyLane(**CLIENT_OPTIONS)


@pytest.fixture
def day(live_server, receive, person_of):
    person_of(Role.OPERATOR, "ops", password=PASSWORD)
    person_of(Role.VIEWER, "reader", password=PASSWORD)
    warehouse = LocationFactory(code="WH-EAST")
    receive(SkuFactory(code="TEE-M", title="Organic tee", barcode=BARCODE), warehouse, 40)
    receive(SkuFactory(code="MUG-RED", title="Red mug"), warehouse, 99)
    world = World(live_server.url)
    a = world.open_shop(
        "shop-a", stock={"TEE-M": 40, "MUG-RED": 99, "SCARF-X": 5}, location=warehouse, seed=1
    )
    b = world.open_shop("shop-b", stock={"TEE-M": 40, "MUG-RED": 99}, location=warehouse, seed=2)
    world.settle()
    # Someone adds two mugs in shop B's admin: a small drift, found and resynced by a run.
    mug_b = Listing.objects.get(channel=b.channel, sku__code="MUG-RED")
    b.sandbox.admin_edit("MUG-RED", b.location_gid, available=mug_b.desired_quantity + 2)
    world.settle()
    run = read_phase(start_run(channel=b.channel), lanes=lanes)
    confirm_phase(run, now=run.confirm_after, lanes=lanes)
    assert Drift.objects.get(listing=mug_b).resolution == Drift.Resolution.RESYNCED
    world.settle()
    # Shop A sells a scarf our catalogue does not know: the order waits in quarantine.
    a.sandbox.sell("SCARF-X", 1)
    world.settle()
    yield world, a, b, mug_b, _a_return_to_grade(warehouse)
    world.close()


def _a_return_to_grade(warehouse) -> ChannelReturn:
    placed = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    amazon = ChannelFactory(
        code="amazon-us", kind=Channel.Kind.AMAZON, region="NA", default_location=warehouse
    )
    order = ChannelOrder.objects.create(
        channel=amazon, external_id="111-0001", name="111-0001", placed_at=placed,
        channel_updated_at=placed, status=ChannelOrder.Status.OPEN,
    )  # fmt: skip
    tee = Sku.objects.get(code="TEE-M")
    ChannelOrderLine.objects.create(
        order=order, external_id="1", sku=tee, location=warehouse, quantity=1, current_quantity=1
    )
    return ChannelReturn.objects.create(
        channel=amazon, dedupe_key="111-0001:TEE-M", order=order, order_external_id="111-0001",
        sku=tee, channel_sku="TEE-M", quantity=1, fulfilment="merchant", returned_at=placed,
        handling=ChannelReturn.Handling.AWAITING_GRADING,
    )  # fmt: skip


def log_in(browser, url: str, name: str):  # noqa: F811 — the fixture's value
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{url}/")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#signals")
    return page


def shoot(page, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)


def on_hand(code: str) -> int:
    row = Balance.objects.filter(sku__code=code, location__code="WH-EAST", bucket="on_hand")
    return row.values_list("quantity", flat=True).first() or 0


def desired(shop, code: str) -> int:
    return Listing.objects.get(channel=shop.channel, sku__code=code).desired_quantity


def test_a_viewer_sees_the_day_and_can_change_none_of_it(day, live_server, browser):  # noqa: F811
    world, a, b, mug_b, waiting_return = day
    page = log_in(browser, live_server.url, "reader")
    assert page.locator(f"[data-signal='recent-drift:{mug_b.pk}']").count() == 1
    assert page.locator("nav a[href='/stock/']").count() == 0
    page.goto(f"{live_server.url}/stock/")
    assert page.locator("#stock-form form").count() == 0
    page.goto(f"{live_server.url}/channels/quarantine/")
    assert page.locator("tr[data-item='SCARF-X']").count() == 1
    assert page.locator("main form[method=post]").count() == 0
    page.goto(f"{live_server.url}/skus/MUG-RED/")
    page.wait_for_selector("#sku-listings table")
    assert page.locator("#sku-listings form").count() == 0
    page.goto(f"{live_server.url}/returns/")
    assert page.locator(f"form[data-grade='{waiting_return.pk}']").count() == 0
    page.goto(f"{live_server.url}/reconciliation/halts/")
    assert page.locator("form[method=post]:not(.logout)").count() == 0
    # and the forms' POSTs, sent by hand with a valid session and CSRF token, are refused
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    forged = {
        "/stock/": {"kind": "receipt", "sku": "TEE-M", "quantity": "5", "token": "x" * 32},
        "/reconciliation/halts/": {"sku": "MUG-RED", "channel": "shop-b", "reason": "no"},
        "/channels/quarantine/fix/": {"channel": "shop-a", "sku": "SCARF-X", "action": "create"},
        f"/returns/{waiting_return.pk}/grade/": {"outcome": "restock", "location": "WH-EAST"},
    }
    for path, form in forged.items():
        answer = page.request.post(
            f"{live_server.url}{path}", form=form, headers={"X-CSRFToken": token}
        )
        assert answer.status == 403, path
    assert in_thread(lambda: on_hand("TEE-M")) == 40
    assert b.available("MUG-RED") == in_thread(lambda: desired(b, "MUG-RED"))


def test_an_operators_day(day, live_server, browser):  # noqa: F811
    world, a, b, mug_b, waiting_return = day
    url = live_server.url
    page = log_in(browser, url, "ops")
    shoot(page, "dashboard")

    # the dashboard names the drifted listing; it opens the SKU's page
    page.click(f"[data-signal='recent-drift:{mug_b.pk}'] a")
    page.wait_for_selector("#sku-listings form")
    assert page.url.endswith("/skus/MUG-RED/")
    shoot(page, "sku-detail")

    # halted on shop B with a reason: shop B shows 0, shop A keeps selling
    page.select_option("#halt-channel", "shop-b")
    page.fill("#sku-listings input[name=reason]", "shop B's admin was edited by hand")
    page.click("#sku-listings button:text('Halt')")
    page.wait_for_selector("#sku-listings [data-halt]")
    in_thread(world.settle)
    assert b.available("MUG-RED") == 0
    assert a.available("MUG-RED") == in_thread(lambda: desired(a, "MUG-RED")) > 0

    # released on the halts page: shop B shows the mugs again
    page.goto(f"{url}/reconciliation/halts/")
    shoot(page, "halts")
    page.fill("input[aria-label='release reason']", "shop admin checked")
    page.click("button:text('Release')")
    page.wait_for_selector("input[aria-label='release reason']", state="detached")
    in_thread(world.settle)
    assert b.available("MUG-RED") == in_thread(lambda: desired(b, "MUG-RED")) > 0

    # a receipt scanned by barcode, Enter to submit: both shops follow
    before = (a.available("TEE-M"), b.available("TEE-M"))
    page.goto(f"{url}/stock/")
    page.fill("input[name=sku]", BARCODE)
    for key in ("5", "back", "1", "2"):  # the quantity pad, as on a tablet
        page.click(f"[data-pad-key='{key}']")
    assert page.input_value("input[name=quantity]") == "12"
    page.press("input[name=quantity]", "Enter")
    page.wait_for_selector("[data-field=done]")
    shoot(page, "stock")
    in_thread(world.settle)
    assert in_thread(lambda: on_hand("TEE-M")) == 52
    after = (a.available("TEE-M"), b.available("TEE-M"))
    assert after == in_thread(lambda: (desired(a, "TEE-M"), desired(b, "TEE-M")))
    assert after[0] > before[0]
    assert after[1] > before[1]

    # the quarantined scarf is created from its row, and its order applies at once
    page.goto(f"{url}/channels/quarantine/")
    shoot(page, "quarantine")
    row = page.locator("tr[data-item='SCARF-X']")
    row.locator("input[name=title]").fill("Wool scarf")
    row.locator("button[value=create]").click()
    page.wait_for_selector(".messages .success")
    assert "1 applied" in page.text_content(".messages")
    assert page.locator("tr[data-item='SCARF-X']").count() == 0
    order = in_thread(lambda: ChannelOrder.objects.get(channel=a.channel))
    page.goto(f"{url}/orders/{order.pk}/")
    assert "SCARF-X" in page.text_content("main")
    shoot(page, "order-detail")

    # a return graded back to stock
    page.goto(f"{url}/returns/")
    shoot(page, "returns")
    grade = page.locator(f"form[data-grade='{waiting_return.pk}']")
    grade.locator("select[name=outcome]").select_option("restock")
    grade.locator("button[type=submit]").click()
    page.wait_for_selector(".messages .success")
    assert in_thread(lambda: on_hand("TEE-M")) == 53

    for name, path in MAIN_PAGES:
        page.goto(f"{url}{path}")
        shoot(page, name)
    assert all((ARTEFACTS / f"{name}.png").stat().st_size for name, _ in MAIN_PAGES)
    # on a tablet on the warehouse floor: the stock form and its pad fit the width
    page.set_viewport_size({"width": 820, "height": 1180})
    page.goto(f"{url}/stock/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 820
    assert page.locator("[data-pad-key='7']").bounding_box()["width"] >= 40
    shoot(page, "tablet-stock")


MAIN_PAGES = [
    ("skus", "/skus/"),
    ("channels", "/channels/"),
    ("channel-detail", "/channels/shop-a/"),
    ("orders", "/orders/"),
    ("incidents", "/incidents/"),
    ("drift", "/reconciliation/drift/"),
    ("reconciliation", "/reconciliation/"),
    ("audit", "/audit/"),
]
