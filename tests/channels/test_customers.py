"""Customer matching (channels.customers): one shopper across channels by normalised email,
then phone, the keys kept as salted hashes, a relay address never kept in clear, and two
orders of one new customer at once making one customer."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections, transaction

from channels import customers
from channels.customers import hash_of, match_customer, normalise_email, normalise_phone
from channels.models import ChannelOrder, Customer
from channels.order_details import OrderDetails
from tests.channels.amazon_world import mixed_world
from tests.concurrency import run_concurrently, until_an_advisory_lock_is_awaited

T0 = datetime(2026, 11, 27, 14, 23, 1, tzinfo=UTC)


def facts(**given) -> OrderDetails:
    return OrderDetails(**given)


# --- normalising ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("  Ana.Lopez+shoes@Example.COM ", "ana.lopez+shoes@example.com"),
        ("ana@example.com", "ana@example.com"),
        ("", ""),
        ("not an address", ""),
        ("ana@localhost", ""),
        ("@example.com", ""),
        ("ana lopez@example.com", ""),
    ],
)
def test_an_email_is_trimmed_and_lower_cased_and_keeps_its_plus_tag(given, expected):
    assert normalise_email(given) == expected


@pytest.mark.parametrize(
    ("given", "country", "expected"),
    [
        ("+1 (415) 555-0100", "", "+14155550100"),
        ("(415) 555-0100", "US", "+14155550100"),
        ("1-415-555-0100", "US", "+14155550100"),
        ("415.555.0100 ext. 12", "", "+14155550100"),  # CUSTOMER_PHONE_COUNTRY is US
        ("+55 11 98765-4321", "", "+5511987654321"),
        ("(11) 98765-4321", "BR", "+5511987654321"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("0044 20 7946 0958", "", "+442079460958"),
        ("06 6982 1234", "IT", "+390669821234"),  # Italy keeps the leading 0
        ("555-555-SHIP", "US", ""),
        ("12345", "US", ""),
        ("", "US", ""),
    ],
)
def test_a_phone_gets_its_country_code_from_the_order_or_the_setting(given, country, expected):
    assert normalise_phone(given, country) == expected


def test_the_default_country_of_a_phone_is_a_setting(settings):
    settings.CUSTOMER_PHONE_COUNTRY = "GB"
    assert normalise_phone("020 7946 0958") == "+442079460958"


def test_a_key_is_a_salted_hash_that_changes_with_the_salt(settings):
    settings.CUSTOMER_MATCH_SALT = "salt-one"
    first = hash_of("email", "ana@example.com")
    assert len(first) == 64
    assert "ana" not in first
    assert hash_of("email", "ana@example.com") == first
    assert hash_of("phone", "ana@example.com") != first  # the kind is part of the key
    settings.CUSTOMER_MATCH_SALT = "salt-two"
    assert hash_of("email", "ana@example.com") != first


# --- matching ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_order_without_email_or_phone_matches_no_one():
    assert match_customer(facts(customer_name="Ana"), T0) is None
    assert match_customer(facts(customer_phone="555-555-SHIP"), T0) is None
    assert Customer.objects.count() == 0


@pytest.mark.django_db
def test_the_same_email_in_another_case_is_the_same_customer():
    first = match_customer(facts(customer_email="Ana@Example.com", customer_name="Ana L"), T0)
    second = match_customer(
        facts(customer_email=" ana@example.com", customer_name="Ana Lopez"), T0 + timedelta(days=3)
    )
    assert second.pk == first.pk
    assert Customer.objects.count() == 1
    assert (second.email, second.name) == ("ana@example.com", "Ana Lopez")
    assert (second.first_order_at, second.last_order_at) == (T0, T0 + timedelta(days=3))
    assert second.email_hash == hash_of("email", "ana@example.com")


@pytest.mark.django_db
def test_a_plus_tag_is_another_address():
    plain = match_customer(facts(customer_email="ana@example.com"), T0)
    tagged = match_customer(facts(customer_email="ana+shoes@example.com"), T0)
    assert plain.pk != tagged.pk


@pytest.mark.django_db
def test_an_older_order_moves_the_first_order_time_and_keeps_the_latest_name():
    match_customer(facts(customer_email="ana@example.com", customer_name="Ana Lopez"), T0)
    older = match_customer(
        facts(customer_email="ana@example.com", customer_name="A. L."), T0 - timedelta(days=9)
    )
    assert (older.first_order_at, older.last_order_at) == (T0 - timedelta(days=9), T0)
    assert older.name == "Ana Lopez"


@pytest.mark.django_db
def test_a_phone_matches_when_the_email_is_new_and_the_customer_gains_the_email():
    by_phone = match_customer(facts(customer_phone="+1 415 555 0100"), T0)
    assert (by_phone.email_hash, by_phone.email) == ("", "")
    same = match_customer(
        facts(customer_email="ana@example.com", customer_phone="(415) 555-0100"), T0
    )
    assert same.pk == by_phone.pk
    assert (same.email, same.phone) == ("ana@example.com", "+14155550100")
    # From now on the email alone finds her.
    assert match_customer(facts(customer_email="ANA@example.com"), T0).pk == by_phone.pk


@pytest.mark.django_db
def test_the_email_wins_over_the_phone():
    ana = match_customer(facts(customer_email="ana@example.com"), T0)
    ben = match_customer(facts(customer_email="ben@example.com", customer_phone="4155550100"), T0)
    # Ana's email on an order with Ben's phone (she ordered to his house) is Ana.
    found = match_customer(facts(customer_email="ana@example.com", customer_phone="4155550100"), T0)
    assert found.pk == ana.pk != ben.pk


@pytest.mark.django_db
def test_a_masked_relay_address_is_kept_only_as_its_hash():
    relay = "8x9y7z@marketplace.amazon.com"
    first = match_customer(facts(customer_email=relay, customer_email_masked=True), T0)
    assert first.email == ""
    assert first.email_hash == hash_of("email", relay)
    assert not Customer.objects.filter(email__icontains="marketplace").exists()
    # The next order through the same relay is the same shopper.
    assert match_customer(facts(customer_email=relay, customer_email_masked=True), T0).pk == (
        first.pk
    )


# --- at once ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "orders",
    [
        pytest.param([{"customer_email": "ana@example.com"}] * 6, id="email"),
        pytest.param([{"customer_phone": "+1 415 555 0100"}] * 6, id="phone"),
        pytest.param(
            [{"customer_email": "ana@example.com", "customer_phone": "4155550100"}] * 3
            + [{"customer_phone": "+14155550100"}] * 3,
            id="email-and-phone",
        ),
    ],
)
def test_orders_of_one_new_customer_at_once_make_one_customer(orders):
    assert connection.vendor == "postgresql"
    outcomes = run_concurrently(
        lambda i: match_customer(facts(**orders[i]), T0 + timedelta(seconds=i)).pk,
        [(i,) for i in range(len(orders))],
    )
    assert [o.error for o in outcomes] == [None] * len(orders)
    assert len({o.value for o in outcomes}) == 1
    assert Customer.objects.count() == 1
    customer = Customer.objects.get()
    assert (customer.first_order_at, customer.last_order_at) == (
        T0,
        T0 + timedelta(seconds=len(orders) - 1),
    )


@pytest.mark.django_db(transaction=True)
def test_a_second_order_of_a_new_customer_waits_for_the_first_to_commit_and_finds_it():
    """The interleaving the race needs, forced: the first order's transaction has created
    the customer and not committed when the second order matches the same phone."""
    created, commit = threading.Event(), threading.Event()
    found: dict[str, int] = {}

    def first() -> None:
        try:
            with transaction.atomic():
                found["first"] = match_customer(facts(customer_phone="+14155550100"), T0).pk
                created.set()
                commit.wait(timeout=30)
        finally:
            connections.close_all()

    def second() -> None:
        try:
            created.wait(timeout=30)
            found["second"] = match_customer(facts(customer_phone="(415) 555-0100"), T0).pk
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    assert created.wait(timeout=30)
    waited = until_an_advisory_lock_is_awaited(customers.LOCK_SPACE)
    commit.set()
    for thread in threads:
        thread.join(timeout=30)
    assert waited, "the second match did not wait for the first order's key"
    assert found["first"] == found["second"]
    assert Customer.objects.count() == 1


def test_the_lock_key_fits_postgresqls_integer():
    for key in ("0" * 64, "f" * 64, hash_of("email", "ana@example.com")):
        assert -(2**31) <= customers._int32(key) < 2**31


# --- through ingest, across channels -------------------------------------------------------------


@pytest.fixture
def world(live_server, receive, settings, monkeypatch):
    with mixed_world(live_server.url, receive, settings, monkeypatch, {"TEE-M": 20}) as built:
        yield built


@pytest.mark.django_db(transaction=True)
def test_a_shopper_on_shopify_and_amazon_is_one_customer_by_email_or_by_phone(world):
    shop = world.open_shop("shop", stock={"TEE-M": 20}, location=world.warehouse, seed=1)
    seller = world.open_seller("amazon-us", mfn={"TEE-M": 20}, location=world.warehouse, seed=2)
    world.settle()
    ana = {"first_name": "Ana", "last_name": "Lopez", "email": "ana@example.com", "phone": None}
    ben = {"first_name": "Ben", "last_name": "Okafor", "email": "ben@example.com",
           "phone": "+1 (212) 555-0147"}  # fmt: skip
    shop_orders = [shop.sandbox.sell("TEE-M", 1, customer=who)["id"] for who in (ana, ben)]
    amazon_orders = [
        # A business buyer whose own address Amazon passes on: matched by email.
        seller.sandbox.place_order(
            "TEE-M", 1, buyer={"name": "Ana Lopez", "email": "ANA@example.com "}
        )["orderId"],
        # The usual relay address, and a phone on the delivery address: matched by phone.
        seller.sandbox.place_order(
            "TEE-M",
            1,
            buyer={"name": "Ben O.", "email": "7fk2m9q@marketplace.amazon.com",
                   "phone": "212 555 0147", "state_or_region": "NY"},
        )["orderId"],
    ]  # fmt: skip
    world.settle()

    def customer_of(channel, external_id) -> Customer:
        return ChannelOrder.objects.get(channel=channel, external_id=str(external_id)).customer

    ana_row = customer_of(shop.channel, shop_orders[0])
    ben_row = customer_of(shop.channel, shop_orders[1])
    assert customer_of(seller.channel, amazon_orders[0]) == ana_row
    assert customer_of(seller.channel, amazon_orders[1]) == ben_row
    assert ana_row != ben_row
    assert Customer.objects.count() == 2
    assert ana_row.orders.count() == ben_row.orders.count() == 2
    # The relay address is nowhere in clear.
    assert not Customer.objects.filter(email__icontains="marketplace.amazon").exists()
    assert (ben_row.email, ben_row.phone) == ("ben@example.com", "+12125550147")
