import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

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
    return django_user_model.objects.create_user("ops", password="correct-horse")


@pytest.fixture
def api_client(user):
    client = APIClient()
    token = Token.objects.create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client
