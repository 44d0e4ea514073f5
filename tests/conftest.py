import pytest
from django.contrib.auth.models import Group
from django.db.backends.postgresql.operations import DatabaseOperations
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from access.roles import Role
from ledger import services
from ledger.models import Location
from ledger.rules import EventLine
from tests.factories import LocationFactory, SkuFactory


@pytest.fixture(autouse=True)
def _fresh_amazon_tokens():
    """Amazon access tokens are cached per process by token URL and refresh token. Sandboxes of
    different tests share deterministic refresh tokens and may reuse a port, so a token one
    test's sandbox issued must not reach the next test's."""
    from channels.lanes.amazon import client as amazon

    amazon.clear_token_cache()
    yield
    amazon.clear_token_cache()


@pytest.fixture(autouse=True)
def _empty_cache():
    """The cache lives as long as the process (locmem): what one test's pages cached (the
    listing totals) must not reach the next test's."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True, scope="session")
def _flush_past_append_only_triggers():
    """Transactional tests (transactional_db, live_server) end with Django's flush: one
    TRUNCATE of every table, which the ledger's triggers refuse (I1). The flush runs in its own
    transaction; `session_replication_role = replica` for that transaction alone (a superuser's
    switch) keeps ordinary triggers from firing while the test database is emptied, and nowhere
    else."""
    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        if sql_list:
            sql_list = ["SET LOCAL session_replication_role = replica", *sql_list]
        original(self, sql_list)

    DatabaseOperations.execute_sql_flush = execute_sql_flush
    yield
    DatabaseOperations.execute_sql_flush = original


@pytest.fixture
def sku(db):
    return SkuFactory(code="TEE-M")


@pytest.fixture
def warehouse(db):
    return LocationFactory(code="WH-EAST", name="East warehouse")


@pytest.fixture
def store(db):
    return LocationFactory(code="STORE-SOHO", name="SoHo store", kind=Location.Kind.STORE)


@pytest.fixture
def receive():
    """Record a receipt: the usual way a test puts stock somewhere."""
    counter = iter(range(1_000_000))

    def _receive(sku, location, quantity):
        return services.record_event(
            kind="receipt",
            lines=[EventLine(sku=sku.code, location=location.code, quantity=quantity)],
            idempotency_key=f"test:receipt:{next(counter)}:{sku.code}:{location.code}",
            source="test",
        )

    return _receive


@pytest.fixture
def user(db, django_user_model):
    """A signed-in person of the admin role: may do everything the API and console offer (the
    role matrix in tests/access/ tries the narrower roles)."""
    person = django_user_model.objects.create_user("ops", password="correct-horse")
    person.groups.add(Group.objects.get(name=Role.ADMIN))
    return person


@pytest.fixture
def person_of(db, django_user_model):
    """A person of one role: `person_of(Role.OPERATOR, "ops")`."""

    def _person(role: Role, name: str, *, password: str = "correct-horse"):
        person = django_user_model.objects.create_user(name, password=password)
        person.groups.add(Group.objects.get(name=role))
        return person

    return _person


@pytest.fixture
def api_client(user):
    client = APIClient()
    token = Token.objects.create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client
