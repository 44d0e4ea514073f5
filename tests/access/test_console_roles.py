"""The role matrix over the console and the admin (I12).

Every console write, found by walking the URL patterns, is refused to a viewer (and to a person
with no role) with a 403 that stores nothing; an operator does it and the audit trail signs it
with the actor, the object before and after, and the reason. The reasons the console asks for
are required, and a missing one is a form error, never a 500. The admin keeps who opened and
released a halt, never deletes one, signs its changes, and refuses the operator the set-up.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from access.models import AuditEntry
from access.roles import Capability, Role
from allocation.models import OversellIncident, SalesHalt
from channels.models import (
    Channel,
    ChannelOrder,
    ChannelOrderLine,
    ChannelReturn,
    InboundEvent,
    Listing,
    MappingImport,
    OrderShipment,
)
from channels.orders import OrderLineSnapshot, OrderSnapshot, apply_order_snapshot
from channels.sandbox.shopify import serve_in_thread
from ledger.models import InventoryEvent, Location, Sku
from ledger.rules import EventLine
from ledger.services import record_event
from reconciliation.models import CycleCountDiscrepancy, DeadManEpisode, Drift, ReconciliationRun
from tests.access.urlwalk import project_views
from tests.factories import ListingFactory

pytestmark = pytest.mark.django_db

OUR_APPS = ("access", "ledger", "allocation", "channels", "reconciliation")


@dataclass
class World:
    sku: Sku
    warehouse: Location
    shop: Channel
    listing: Listing
    drift: Drift
    halt: SalesHalt
    episode: DeadManEpisode
    discrepancy: CycleCountDiscrepancy
    quarantined: InboundEvent
    incident: OversellIncident
    order: ChannelOrder
    waiting_return: ChannelReturn
    sandbox: object  # the Shopify sandbox the shop is live against
    sandbox_order_id: int

    def order_cancelled_on_shopify(self) -> bool:
        return self.sandbox.orders[self.sandbox_order_id].cancelled_at is not None


@pytest.fixture
def world(sku, warehouse, receive):
    """One of everything a console write acts on, on a shop live against the Shopify sandbox
    (the order cancel goes there over HTTP)."""
    receive(sku, warehouse, 10)
    handle = serve_in_thread(seed=12)
    # SCARF-X: sold on the shop, unknown to our catalogue (the quarantine's fix creates it).
    handle.sandbox.seed([{"sku": sku.code, "quantities": {}}, {"sku": "SCARF-X", "quantities": {}}])
    primary = handle.sandbox.primary_location()
    handle.sandbox.admin_edit(sku.code, primary.gid, available=5)
    sold = handle.sandbox.sell(sku.code, 1)
    shop = Channel(
        code="shop",
        name="Shop",
        kind="shopify",
        mode="live",
        api_base_url=handle.url,
        api_version="2026-04",
        external_location_id=primary.gid,
        default_location=warehouse,
    )
    shop.credentials = {"access_token": handle.access_token, "webhook_secret": "whsec"}
    shop.save()
    listing = ListingFactory(
        channel=shop,
        sku=sku,
        desired_quantity=9,
        desired_version=1,
        pushed_quantity=9,
        pushed_version=1,
    )
    recorded = receive(sku, warehouse, 1)  # the event a cycle count's discrepancy points at
    order = ChannelOrder.objects.create(
        channel=shop,
        external_id=str(sold["id"]),
        name=sold["name"],
        placed_at=timezone.now(),
        channel_updated_at=timezone.now(),
    )
    ChannelOrderLine.objects.create(
        order=order, external_id="1", sku=sku, quantity=1, current_quantity=1, sold_units=1
    )
    yield World(
        sku=sku,
        warehouse=warehouse,
        shop=shop,
        listing=listing,
        drift=Drift.objects.create(
            channel=shop,
            listing=listing,
            sku=sku,
            expected=9,
            observed=7,
            delta=-2,
            cause="unknown",
        ),
        halt=SalesHalt.objects.create(sku=sku, channel=shop, reason="recall", created_by="ana"),
        episode=DeadManEpisode.objects.create(channel=shop, reason="quiet", detail="quiet 2 h"),
        discrepancy=CycleCountDiscrepancy.objects.create(
            event=recorded.event,
            sku=sku,
            location=warehouse,
            before=10,
            counted=5,
            delta=-5,
            percent=50,
        ),
        quarantined=InboundEvent.objects.create(
            channel=shop,
            source="webhook",
            topic="orders/create",
            dedupe_key="q-1",
            body=b"{}",
            status=InboundEvent.Status.QUARANTINED,
        ),
        incident=OversellIncident.objects.create(sku=sku, units_short=1),
        order=order,
        waiting_return=ChannelReturn.objects.create(
            channel=shop,
            dedupe_key="r-1",
            order=order,
            order_external_id=order.external_id,
            sku=sku,
            channel_sku=sku.code,
            quantity=1,
            fulfilment="merchant",
            returned_at=timezone.now(),
            handling=ChannelReturn.Handling.AWAITING_GRADING,
        ),
        sandbox=handle.sandbox,
        sandbox_order_id=sold["id"],
    )
    handle.stop()


@dataclass(frozen=True)
class ConsoleWrite:
    action: str  # what the audit trail calls it
    route: str  # the URL pattern, as the walk finds it
    post: Callable[[World], tuple[str, dict]]  # where and what a person posts
    target_type: str
    done: Callable[[World, str], bool]  # the state shows the person's action
    reason: str = ""  # the reason posted (the entry keeps it)
    reason_field: str = "reason"
    needs_reason: bool = False
    existing: Callable[[World], object] | None = None  # the object acted on, when it exists
    capability: Capability = Capability.OPERATE

    def __str__(self) -> str:
        return self.action


def _drift(action: str, reason: str) -> ConsoleWrite:
    resolution = {
        "resync": "resynced",
        "halt": "halted",
        "adopt": "adopted",
        "dismiss": "dismissed",
    }
    return ConsoleWrite(
        action=f"drift.{action}",
        route="reconciliation/drift/<int:pk>/resolve/",
        post=lambda w: (
            reverse("reconciliation:drift-resolve", args=[w.drift.pk]),
            {"action": action, "reason": reason},
        ),
        target_type="reconciliation.drift",
        existing=lambda w: w.drift,
        done=lambda w, who: Drift.objects.filter(
            pk=w.drift.pk, resolution=resolution[action], resolved_by=who
        ).exists(),
        reason=reason,
        needs_reason=action != "resync",
    )


def _stock_action(kind: str, quantity: int, reason: str = "") -> ConsoleWrite:
    """A stock action of the console: one scanned SKU at the warehouse, one ledger event."""
    token = f"{kind}-token"
    return ConsoleWrite(
        action=f"event.{kind}",
        route="stock/",
        post=lambda w: (
            reverse("ledger:stock"),
            {
                "kind": kind,
                "sku": w.sku.code,
                "location": w.warehouse.code,
                "quantity": quantity,
                "reason": reason,
                "token": token,
            },
        ),  # fmt: skip
        target_type="ledger.inventoryevent",
        done=lambda w, who: InventoryEvent.objects.filter(
            kind=kind, actor=who, idempotency_key=f"console:{token}", reason=reason
        ).exists(),
        reason=reason,
        needs_reason=bool(reason),
    )


def _queued_order(w: World) -> ChannelOrder:
    """An order of the shop that commits a unit at WH-EAST (ingested as a channel order is),
    with spare stock at a second location of the pool: it can be shipped or re-routed."""
    found = ChannelOrder.objects.filter(channel=w.shop, external_id="q-1").first()
    if found is not None:
        return found
    store = Location.objects.create(code="WH-WEST", name="West warehouse")
    record_event(
        kind="receipt",
        lines=[EventLine(sku=w.sku.code, location=store.code, quantity=3)],
        idempotency_key="test:receipt:wh-west",
        source="test",
    )
    now = timezone.now()
    line = OrderLineSnapshot("q-1-1", 1, 1, variant_id=w.listing.external_id, sku=w.sku.code)
    snapshot = OrderSnapshot("q-1", "#Q1", now, now, None, (line,))
    apply_order_snapshot(channel=w.shop, snapshot=snapshot)
    return ChannelOrder.objects.get(channel=w.shop, external_id="q-1")


def _queued_line(w: World) -> ChannelOrderLine:
    return _queued_order(w).lines.get()


WRITES = [
    _stock_action("receipt", 4),
    _stock_action("write_off", 1, reason="dropped a case"),
    ConsoleWrite(
        action="reconciliation.run",
        route="reconciliation/",
        post=lambda w: (reverse("reconciliation:runs"), {"channel": w.shop.code}),
        target_type="reconciliation.reconciliationrun",
        done=lambda w, who: ReconciliationRun.objects.filter(requested_by=who).exists(),
    ),
    _drift("resync", ""),
    _drift("halt", "channel shows more than we hold"),
    _drift("adopt", "counted the shelf: the channel is right"),
    _drift("dismiss", "a test listing"),
    ConsoleWrite(
        action="halt.open",
        route="reconciliation/halts/",
        post=lambda w: (
            reverse("reconciliation:halts"),
            {"sku": w.sku.code, "channel": "", "reason": "supplier recall 7"},
        ),
        target_type="allocation.saleshalt",
        done=lambda w, who: SalesHalt.objects.filter(
            created_by=who, channel=None, reason="supplier recall 7"
        ).exists(),
        reason="supplier recall 7",
        needs_reason=True,
    ),
    ConsoleWrite(
        action="halt.release",
        route="reconciliation/halts/<int:pk>/release/",
        post=lambda w: (
            reverse("reconciliation:halt-release", args=[w.halt.pk]),
            {"reason": "recall withdrawn"},
        ),
        target_type="allocation.saleshalt",
        existing=lambda w: w.halt,
        done=lambda w, who: SalesHalt.objects.filter(pk=w.halt.pk, released_by=who).exists(),
        reason="recall withdrawn",
        needs_reason=True,
    ),
    ConsoleWrite(
        action="deadman.clear",
        route="reconciliation/dead-man/<int:pk>/clear/",
        post=lambda w: (
            reverse("reconciliation:dead-man-clear", args=[w.episode.pk]),
            {"reason": "the shop was closed for a holiday"},
        ),
        target_type="reconciliation.deadmanepisode",
        existing=lambda w: w.episode,
        done=lambda w, who: DeadManEpisode.objects.filter(pk=w.episode.pk, cleared_by=who).exists(),
        reason="the shop was closed for a holiday",
        needs_reason=True,
    ),
    ConsoleWrite(
        action="discrepancy.review",
        route="reconciliation/discrepancies/<int:pk>/review/",
        post=lambda w: (
            reverse("reconciliation:discrepancy-review", args=[w.discrepancy.pk]),
            {"note": "five broken in the last delivery"},
        ),
        target_type="reconciliation.cyclecountdiscrepancy",
        existing=lambda w: w.discrepancy,
        done=lambda w, who: CycleCountDiscrepancy.objects.filter(
            pk=w.discrepancy.pk, reviewed_by=who
        ).exists(),
        reason="five broken in the last delivery",
        reason_field="note",
        needs_reason=True,
    ),
    ConsoleWrite(
        action="quarantine.reapply",
        route="channels/quarantine/",
        post=lambda w: (reverse("channels:quarantine"), {"channel": w.shop.code}),
        target_type="channels.channel",
        done=lambda w, who: InboundEvent.objects.filter(
            pk=w.quarantined.pk, status=InboundEvent.Status.RECEIVED
        ).exists(),
    ),
    ConsoleWrite(
        action="quarantine.fix",
        route="channels/quarantine/fix/",
        post=lambda w: (
            reverse("channels:quarantine-fix"),
            {
                "channel": w.shop.code,
                "channel_sku": "SCARF-X",
                "sku": "SCARF-X",
                "title": "Wool scarf",
                "action": "create",
            },
        ),  # fmt: skip
        target_type="channels.listing",
        done=lambda w, who: Listing.objects.filter(channel=w.shop, sku__code="SCARF-X").exists(),
    ),
    ConsoleWrite(
        action="channel.mode",
        route="channels/<str:code>/mode/",
        post=lambda w: (
            reverse("channels:channel-mode", args=[w.shop.code]),
            {"mode": "paused", "reason": "supplier recall"},
        ),
        target_type="channels.channel",
        existing=lambda w: w.shop,
        done=lambda w, who: Channel.objects.filter(pk=w.shop.pk, mode="paused").exists(),
        reason="supplier recall",
        needs_reason=True,
    ),
    ConsoleWrite(
        action="listing.push_now",
        route="reconciliation/listings/push-now/",
        post=lambda w: (reverse("reconciliation:listing-push-now"), {"listing": w.listing.pk}),
        target_type="channels.listing",
        existing=lambda w: w.listing,
        done=lambda w, who: Listing.objects.filter(pk=w.listing.pk, pushed_version=0).exists(),
    ),
    ConsoleWrite(
        action="channel.import_mapping",
        route="channels/<str:code>/import/",
        post=lambda w: (reverse("channels:channel-import", args=[w.shop.code]), {}),
        target_type="channels.channel",
        existing=lambda w: w.shop,
        done=lambda w, who: MappingImport.objects.filter(channel=w.shop, requested_by=who).exists(),
    ),
    ConsoleWrite(
        action="incident.close",
        route="incidents/",
        post=lambda w: (
            reverse("channels:incident-list"),
            {"action": "close", "incident": w.incident.pk, "reason": "backordered by phone"},
        ),
        target_type="allocation.oversellincident",
        existing=lambda w: w.incident,
        done=lambda w, who: OversellIncident.objects.filter(
            pk=w.incident.pk, status="closed", closed_by=who
        ).exists(),
        reason="backordered by phone",
    ),
    ConsoleWrite(
        action="order.cancel",
        route="incidents/orders/<int:pk>/cancel/",
        post=lambda w: (
            reverse("channels:incident-order-cancel", args=[w.order.pk]),
            {"confirm": "yes", "reason": "oversold: the shop sold last"},
        ),
        target_type="channels.channelorder",
        existing=lambda w: w.order,
        done=lambda w, who: w.order_cancelled_on_shopify(),
        reason="oversold: the shop sold last",
        needs_reason=True,
    ),
    ConsoleWrite(
        action="order.backorder",
        route="incidents/orders/<int:pk>/backorder/",
        post=lambda w: (
            reverse("channels:incident-order-backorder", args=[w.order.pk]),
            {"reason": "ships when the Friday delivery lands"},
        ),
        target_type="channels.channelorder",
        existing=lambda w: w.order,
        done=lambda w, who: ChannelOrder.objects.filter(
            pk=w.order.pk, conflict_action="backordered", conflict_action_by=who
        ).exists(),
        reason="ships when the Friday delivery lands",
        needs_reason=True,
    ),
    ConsoleWrite(
        action="order.ship",
        route="orders/<int:pk>/ship/",
        post=lambda w: (
            reverse("channels:order-ship", args=[_queued_order(w).pk]),
            {"carrier": "UPS", "tracking_number": "1Z999AA10123456784"},
        ),
        target_type="channels.channelorder",
        existing=_queued_order,
        done=lambda w, who: OrderShipment.objects.filter(
            order=_queued_order(w), created_by=who, tracking_number="1Z999AA10123456784"
        ).exists(),
    ),
    ConsoleWrite(
        action="order.reroute",
        route="orders/<int:pk>/lines/<int:line_pk>/route/",
        post=lambda w: (
            reverse("channels:order-line-reroute", args=[_queued_order(w).pk, _queued_line(w).pk]),
            {"location": "WH-WEST", "reason": "closer to the customer"},
        ),
        target_type="channels.channelorder",
        existing=_queued_order,
        done=lambda w, who: _queued_line(w).location.code == "WH-WEST",
        reason="closer to the customer",
        needs_reason=True,
    ),
    ConsoleWrite(
        action="return.grade",
        route="returns/<int:pk>/grade/",
        post=lambda w: (
            reverse("channels:return-grade", args=[w.waiting_return.pk]),
            {"outcome": "unsellable", "location": w.warehouse.code, "reason": "box crushed"},
        ),
        target_type="channels.channelreturn",
        existing=lambda w: w.waiting_return,
        done=lambda w, who: ChannelReturn.objects.filter(
            pk=w.waiting_return.pk, handling="unsellable", event__actor=who
        ).exists(),
        reason="box crushed",
        needs_reason=True,
    ),
]


def console_writes() -> dict[str, Capability]:
    """Every console view that takes a write, with the capability it names."""
    return {
        route: view.capabilities["write"]
        for route, view in project_views()
        if not hasattr(view, "cls") and view.capabilities["write"] is not None
    }


def database_state() -> dict[str, list[dict]]:
    """Every row of our apps (the audit trail included): what a refused write must not touch."""
    return {
        model._meta.label: [
            {name: bytes(value) if isinstance(value, memoryview) else value
             for name, value in row.items()}
            for row in model.objects.order_by("pk").values()
        ]
        for model in apps.get_models()
        if model._meta.app_label in OUR_APPS and model._meta.managed
    }  # fmt: skip


def person(django_user_model, role: Role | None, **extra):
    found = django_user_model.objects.create_user(f"person-{role or 'none'}", **extra)
    if role is not None:
        found.groups.add(Group.objects.get(name=role))
    return found


# --- the matrix -----------------------------------------------------------------------------


def test_the_matrix_names_every_console_write_and_the_capability_it_needs():
    walked = console_writes()
    assert walked, "the walk found no console write"
    assert walked == {write.route: write.capability for write in WRITES}


@pytest.mark.parametrize("role", [None, Role.VIEWER])
@pytest.mark.parametrize("write", WRITES, ids=str)
def test_a_role_below_operator_is_refused_and_nothing_changes(
    client, django_user_model, world, role, write
):
    client.force_login(person(django_user_model, role))
    url, data = write.post(world)
    before = database_state()

    response = client.post(url, data)

    assert response.status_code == 403
    assert database_state() == before
    assert not world.order_cancelled_on_shopify()


@pytest.mark.parametrize("write", WRITES, ids=str)
def test_an_anonymous_post_goes_to_the_login_and_changes_nothing(client, world, write):
    url, data = write.post(world)
    before = database_state()
    response = client.post(url, data)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert database_state() == before


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.ADMIN])
@pytest.mark.parametrize("write", WRITES, ids=str)
def test_an_operator_acts_and_the_trail_signs_who_what_and_why(
    client, django_user_model, world, role, write
):
    actor = person(django_user_model, role)
    client.force_login(actor)
    url, data = write.post(world)
    target = write.existing(world) if write.existing else None

    response = client.post(url, data)

    assert response.status_code == 302, response.content.decode()[:500]
    assert write.done(world, actor.username)
    entry = AuditEntry.objects.get(action=write.action)
    assert (entry.actor, entry.actor_id, entry.via) == (actor.username, actor.pk, "console")
    assert (entry.target_type, entry.reason) == (write.target_type, write.reason)
    assert entry.after
    if target is not None:
        assert entry.target_id == str(target.pk)
        assert entry.before["id"] == target.pk
    else:
        assert entry.before is None


@pytest.mark.parametrize("write", [w for w in WRITES if w.needs_reason], ids=str)
@pytest.mark.parametrize("blank", ["", "   "])
def test_a_missing_reason_is_a_form_error_and_nothing_changes(
    client, django_user_model, world, write, blank
):
    client.force_login(person(django_user_model, Role.OPERATOR))
    url, data = write.post(world)
    before = database_state()

    response = client.post(url, {**data, write.reason_field: blank}, follow=True)

    assert response.status_code in (200, 400)
    page = response.content.decode()
    assert "Say wh" in page  # "Say why …" / "Say what …", beside the action or as a message
    assert database_state() == before
    assert not world.order_cancelled_on_shopify()


# --- pages ----------------------------------------------------------------------------------

ACTION_PAGES = [
    ("ledger:stock", None),
    ("reconciliation:runs", None),
    ("reconciliation:drift", None),
    ("reconciliation:halts", None),
    ("reconciliation:dead-man", None),
    ("reconciliation:discrepancies", None),
    ("channels:quarantine", None),
    ("channels:return-list", None),
    ("channels:sku-listings", "sku"),
]


def _page(client, world, name, arg) -> str:
    args = [world.sku.code] if arg == "sku" else []
    response = client.get(reverse(name, args=args))
    assert response.status_code == 200
    return response.content.decode()


def _action_forms(page: str) -> int:
    """POST forms on the page besides the logout form of the header."""
    return page.count('method="post"') - page.count('class="logout"')


@pytest.mark.parametrize(("name", "arg"), ACTION_PAGES)
def test_a_viewer_reads_every_page_and_is_offered_no_action(
    client, django_user_model, world, name, arg
):
    client.force_login(person(django_user_model, Role.VIEWER))
    assert _action_forms(_page(client, world, name, arg)) == 0
    client.force_login(person(django_user_model, Role.OPERATOR))
    assert _action_forms(_page(client, world, name, arg)) >= 1


def test_the_incidents_page_offers_its_actions_to_operators_only(client, django_user_model, world):
    client.force_login(person(django_user_model, Role.VIEWER))
    page = client.get(reverse("channels:incident-list")).content.decode()
    assert f'data-sku="{world.sku.code}"' in page
    assert 'value="close"' not in page
    client.force_login(person(django_user_model, Role.OPERATOR))
    page = client.get(reverse("channels:incident-list")).content.decode()
    assert 'value="close"' in page


def test_the_refusal_names_the_role_needed(client, django_user_model, world):
    client.force_login(person(django_user_model, Role.VIEWER))
    refused = client.post(reverse("reconciliation:halts"), {"sku": world.sku.code})
    assert refused.status_code == 403
    assert 'data-role-needed="operator"' in refused.content.decode()
    client.force_login(person(django_user_model, None))
    unread = client.get(reverse("ledger:dashboard"))
    assert unread.status_code == 403
    assert 'data-role-needed="viewer"' in unread.content.decode()


def test_the_sku_page_shows_the_history_of_the_sku_and_its_halts(client, django_user_model, world):
    client.force_login(person(django_user_model, Role.OPERATOR))
    client.post(reverse("reconciliation:halts"), {"sku": world.sku.code, "reason": "recall 9"})
    client.post(
        reverse("reconciliation:halt-release", args=[world.halt.pk]), {"reason": "found them"}
    )
    client.force_login(person(django_user_model, Role.VIEWER))
    panel = _page(client, world, "channels:sku-listings", "sku")
    history = panel[panel.index('class="audit-trail"') :]
    for shown in ("halt.open", "recall 9", "halt.release", "found them", "person-operator"):
        assert shown in history


def test_the_channel_page_shows_the_channel_history(client, django_user_model, world):
    client.force_login(person(django_user_model, Role.OPERATOR))
    client.post(reverse("channels:quarantine"), {"channel": world.shop.code})
    activity = reverse("channels:channel-activity", args=[world.shop.code])
    page = client.get(reverse("channels:channel-detail", args=[world.shop.code])).content.decode()
    assert f'hx-get="{activity}"' in page  # loaded after the page
    page = client.get(activity).content.decode()
    history = page[page.index('class="audit-trail"') :]
    assert "quarantine.reapply" in history
    assert "person-operator" in history


def test_halt_rows_show_who_opened_and_released_them_and_why(client, django_user_model, world):
    client.force_login(person(django_user_model, Role.OPERATOR))
    client.post(
        reverse("reconciliation:halt-release", args=[world.halt.pk]), {"reason": "recall over"}
    )
    page = client.get(reverse("reconciliation:halts")).content.decode()
    row = page[page.index(f'<tr data-halt="{world.halt.pk}">') :]
    row = row[: row.index("</tr>")]
    assert '<td data-field="created-by">ana</td>' in row
    assert '<td data-field="released-by">person-operator</td>' in row
    assert '<td data-field="release-reason">recall over</td>' in row


# --- the admin ------------------------------------------------------------------------------


def test_the_admin_keeps_who_opened_a_halt_and_why(admin_client, world):
    url = reverse("admin:allocation_saleshalt_change", args=[world.halt.pk])
    response = admin_client.post(
        url, {"created_by": "mallory", "reason": "nothing happened", "released_by": "mallory"}
    )
    assert response.status_code == 302
    halt = SalesHalt.objects.get(pk=world.halt.pk)
    assert (halt.created_by, halt.reason, halt.released_by) == ("ana", "recall", "")
    assert not AuditEntry.objects.exists()  # saved as it was: nothing to sign either


def test_the_admin_signs_a_halt_it_opens_with_the_person_who_opened_it(
    admin_client, admin_user, world
):
    response = admin_client.post(
        reverse("admin:allocation_saleshalt_add"),
        {"sku": world.sku.pk, "channel": "", "reason": "quality hold", "created_by": "mallory"},
    )
    assert response.status_code == 302
    halt = SalesHalt.objects.get(reason="quality hold")
    assert halt.created_by == admin_user.username
    entry = AuditEntry.objects.get(action="saleshalt.add")
    assert (entry.actor, entry.via, entry.target_id) == (admin_user.username, "admin", str(halt.pk))


def test_the_admin_never_deletes_a_halt(admin_client, world):
    url = reverse("admin:allocation_saleshalt_delete", args=[world.halt.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    admin_client.post(
        reverse("admin:allocation_saleshalt_changelist"),
        {"action": "delete_selected", "_selected_action": [world.halt.pk], "post": "yes"},
    )
    assert SalesHalt.objects.filter(pk=world.halt.pk).exists()


def test_the_admin_release_action_signs_each_halt_with_its_reason(admin_client, admin_user, world):
    response = admin_client.post(
        reverse("admin:allocation_saleshalt_changelist"),
        {
            "action": "release_halts",
            "_selected_action": [world.halt.pk],
            "apply": "1",
            "release_reason": "recall closed",
        },
    )
    assert response.status_code == 302
    halt = SalesHalt.objects.get(pk=world.halt.pk)
    assert (halt.released_by, halt.release_reason) == (admin_user.username, "recall closed")
    entry = AuditEntry.objects.get(action="halt.release")
    assert (entry.actor, entry.via, entry.reason) == (admin_user.username, "admin", "recall closed")
    assert (entry.before["released_by"], entry.after["released_by"]) == ("", admin_user.username)


def test_an_admin_change_is_signed_with_the_row_before_and_after(admin_client, admin_user, world):
    url = reverse("admin:channels_channel_change", args=[world.shop.pk])
    form = admin_client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None}
    data.update(priority=7, default_location=world.warehouse.pk)
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    entry = AuditEntry.objects.get(action="channel.change")
    assert (entry.actor, entry.via, entry.target_id) == (
        admin_user.username,
        "admin",
        str(world.shop.pk),
    )
    assert (entry.before["priority"], entry.after["priority"]) == (world.shop.priority, 7)
    assert world.shop.credentials["access_token"] not in json.dumps([entry.before, entry.after])


def test_an_operator_on_the_admin_may_not_change_the_set_up(client, django_user_model, world):
    operator = person(django_user_model, Role.OPERATOR, is_staff=True)
    client.force_login(operator)
    before = database_state()
    url = reverse("admin:channels_channel_change", args=[world.shop.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"code": "shop", "priority": 9, "mode": "paused"}).status_code == 403
    assert database_state() == before


def test_an_admin_action_needs_the_operator_role_not_just_a_view(client, django_user_model, world):
    from django.contrib.auth.models import Permission

    clerk = person(django_user_model, None, is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_saleshalt"))
    client.force_login(clerk)
    changelist = reverse("admin:allocation_saleshalt_changelist")
    assert client.get(changelist).status_code == 200
    before = database_state()
    client.post(
        changelist,
        {
            "action": "release_halts",
            "_selected_action": [world.halt.pk],
            "apply": "1",
            "release_reason": "I only look",
        },
    )
    assert database_state() == before


def test_the_admin_close_action_signs_each_incident(admin_client, admin_user, world):
    admin_client.post(
        reverse("admin:allocation_oversellincident_changelist"),
        {"action": "close_incidents", "_selected_action": [world.incident.pk]},
    )
    entry = AuditEntry.objects.get(action="incident.close")
    assert (entry.actor, entry.via) == (admin_user.username, "admin")
    assert (entry.before["status"], entry.after["status"]) == ("open", "closed")
