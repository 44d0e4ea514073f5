"""Every operation of the live OpenAPI schema, fuzzed: no input answers 5xx, and every answer
matches the schema (documented status code, content type and body).

The schema is read from the WSGI application as a client sees it, with a superuser's token so
the write operations are reached too. Seeded and bounded (the same examples every run, about a
minute on two cores): schemathesis's own engine runs its coverage and fuzzing phases, the ones
its command line runs, so a finding reproduces with `st run` and the same seed. (Its pytest
loader, `from_fixture`, does not run on pytest 9.2: it sets a node attribute pytest dropped.)
Strings and integers are mixed with the classes of input that once answered 500, so those
stay tried on every run whatever hypothesis draws.
"""

from __future__ import annotations

import threading

import pytest
import schemathesis
from django.db import connections
from rest_framework.authtoken.models import Token
from schemathesis.engine import events
from schemathesis.engine import from_schema as engine_for

from inventory_sync.wsgi import application
from tests.factories import ChannelFactory, ListingFactory

pytestmark = pytest.mark.django_db(transaction=True)

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
SEED = 20261130
# Mixed into generated strings and integers: the classes of input that once answered 500.
HOSTILE_STRINGS = [
    "A\x00B",
    "\x01\x1f",
    "TEE\tM",
    "2026-11-30T10:00:00+16:00",
    "2026-11-30T10:00:00-23:59",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-14:00",
    "2026-02-30T10:00:00Z",
    "x" * 300,
]
HOSTILE_INTEGERS = [0, -1, 501, 2**31, 2**63, 10**20, -(2**63) - 1]
EXAMPLES_PER_OPERATION = 60


class _App:
    """The WSGI application, remembering the database connection of each engine thread that
    served a request: those threads end without closing theirs, and the test database cannot
    be flushed or dropped while one is open."""

    def __init__(self) -> None:
        self.connections: dict[int, object] = {}

    def __call__(self, environ, start_response):
        if threading.current_thread() is not threading.main_thread():
            self.connections[threading.get_ident()] = connections["default"]
        return application(environ, start_response)

    def close(self) -> None:
        for connection in self.connections.values():
            connection.inc_thread_sharing()
            connection.close()
            connection.dec_thread_sharing()


def _config(headers: dict[str, str]) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "headers": headers,
            "workers": 1,
            "continue-on-failure": True,
            "dictionaries": {
                "hostile-strings": {"values": HOSTILE_STRINGS},
                "hostile-integers": {"values": HOSTILE_INTEGERS},
            },
            "generation": {
                "max-examples": EXAMPLES_PER_OPERATION,
                "deterministic": True,
                "dictionaries": {
                    "string": {"dictionary": "hostile-strings", "probability": 0.1},
                    "integer": {"dictionary": "hostile-integers", "probability": 0.1},
                },
            },
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
            "phases": {"stateful": {"enabled": False}},
        }
    )


def _failures(event: events.ScenarioFinished) -> set[str]:
    found = set()
    for case_id, checks in event.recorder.checks.items():
        interaction = event.recorder.interactions.get(case_id)
        uri = interaction.request.uri if interaction else "?"
        for check in checks:
            if check.failure_info is not None:
                failure = check.failure_info.failure
                found.add(f"{event.label}: {failure.title}: {failure.message[:300]} [{uri}]")
    return found


def _findings(stream: list[events.EngineEvent]) -> tuple[set[str], list[str]]:
    """(operations tested, one line per distinct failure or engine error)."""
    tested: set[str] = set()
    found: set[str] = set()
    for event in stream:
        if isinstance(event, events.ScenarioFinished) and event.label:
            tested.add(event.label)
            found |= _failures(event)
        elif isinstance(event, events.NonFatalError):
            found.add(f"{event.label}: error: {event.value!r}"[:400])
        elif isinstance(event, events.FatalError):
            found.add(f"engine: {event.exception!r}")
    return tested, sorted(found)


@pytest.fixture
def stocked(receive, sku, warehouse):
    """Rows for the lists to page through: a SKU with stock, and a channel listing it."""
    receive(sku, warehouse, 10)
    ListingFactory(channel=ChannelFactory(code="web-shop"), sku=sku)


def test_no_input_answers_5xx_or_breaks_the_schema(django_user_model, stocked):
    user = django_user_model.objects.create_superuser("fuzz", password="fuzz-only-password")
    headers = {"Authorization": f"Token {Token.objects.create(user=user).key}"}
    app = _App()
    schema = schemathesis.openapi.from_wsgi(
        "/api/v1/schema/", app, headers=headers, config=_config(headers)
    )
    try:
        stream = list(engine_for(schema).execute())
    finally:
        app.close()
    tested, findings = _findings(stream)
    assert not findings, "\n".join(findings)
    # Every operation of the schema ran (a schema that failed to load would test none).
    assert len(tested) == len(list(schema.get_all_operations())) >= 40
