"""The reconciliation console: runs, drift review, halts, the dead-man switch, cycle-count
discrepancies, and the pieces of them on the dashboard, SKU and channel pages."""

import pytest
from django.urls import reverse
from django.utils import timezone

from allocation import services as allocation_services
from allocation.models import SalesHalt
from channels.models import Channel, Listing
from inventory_sync.celery import app as celery_app
from ledger.models import Balance
from reconciliation.models import (
    CycleCountDiscrepancy,
    DeadManEpisode,
    Drift,
    ReconciliationRun,
)
from reconciliation.views import drift_chart
from tests.factories import ChannelFactory, ListingFactory, SkuFactory

PAGES = [
    "reconciliation:runs",
    "reconciliation:drift",
    "reconciliation:halts",
    "reconciliation:dead-man",
    "reconciliation:dead-man-summary",
    "reconciliation:discrepancies",
]


def make_drift(sku, *, channel="shop", expected=10, observed=6, resolution="open", cause="unknown"):
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
        cause=cause,
        resolution=resolution,
    )


def htmx_post(client, url, data):
    return client.post(url, data, HTTP_HX_REQUEST="true")


# --- pages and logins -----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("name", PAGES)
def test_pages_render_for_a_logged_in_user(client, user, sku, name):
    make_drift(sku)
    ReconciliationRun.objects.create(trigger="manual", status="done", listings_checked=4)
    client.force_login(user)
    response = client.get(reverse(name))
    assert response.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("name", PAGES)
def test_pages_send_anonymous_people_to_the_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_an_expired_session_under_htmx_redirects_the_whole_page(client):
    response = client.get(reverse("reconciliation:drift"), HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_anonymous_actions_change_nothing(client, sku):
    drift = make_drift(sku)
    client.post(reverse("reconciliation:drift-resolve", args=[drift.pk]), {"action": "resync"})
    assert Drift.objects.get(pk=drift.pk).resolution == "open"


# --- runs -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_reconcile_now_creates_a_run_and_queues_it_after_commit(
    client, user, django_capture_on_commit_callbacks, monkeypatch
):
    ChannelFactory(code="shop", mode="live")
    client.force_login(user)
    with django_capture_on_commit_callbacks() as queued:
        response = htmx_post(client, reverse("reconciliation:runs"), {"channel": "shop"})
    run = ReconciliationRun.objects.get()
    assert (run.trigger, run.status, run.channel.code, run.requested_by) == (
        "manual",
        "reading",
        "shop",
        "ops",
    )
    row = response.content.decode()
    assert f'id="run-{run.pk}"' in row
    assert 'hx-trigger="every 2s"' in row  # the new row polls itself while the worker reads
    assert "<html" not in row
    assert len(queued) == 1
    # The queued task is the worker's read of this very run.
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", True)
    queued[0]()
    run.refresh_from_db()
    assert run.status == "waiting"  # read; the confirm phase waits out the grace window
    polled = client.get(reverse("reconciliation:run-row", args=[run.pk])).content.decode()
    assert 'data-status="waiting"' in polled


@pytest.mark.django_db
def test_a_finished_run_row_stops_polling(client, user):
    run = ReconciliationRun.objects.create(trigger="schedule", status="done", listings_checked=9)
    client.force_login(user)
    row = client.get(reverse("reconciliation:run-row", args=[run.pk])).content.decode()
    assert 'data-status="done"' in row
    assert "hx-trigger" not in row


@pytest.mark.django_db
def test_reconcile_now_refuses_an_unknown_channel(client, user, django_capture_on_commit_callbacks):
    client.force_login(user)
    with django_capture_on_commit_callbacks() as queued:
        response = client.post(reverse("reconciliation:runs"), {"channel": "nope"})
    assert response.status_code == 302
    assert not ReconciliationRun.objects.exists()
    assert queued == []


def test_drift_chart_puts_every_channel_on_one_scale():
    runs = [
        {"id": 1, "channels": {"shop": {"checked": 10, "drifted": 1}}},
        {"id": 2, "channels": {"shop": {"checked": 10, "drifted": 0}, "amazon": {"checked": 5}}},
        {"id": 3, "channels": {"shop": {"checked": 0}, "amazon": {"checked": 5, "drifted": 1}}},
    ]
    chart = drift_chart(runs)
    assert chart.top == 20.0
    assert [series.channel for series in chart.series] == ["amazon", "shop"]
    amazon, shop = chart.series
    assert [(x, y, run_id) for x, y, run_id, _ in amazon.dots] == [
        ("150.0", "60.0", 2),
        ("300.0", "0.0", 3),
    ]
    assert shop.points == "0.0,30.0 150.0,60.0"  # run 3 checked nothing on shop: no dot
    assert (shop.latest, shop.mean) == (0.0, 5.0)


@pytest.mark.django_db
def test_the_runs_page_draws_drift_rate_per_channel(client, user):
    ReconciliationRun.objects.create(
        trigger="schedule",
        status="done",
        listings_checked=20,
        drifted=2,
        channels={"shop": {"checked": 20, "drifted": 2}},
    )
    client.force_login(user)
    page = client.get(reverse("reconciliation:runs")).content.decode()
    assert '<tr data-channel="shop">' in page
    assert "<polyline" in page
    assert "10.00 %" in page


# --- drift ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_drift_is_filtered_by_listing_as_the_alerts_link_it(client, user, sku):
    mine = make_drift(sku, channel="shop")
    other = make_drift(sku, channel="amazon-us")
    client.force_login(user)
    page = client.get(
        reverse("reconciliation:drift"), {"listing": mine.listing_id}
    ).content.decode()
    assert f'data-drift="{mine.pk}"' in page
    assert f'data-drift="{other.pk}"' not in page
    by_channel = client.get(
        reverse("reconciliation:drift"), {"channel": "amazon-us", "resolution": "unresolved"}
    ).content.decode()
    assert f'data-drift="{other.pk}"' in by_channel
    assert f'data-drift="{mine.pk}"' not in by_channel


@pytest.mark.django_db
def test_resync_from_the_console_makes_the_listing_due_again(client, user, sku):
    drift = make_drift(sku, expected=10, observed=6)
    client.force_login(user)
    response = htmx_post(
        client, reverse("reconciliation:drift-resolve", args=[drift.pk]), {"action": "resync"}
    )
    drift.refresh_from_db()
    assert (drift.resolution, drift.resolved_by) == ("resynced", "ops")
    listing = Listing.objects.get(pk=drift.listing_id)
    # Due again, compared from what we expect: a stale answer is the pusher's to settle (I6).
    assert (listing.pushed_quantity, listing.pushed_version) == (10, 0)
    row = response.content.decode()
    assert f'id="drift-{drift.pk}"' in row
    assert "<form" not in row  # nothing left to do


@pytest.mark.django_db
def test_halt_from_the_console_opens_a_halt_on_the_channel(client, user, sku):
    drift = make_drift(sku, channel="shop")
    client.force_login(user)
    response = htmx_post(
        client,
        reverse("reconciliation:drift-resolve", args=[drift.pk]),
        {"action": "halt", "reason": "shows 6, we expect 10"},
    )
    drift.refresh_from_db()
    assert drift.resolution == "halted"
    halt = SalesHalt.objects.get()
    assert (halt.sku, halt.channel.code, halt.created_by) == (sku, "shop", "ops")
    assert drift.halt == halt
    assert "halts-changed" in response["HX-Trigger"]


@pytest.mark.django_db
def test_adopt_from_the_console_counts_the_channels_number(client, user, sku, warehouse, receive):
    receive(sku, warehouse, 10)
    drift = make_drift(sku, expected=10, observed=6)
    client.force_login(user)
    htmx_post(
        client,
        reverse("reconciliation:drift-resolve", args=[drift.pk]),
        {"action": "adopt", "reason": "counted 6 on the shelf"},
    )
    drift.refresh_from_db()
    assert drift.resolution == "adopted"
    assert drift.event.kind == "cycle_count"
    on_hand = Balance.objects.get(sku=sku, location=warehouse, bucket="on_hand").quantity
    assert on_hand == 6


@pytest.mark.django_db
def test_dismiss_needs_a_reason_and_says_so_in_the_row(client, user, sku):
    drift = make_drift(sku)
    client.force_login(user)
    url = reverse("reconciliation:drift-resolve", args=[drift.pk])
    refused = htmx_post(client, url, {"action": "dismiss", "reason": "  "})
    assert refused.status_code == 200
    assert "Say why: dismiss needs a reason." in refused.content.decode()
    assert Drift.objects.get(pk=drift.pk).resolution == "open"
    htmx_post(client, url, {"action": "dismiss", "reason": "test order"})
    drift.refresh_from_db()
    assert (drift.resolution, drift.resolution_reason) == ("dismissed", "test order")


@pytest.mark.django_db
def test_a_resolved_drift_refuses_a_second_action_inline(client, user, sku):
    drift = make_drift(sku, expected=10, observed=6, resolution="dismissed")
    client.force_login(user)
    response = htmx_post(
        client,
        reverse("reconciliation:drift-resolve", args=[drift.pk]),
        {"action": "halt", "reason": "late click"},
    )
    assert "already Dismissed" in response.content.decode()
    assert "HX-Trigger" not in response
    assert not SalesHalt.objects.exists()
    assert Listing.objects.get(pk=drift.listing_id).pushed_quantity == 10  # rolled back


@pytest.mark.django_db
def test_a_plain_form_post_returns_to_the_filtered_list(client, user, sku):
    drift = make_drift(sku)
    client.force_login(user)
    response = client.post(
        reverse("reconciliation:drift-resolve", args=[drift.pk]),
        {"action": "resync", "next": "/reconciliation/drift/?channel=shop"},
    )
    assert response["Location"] == "/reconciliation/drift/?channel=shop"
    outside = client.post(
        reverse("reconciliation:drift-resolve", args=[drift.pk]),
        {"action": "resync", "next": "https://evil.example/"},
    )
    assert outside["Location"] == reverse("reconciliation:drift")


# --- halts ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_halt_is_opened_with_a_reason_and_released_with_one(client, user, sku):
    ChannelFactory(code="shop")
    client.force_login(user)
    url = reverse("reconciliation:halts")
    refused = htmx_post(client, url, {"sku": sku.code, "channel": "shop", "reason": ""})
    assert "Say why: a halt needs a reason." in refused.content.decode()
    assert not SalesHalt.objects.exists()
    opened = htmx_post(client, url, {"sku": sku.code, "channel": "shop", "reason": "recall"})
    assert "halts-changed" in opened["HX-Trigger"]
    halt = SalesHalt.objects.get()
    assert (halt.channel.code, halt.reason, halt.created_by) == ("shop", "recall", "ops")

    release = reverse("reconciliation:halt-release", args=[halt.pk])
    kept = htmx_post(client, release, {"reason": ""})
    assert "Say why the halt can end." in kept.content.decode()
    assert SalesHalt.objects.get().released_at is None
    htmx_post(client, release, {"reason": "recall withdrawn"})
    halt.refresh_from_db()
    assert (halt.released_by, halt.release_reason) == ("ops", "recall withdrawn")


@pytest.mark.django_db
def test_releasing_a_halt_resolves_the_drift_it_held(client, user, sku):
    drift = make_drift(sku)
    client.force_login(user)
    htmx_post(
        client,
        reverse("reconciliation:drift-resolve", args=[drift.pk]),
        {"action": "halt", "reason": "big gap"},
    )
    halt = SalesHalt.objects.get()
    client.post(reverse("reconciliation:halt-release", args=[halt.pk]), {"reason": "fixed"})
    drift.refresh_from_db()
    assert drift.resolution == "resolved"


@pytest.mark.django_db
def test_an_unknown_sku_is_refused_by_name(client, user):
    client.force_login(user)
    response = client.post(reverse("reconciliation:halts"), {"sku": "NOPE", "reason": "x"})
    assert response.status_code == 302
    assert not SalesHalt.objects.exists()


@pytest.mark.django_db
def test_the_sku_page_shows_active_halts_and_offers_a_halt_form(client, user, sku):
    ListingFactory(channel=ChannelFactory(code="shop"), sku=sku)
    halt = allocation_services.halt_create(sku=sku, channel_id=None, reason="recall", actor="a")
    released = allocation_services.halt_create(sku=sku, channel_id=None, reason="old", actor="a")
    allocation_services.halt_release(halt=released, actor="a", reason="done")
    client.force_login(user)
    panel = client.get(
        reverse("channels:sku-listings", args=[sku.code]), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert f'data-halt="{halt.pk}"' in panel
    assert "halted on every channel" in panel
    assert f'data-halt="{released.pk}"' not in panel
    assert f'hx-post="{reverse("reconciliation:halts")}"' in panel
    assert '<option value="shop">shop</option>' in panel
    assert 'hx-trigger="halts-changed from:body"' in panel  # reloads after a halt changes


@pytest.mark.django_db
def test_the_channel_page_shows_its_halts(client, user, sku):
    shop = ChannelFactory(code="shop")
    ListingFactory(channel=shop, sku=sku, external_id="v1")
    halt = allocation_services.halt_create(sku=sku, channel_id=shop.pk, reason="r", actor="a")
    elsewhere = allocation_services.halt_create(
        sku=sku, channel_id=ChannelFactory(code="amazon-us").pk, reason="r", actor="a"
    )
    client.force_login(user)
    page = client.get(reverse("channels:channel-detail", args=["shop"])).content.decode()
    assert f'data-halt="{halt.pk}"' in page
    assert f'data-halt="{elsewhere.pk}"' not in page
    assert '<span class="badge bad">halted</span>' in page


# --- listings: FBA never due, observed differing flagged ------------------------------------


@pytest.mark.django_db
def test_an_fba_listing_never_shows_as_due(client, user, sku):
    amazon = ChannelFactory(code="amazon-us", kind="amazon")
    fba = ListingFactory(channel=amazon, sku=sku, external_id="TEE-FBA", fulfilment="fba")
    Listing.objects.filter(pk=fba.pk).update(desired_quantity=7, desired_version=3)
    client.force_login(user)
    url = reverse("channels:channel-detail", args=["amazon-us"])
    page = client.get(url).content.decode()
    row = page[page.index('data-listing="TEE-FBA"') :].split("</tr>")[0]
    assert "Amazon's count (FBA)" in row
    assert "due" not in row
    differing = client.get(url, {"show": "differing"}, HTTP_HX_REQUEST="true").content.decode()
    assert "TEE-FBA" not in differing
    panel = client.get(reverse("channels:sku-listings", args=[sku.code])).content.decode()
    assert "(due)" not in panel


@pytest.mark.django_db
def test_a_listing_showing_something_else_than_expected_is_flagged(client, user, sku):
    shop = ChannelFactory(code="shop")
    off = ListingFactory(channel=shop, sku=sku, external_id="v-off")
    Listing.objects.filter(pk=off.pk).update(
        pushed_quantity=10,
        channel_delta=-2,
        observed_quantity=5,
        desired_version=1,
        pushed_version=1,
    )
    calm = ListingFactory(channel=shop, sku=SkuFactory(code="CALM"), external_id="v-calm")
    Listing.objects.filter(pk=calm.pk).update(
        pushed_quantity=10,
        channel_delta=-2,
        observed_quantity=8,
        desired_version=1,
        pushed_version=1,
    )
    client.force_login(user)
    url = reverse("channels:channel-detail", args=["shop"])
    page = client.get(url).content.decode()
    flagged = page[page.index('data-listing="v-off"') :].split("</tr>")[0]
    assert "shows 5, expected 8" in flagged
    assert f"?listing={off.pk}" in flagged
    calm_row = page[page.index('data-listing="v-calm"') :].split("</tr>")[0]
    assert "observed-differs" not in calm_row
    differing = client.get(url, {"show": "differing"}, HTTP_HX_REQUEST="true").content.decode()
    assert "v-off" in differing
    assert "v-calm" not in differing


# --- dead-man switch ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_tripped_switch_shows_on_the_dashboard_and_is_cleared_with_a_reason(client, user):
    shop = ChannelFactory(code="shop", mode="live", safety_quantity=2)
    ChannelFactory(code="quiet-shop", mode="live")
    Channel.objects.filter(pk=shop.pk).update(capped_since=timezone.now(), capped_reason="quiet")
    episode = DeadManEpisode.objects.create(channel=shop, reason="quiet", detail="nothing since")
    client.force_login(user)
    dashboard = client.get(reverse("ledger:dashboard")).content.decode()
    assert f'hx-get="{reverse("reconciliation:dead-man-summary")}"' in dashboard
    summary = client.get(reverse("reconciliation:dead-man-summary")).content.decode()
    assert '<tr data-channel="shop" data-state="tripped">' in summary
    assert "capped at 2" in summary
    assert '<tr data-channel="quiet-shop" data-state="ok">' in summary

    url = reverse("reconciliation:dead-man-clear", args=[episode.pk])
    kept = htmx_post(client, url, {"reason": ""})
    assert "Say why the channel can be trusted again." in kept.content.decode()
    assert DeadManEpisode.objects.get().cleared_at is None
    row = htmx_post(client, url, {"reason": "webhooks back"}).content.decode()
    episode.refresh_from_db()
    assert (episode.cleared_by, episode.clear_reason) == ("ops", "webhooks back")
    assert Channel.objects.get(pk=shop.pk).capped_since is None
    assert 'data-state="ok"' in row


# --- cycle-count discrepancies --------------------------------------------------------------


@pytest.mark.django_db
def test_a_discrepancy_is_reviewed_with_a_note(client, user, sku, warehouse, receive):
    recorded = receive(sku, warehouse, 10)
    item = CycleCountDiscrepancy.objects.create(
        event=recorded.event,
        sku=sku,
        location=warehouse,
        before=10,
        counted=5,
        delta=-5,
        percent=50,
    )
    client.force_login(user)
    page = client.get(reverse("reconciliation:discrepancies")).content.decode()
    assert f'data-discrepancy="{item.pk}"' in page
    url = reverse("reconciliation:discrepancy-review", args=[item.pk])
    assert "Say what the review found." in htmx_post(client, url, {"note": ""}).content.decode()
    htmx_post(client, url, {"note": "damaged box found"})
    item.refresh_from_db()
    assert (item.status, item.reviewed_by, item.review_note) == (
        "reviewed",
        "ops",
        "damaged box found",
    )


# --- admin ----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "model",
    [
        "reconciliation_reconciliationrun",
        "reconciliation_drift",
        "reconciliation_deadmanswitch",
        "reconciliation_deadmanepisode",
        "reconciliation_alertdestination",
        "reconciliation_alert",
        "reconciliation_cyclecountdiscrepancy",
    ],
)
def test_reconciliation_changelists_open_for_staff(admin_client, sku, model):
    make_drift(sku)
    assert admin_client.get(reverse(f"admin:{model}_changelist")).status_code == 200


@pytest.mark.django_db
def test_the_dead_man_switch_admin_sets_the_channels_safety_quantity(admin_client):
    shop = ChannelFactory(code="shop")
    response = admin_client.post(
        reverse("admin:reconciliation_deadmanswitch_add"),
        {
            "channel": shop.pk,
            "is_enabled": "on",
            "quiet_minutes": 45,
            "time_zone": "Europe/Paris",
            "opens_at": "09:00",
            "closes_at": "18:00",
            "weekdays": ["1", "2", "3"],
            "safety_quantity": 3,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    shop.refresh_from_db()
    assert shop.safety_quantity == 3
    assert shop.dead_man.weekdays == [1, 2, 3]
    assert shop.dead_man.time_zone == "Europe/Paris"


@pytest.mark.django_db
def test_the_halt_admin_release_action_asks_for_a_reason(admin_client, sku):
    halt = allocation_services.halt_create(sku=sku, channel_id=None, reason="r", actor="a")
    url = reverse("admin:allocation_saleshalt_changelist")
    asked = admin_client.post(url, {"action": "release_halts", "_selected_action": [halt.pk]})
    assert asked.status_code == 200
    assert 'name="release_reason"' in asked.content.decode()
    assert SalesHalt.objects.get().released_at is None
    admin_client.post(
        url,
        {
            "action": "release_halts",
            "_selected_action": [halt.pk],
            "apply": "1",
            "release_reason": "supplier confirmed",
        },
    )
    halt.refresh_from_db()
    assert (halt.released_by, halt.release_reason) == ("admin", "supplier confirmed")


@pytest.mark.django_db
def test_active_halts_are_paged_and_every_one_is_counted(client, user):
    shop = ChannelFactory(code="shop")
    for n in range(55):
        SalesHalt.objects.create(sku=SkuFactory(code=f"HALT-{n:02d}"), channel=shop, reason="x")
    client.force_login(user)

    first = client.get(reverse("reconciliation:halts")).content.decode()
    second = client.get(reverse("reconciliation:halts"), {"page": 2}).content.decode()

    assert "Active (55)" in first
    assert first.count('<tr id="halt-') == 50
    assert "Page 1 of 2" in first
    assert second.count('<tr id="halt-') == 5
    assert "HALT-00" in second  # newest first: the oldest halts on the last page
