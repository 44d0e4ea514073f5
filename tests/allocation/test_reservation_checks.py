"""Holds end through their reservation: expiry that survives one bad reservation, a clear
answer when a bucket no longer covers a hold, and verify_ledger comparing the reserved buckets
with the active reservations."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from allocation import services, tasks
from allocation.models import Reservation
from inventory_sync.lib.errors import DomainError
from ledger import services as ledger
from ledger import tasks as ledger_tasks
from ledger.models import Balance, InventoryEvent, Location
from tests.factories import LocationFactory, SkuFactory

pytestmark = pytest.mark.django_db

PAST = timedelta(minutes=7)


def reserved(sku, location):
    balance = Balance.objects.filter(sku=sku, location=location, bucket="reserved").first()
    return balance.quantity if balance else 0


def hold(sku, location, quantity, key, *, expired=True):
    return services.reservation_create(
        sku=sku,
        location=location,
        quantity=quantity,
        partner="Wholesale Co",
        idempotency_key=key,
        expires_at=timezone.now() - PAST if expired else None,
    )


def raw_release(sku, location, quantity, key="raw-release"):
    """What the events API let through before holds had one door: units leave the reserved
    bucket while the reservation stays active."""
    return ledger.release(
        sku=sku.code, location=location.code, quantity=quantity, idempotency_key=key, source="api"
    )


def verify():
    out = StringIO()
    try:
        call_command("verify_ledger", stdout=out, no_color=True)
    except CommandError as error:
        return error, out.getvalue()
    return None, out.getvalue()


@pytest.fixture
def three_holds(warehouse, receive):
    """Three expired holds on three SKUs; the middle one's units were released raw."""
    skus = [SkuFactory(code=code) for code in ("A", "B", "C")]
    for sku in skus:
        receive(sku, warehouse, 10)
    holds = [hold(sku, warehouse, 4, f"po-{sku.code}") for sku in skus]
    raw_release(skus[1], warehouse, 3)
    return skus, holds


# --- expiry ---------------------------------------------------------------------------------


def test_expiry_ends_the_others_when_one_cannot_end(three_holds, warehouse, caplog):
    skus, (first, broken, last) = three_holds
    # when the periodic job runs
    expired = tasks.reservations_expire_task()
    # then the two sound holds expired and gave their units back
    assert expired == 2
    for reservation, sku in ((first, skus[0]), (last, skus[2])):
        reservation.refresh_from_db()
        assert reservation.status == Reservation.Status.EXPIRED
        assert reservation.release_event_id is not None
        assert reserved(sku, warehouse) == 0
    # and the broken one stays active, marked with why, logged with its id, nothing changed
    broken.refresh_from_db()
    assert broken.status == Reservation.Status.ACTIVE
    assert broken.release_event_id is None
    assert broken.expiry_failed_at is not None
    assert "reserved bucket there holds 1" in broken.expiry_error
    assert reserved(skus[1], warehouse) == 1
    assert f"reservation {broken.pk} could not expire" in caplog.text
    assert not InventoryEvent.objects.filter(idempotency_key=f"reservation:{broken.pk}:end")


def test_a_reservation_that_cannot_expire_is_tried_again_and_reported_each_run(three_holds):
    _, (_, broken, _) = three_holds
    services.reservations_expire()
    first_failure = Reservation.objects.get(pk=broken.pk).expiry_failed_at

    again = services.reservations_expire()

    assert (again.expired, again.failed) == (0, [broken.pk])
    assert Reservation.objects.get(pk=broken.pk).expiry_failed_at >= first_failure


def put_back(sku, location, quantity, key="put-back"):
    """The repair verify_ledger's listing leads to: the units released raw are held again."""
    return ledger.reserve(
        sku=sku.code, location=location.code, quantity=quantity, idempotency_key=key, source="api"
    )


def test_a_failure_is_cleared_once_the_reservation_expires_on_a_later_run(
    three_holds, warehouse, api_client
):
    skus, (_, broken, _) = three_holds
    services.reservations_expire()
    assert api_client.get(f"/api/v1/reservations/{broken.pk}/").json()["expiry_error"]
    put_back(skus[1], warehouse, 3)

    again = services.reservations_expire()

    assert (again.expired, again.failed) == (1, [])
    shown = api_client.get(f"/api/v1/reservations/{broken.pk}/").json()
    assert (shown["status"], shown["expiry_failed_at"], shown["expiry_error"]) == (
        "expired",
        None,
        "",
    )


def test_a_failure_is_cleared_when_a_person_releases_the_reservation(
    three_holds, warehouse, api_client
):
    skus, (_, broken, _) = three_holds
    services.reservations_expire()
    put_back(skus[1], warehouse, 3)

    assert api_client.delete(f"/api/v1/reservations/{broken.pk}/").status_code == 204

    broken.refresh_from_db()
    assert (broken.status, broken.expiry_failed_at, broken.expiry_error) == ("released", None, "")
    assert reserved(skus[1], warehouse) == 0


def test_expiry_leaves_reservations_not_yet_due(sku, warehouse, receive):
    receive(sku, warehouse, 10)
    due = hold(sku, warehouse, 2, "due")
    open_ended = hold(sku, warehouse, 3, "open", expired=False)

    outcome = services.reservations_expire()

    assert (outcome.expired, outcome.failed) == (1, [])
    assert Reservation.objects.get(pk=due.pk).status == Reservation.Status.EXPIRED
    assert Reservation.objects.get(pk=open_ended.pk).status == Reservation.Status.ACTIVE
    assert reserved(sku, warehouse) == 3


# --- ending a hold whose units already left the bucket --------------------------------------


def test_ending_a_hold_the_bucket_no_longer_covers_is_explained_and_changes_nothing(
    api_client, sku, warehouse, receive
):
    # given two holds of 4 at one place, and 4 units released behind their backs
    receive(sku, warehouse, 10)
    first = hold(sku, warehouse, 4, "one", expired=False)
    second = hold(sku, warehouse, 4, "two", expired=False)
    raw_release(sku, warehouse, 4)
    events = InventoryEvent.objects.count()
    # when a person ends the first (covered) and then the second (no longer covered)
    ended = api_client.delete(f"/api/v1/reservations/{first.pk}/")
    refused = api_client.delete(f"/api/v1/reservations/{second.pk}/")
    # then the first gives its 4 back, the second is refused with the numbers that explain it
    assert ended.status_code == 204
    assert refused.status_code == 409
    body = refused.json()
    assert body["code"] == "reserved_bucket_short"
    assert (body["reservation"], body["reserved"], body["reservations"]) == (second.pk, 0, 4)
    assert "released without ending a reservation" in body["detail"]
    assert "verify_ledger" in body["detail"]
    assert Reservation.objects.get(pk=second.pk).status == Reservation.Status.ACTIVE
    assert InventoryEvent.objects.count() == events + 1  # the first one's release only
    assert reserved(sku, warehouse) == 0


def test_an_fba_pool_takes_no_reservation(sku, receive):
    pool = LocationFactory(code="FBA-NA", kind=Location.Kind.FBA, region="NA")
    receive(sku, pool, 10)

    with pytest.raises(DomainError, match="FBA pool") as refused:
        hold(sku, pool, 2, "fba", expired=False)

    assert refused.value.http_status == 400
    assert not Reservation.objects.exists()
    assert reserved(sku, pool) == 0


# --- verify_ledger --------------------------------------------------------------------------


def test_verify_ledger_passes_when_reserved_buckets_equal_active_reservations(
    sku, warehouse, store, receive
):
    receive(sku, warehouse, 10)
    receive(sku, store, 10)
    hold(sku, warehouse, 3, "a", expired=False)
    hold(sku, warehouse, 2, "b", expired=False)
    ended = hold(sku, store, 4, "c", expired=False)
    services.reservation_end(reservation=ended)

    error, out = verify()

    assert error is None, out
    assert "OK: every reserved bucket equals the sum of its active reservations." in out


def test_verify_ledger_lists_reserved_buckets_that_disagree_with_active_reservations(
    sku, warehouse, store, receive
):
    # given one place whose hold was partly released raw, and one held with no reservation
    receive(sku, warehouse, 10)
    receive(sku, store, 10)
    hold(sku, warehouse, 4, "a", expired=False)
    raw_release(sku, warehouse, 3)
    ledger.reserve(sku="TEE-M", location="STORE-SOHO", quantity=2, idempotency_key="x", source="t")
    # when
    error, out = verify()
    # then it exits 1 and lists both, while the balances themselves still add up
    assert error is not None
    assert error.returncode == 1
    assert str(error) == "2 reserved bucket(s) differ from the sum of their active reservations."
    lines = out.splitlines()
    assert lines[0] == "OK: every balance equals the sum of its entries."
    assert [line.split() for line in lines[1:]] == [
        ["SKU", "LOCATION", "RESERVED", "RESERVATIONS"],
        ["TEE-M", "STORE-SOHO", "2", "0"],
        ["TEE-M", "WH-EAST", "1", "4"],
    ]
    # and the worker's periodic check counts them too
    assert ledger_tasks.ledger_verify_task() == 2


def test_verify_ledger_leaves_fba_pools_reserved_units_to_amazon(sku, receive):
    # given Amazon's snapshot of units it holds for orders, which no reservation stands for
    pool = LocationFactory(code="FBA-NA", kind=Location.Kind.FBA, region="NA")
    ledger.record_event(
        kind="fba_snapshot",
        lines=[ledger.EventLine("TEE-M", "FBA-NA", 3, bucket="reserved")],
        idempotency_key="snapshot-1",
        source="amazon",
    )

    error, out = verify()

    assert reserved(sku, pool) == 3
    assert error is None, out
