import re
from urllib.parse import quote

import pytest
from django.apps import apps
from django.urls import reverse

from ledger import services
from ledger.models import Location
from ledger.rules import EventLine
from tests.factories import SkuFactory


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def admin_client_logged_in(client, django_user_model):
    admin = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(admin)
    return client


def record(kind, sku, location, quantity, *, key):
    return services.record_event(
        kind=kind,
        lines=[EventLine(sku=sku, location=location, quantity=quantity)],
        idempotency_key=key,
        source="test",
    )


def partial_of(html, element_id):
    """The element with this id must be the whole response, not part of a page."""
    stripped = html.strip()
    return stripped.startswith(f'<div id="{element_id}">') and stripped.endswith("</div>")


CONSOLE_PAGES = ["/", "/skus/", "/skus/TEE-M/", "/skus/TEE-M/?page=2"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", CONSOLE_PAGES)
def test_console_pages_redirect_to_login_when_logged_out(client, sku, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={quote(path, safe='/')}"


@pytest.mark.django_db
def test_htmx_requests_send_the_whole_page_to_login_when_logged_out(client, sku):
    # a plain 302 would be followed by htmx and the login page swapped into #sku-table
    response = client.get(
        "/skus/",
        {"q": "te"},
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/skus/?q=t"},
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"{reverse('login')}?next=/skus/%3Fq%3Dt"
    assert response.content == b""


@pytest.mark.django_db
def test_login_page_renders(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'name="username"' in response.content


def test_dashboard_shows_totals(logged_in, sku, warehouse, store, receive):
    # given 1,200 + 34 on hand, 4 committed and 5 reserved
    receive(sku, warehouse, 1200)
    receive(sku, store, 34)
    record("sale", "TEE-M", "WH-EAST", 4, key="sale")
    record("reserve", "TEE-M", "STORE-SOHO", 5, key="hold")
    SkuFactory(code="MUG-WHT")
    # when
    response = logged_in.get("/")
    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'id="total-on-hand">1,234<', html)
    assert re.search(r'id="total-available">1,225<', html)
    assert re.search(r'id="total-skus">2<', html)
    assert "Nothing oversold." in logged_in.get("/oversold/").content.decode()


def test_dashboard_lists_oversold_accounts(logged_in, sku, warehouse, receive):
    receive(sku, warehouse, 2)
    record("sale", "TEE-M", "WH-EAST", 5, key="oversell")

    # loaded by the dashboard after the page
    assert 'hx-get="/oversold/"' in logged_in.get("/").content.decode()
    html = logged_in.get("/oversold/").content.decode()

    assert "Nothing oversold." not in html
    assert "<html" not in html
    assert 'href="/skus/TEE-M/"' in html
    assert '<td class="num negative">-3</td>' in html


def test_sku_list_search_filters(logged_in, sku, warehouse, receive):
    SkuFactory(code="MUG-WHT", title="Stoneware mug")
    receive(sku, warehouse, 7)

    everything = logged_in.get("/skus/").content.decode()
    found = logged_in.get("/skus/", {"q": "mug"}).content.decode()

    assert ">TEE-M</a>" in everything
    assert ">MUG-WHT</a>" in everything
    assert ">MUG-WHT</a>" in found
    assert ">TEE-M</a>" not in found
    assert "1 SKU matching" in found


def test_sku_list_search_with_nothing_found(logged_in, sku):
    html = logged_in.get("/skus/", {"q": "zzz"}).content.decode()
    assert "No SKUs found." in html
    assert ">TEE-M</a>" not in html


@pytest.mark.parametrize("query", ["%", "_", "'", "x" * 500])
def test_sku_list_search_survives_odd_input(logged_in, sku, query):
    response = logged_in.get("/skus/", {"q": query})
    assert response.status_code == 200


@pytest.mark.parametrize("query", ["\x00", "a\x00b", "a\x1bb"])
def test_sku_list_search_with_a_control_character_is_a_bad_request(logged_in, sku, query):
    assert logged_in.get("/skus/", {"q": query}).status_code == 400


def test_sku_list_htmx_request_returns_only_the_table(logged_in, sku):
    SkuFactory(code="MUG-WHT")

    response = logged_in.get("/skus/", {"q": "TEE"}, headers={"HX-Request": "true"})

    assert response.status_code == 200
    html = response.content.decode()
    assert partial_of(html, "sku-table")
    assert "<html" not in html
    assert ">TEE-M</a>" in html
    assert ">MUG-WHT</a>" not in html
    assert "HX-Request" in response["Vary"]


def test_sku_list_full_page_varies_on_htmx_too(logged_in, sku):
    # A browser must not serve a cached partial as the page after "back" (htmx docs).
    response = logged_in.get("/skus/")
    assert "<html" in response.content.decode()
    assert "HX-Request" in response["Vary"]


def test_sku_list_history_restore_returns_the_full_page(logged_in, sku):
    response = logged_in.get(
        "/skus/", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in response.content.decode()


def test_sku_list_paginates(logged_in):
    for n in range(51):
        SkuFactory(code=f"SKU-{n:03d}")

    first = logged_in.get("/skus/").content.decode()
    second = logged_in.get("/skus/", {"page": 2}).content.decode()

    assert "Page 1 of 2" in first
    assert ">SKU-049</a>" in first
    assert ">SKU-050</a>" not in first
    assert ">SKU-050</a>" in second
    assert logged_in.get("/skus/", {"page": "junk"}).status_code == 200
    assert logged_in.get("/skus/", {"page": 99}).status_code == 200


def test_sku_detail_shows_balances_per_location_and_bucket(
    logged_in, sku, warehouse, store, receive
):
    receive(sku, warehouse, 10)
    receive(sku, store, 3)
    record("sale", "TEE-M", "WH-EAST", 4, key="sale")

    response = logged_in.get("/skus/TEE-M/")

    assert response.status_code == 200
    html = response.content.decode()
    table = html[html.index('<table id="balances">') : html.index("</table>")]
    rows = re.findall(r"<tr>\s*<td>(\S+) .*?</tr>", table, re.S)
    assert rows == ["STORE-SOHO", "WH-EAST"]
    warehouse_row = table[table.index("<td>WH-EAST") :]
    cells = dict(re.findall(r'data-bucket="(\w+)">(-?\d+)<', warehouse_row.split("</tr>")[0]))
    assert cells == {
        "on_hand": "10",
        "committed": "4",
        "reserved": "0",
        "incoming": "0",
        "unsellable": "0",
        "available": "6",
    }


def test_sku_detail_without_stock_says_so(logged_in, sku):
    html = logged_in.get("/skus/TEE-M/").content.decode()
    assert "No stock recorded for this SKU yet." in html
    assert "No ledger entries yet." in html


def test_sku_detail_ledger_history_is_paginated(logged_in, sku, warehouse):
    # given 30 receipts: 25 entries on page 1 (newest first), 5 on page 2
    for n in range(30):
        record("receipt", "TEE-M", "WH-EAST", n + 1, key=f"r-{n}")

    first = logged_in.get("/skus/TEE-M/").content.decode()
    second = logged_in.get("/skus/TEE-M/", {"page": 2}).content.decode()

    def deltas(html):
        history = html[html.index('<div id="ledger-history">') :]
        return [int(d) for d in re.findall(r'<td class="num">\+(\d+)</td>', history)]

    assert deltas(first) == list(range(30, 5, -1))
    assert deltas(second) == [5, 4, 3, 2, 1]
    assert "Page 1 of 2" in first
    assert "Page 2 of 2" in second
    assert "<html" in second


def test_sku_detail_htmx_history_request_returns_only_the_partial(logged_in, sku, warehouse):
    for n in range(30):
        record("receipt", "TEE-M", "WH-EAST", n + 1, key=f"r-{n}")

    response = logged_in.get(
        "/skus/TEE-M/",
        {"page": 2},
        headers={"HX-Request": "true", "HX-Target": "ledger-history"},
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert partial_of(html, "ledger-history")
    assert "<html" not in html
    assert "Page 2 of 2" in html
    assert 'id="balances"' not in html
    assert {"HX-Request", "HX-Target"} <= {v.strip() for v in response["Vary"].split(",")}


def test_sku_detail_htmx_request_for_another_target_gets_the_page(logged_in, sku):
    response = logged_in.get("/skus/TEE-M/", headers={"HX-Request": "true"})
    assert "<html" in response.content.decode()


@pytest.mark.parametrize("path", ["/skus/NOPE/", "/skus/%20x/"])
def test_unknown_sku_is_404(logged_in, path):
    assert logged_in.get(path).status_code == 404


def test_a_sku_path_with_a_nul_is_a_bad_request(logged_in):
    assert logged_in.get("/skus/A%00B/").status_code == 400


def test_sku_code_with_markup_is_escaped(logged_in, warehouse):
    SkuFactory(code="<b>X", title="<script>alert(1)</script>")
    html = logged_in.get("/skus/").content.decode()
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert logged_in.get("/skus/%3Cb%3EX/").status_code == 200


def test_base_layout_loads_htmx_locally_and_sends_csrf_header(logged_in):
    html = logged_in.get("/").content.decode()

    scripts = re.findall(r'<script[^>]*src="([^"]+)"', html)
    assert any(re.fullmatch(r"/static/django_htmx/htmx-2(\.min)?\.js", src) for src in scripts)
    assert all(src.startswith("/static/") for src in scripts)  # not //host/ nor https://
    for cdn in ("unpkg.com", "cdn.jsdelivr.net", "cdnjs.cloudflare.com"):
        assert cdn not in html
    body = re.search(r"<body([^>]*)>", html).group(1)
    token = re.search(r"""hx-headers='\{"x-csrftoken": "([^"]+)"\}'""", body)
    assert token is not None
    assert len(token.group(1)) == 64


def test_vendored_htmx_is_served(logged_in):
    response = logged_in.get("/static/django_htmx/htmx-2.min.js")
    assert response.status_code == 200


# --- admin ----------------------------------------------------------------------------------

ADMIN_MODELS = ["sku", "location", "inventoryevent", "ledgerentry", "balance"]


@pytest.mark.parametrize("model", ADMIN_MODELS)
def test_admin_changelists_load(admin_client_logged_in, sku, warehouse, receive, model):
    receive(sku, warehouse, 5)
    response = admin_client_logged_in.get(f"/admin/ledger/{model}/")
    assert response.status_code == 200


def test_admin_event_detail_is_read_only_and_shows_entries(
    admin_client_logged_in, sku, warehouse, receive
):
    event = receive(sku, warehouse, 5).event

    response = admin_client_logged_in.get(f"/admin/ledger/inventoryevent/{event.pk}/change/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="_save"' not in html
    assert "TEE-M" in html


@pytest.mark.parametrize("model", ["inventoryevent", "ledgerentry", "balance"])
def test_admin_cannot_add_change_or_delete_ledger_rows(
    admin_client_logged_in, sku, warehouse, receive, model
):
    receive(sku, warehouse, 5)
    row = apps.get_model("ledger", model).objects.get()

    assert admin_client_logged_in.get(f"/admin/ledger/{model}/add/").status_code == 403
    assert admin_client_logged_in.get(f"/admin/ledger/{model}/{row.pk}/delete/").status_code == 403
    assert (
        admin_client_logged_in.post(f"/admin/ledger/{model}/{row.pk}/change/", {}).status_code
        == 403
    )
    changelist = admin_client_logged_in.get(f"/admin/ledger/{model}/").content.decode()
    assert f"/admin/ledger/{model}/add/" not in changelist
    assert 'name="action"' not in changelist  # no bulk delete action either


def test_admin_can_add_a_sku_and_a_location(admin_client_logged_in):
    assert admin_client_logged_in.get("/admin/ledger/sku/add/").status_code == 200
    response = admin_client_logged_in.post(
        "/admin/ledger/location/add/",
        {"code": "WH-WEST", "name": "West", "kind": "warehouse", "time_zone": "UTC"},
    )
    assert response.status_code == 302
    assert Location.objects.filter(code="WH-WEST").exists()


def test_admin_refuses_a_staff_user_without_permissions(client, django_user_model):
    staff = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    client.force_login(staff)
    assert client.get("/admin/ledger/sku/").status_code == 403


@pytest.mark.django_db
def test_admin_redirects_anonymous_users_to_its_login(client):
    response = client.get("/admin/ledger/sku/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_admin_cannot_rename_a_sku(admin_client_logged_in, sku):
    response = admin_client_logged_in.post(
        f"/admin/ledger/sku/{sku.pk}/change/",
        {"code": "TEE-X", "title": "Tee", "velocity_tier": "slow", "tags": "[]"},
    )
    assert response.status_code == 302
    sku.refresh_from_db()
    assert (sku.code, sku.title) == ("TEE-M", "Tee")
