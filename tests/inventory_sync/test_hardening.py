"""The edges toward the internet: production settings (HTTPS only, `check --deploy` clean with
the README's variables), the demo's own secret key, login lockouts, API budgets, and the
schema and docs behind a login."""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from cryptography.fernet import Fernet
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.test import Client, RequestFactory
from django.utils import timezone
from rest_framework.test import APIClient

from access.roles import Role
from inventory_sync.lib.lockout import client_ip

ROOT = Path(__file__).resolve().parents[2]

# --- settings as each environment gets them ---------------------------------------------------

PROBE = """
import json
from django.conf import settings
print(json.dumps({name: getattr(settings, name) for name in %r}))
"""
HTTPS_SETTINGS = [
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "X_FRAME_OPTIONS",
    "SECURE_REFERRER_POLICY",
    "SECURE_PROXY_SSL_HEADER",
]


def _run(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            "PATH": os.environ["PATH"],
            "DJANGO_SETTINGS_MODULE": "inventory_sync.settings",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _settings_of(env: dict[str, str], names: list[str]) -> dict:
    result = _run(PROBE % (names,), env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_production_is_https_only_by_default():
    production = _settings_of({"SECRET_KEY": secrets.token_urlsafe(64)}, HTTPS_SETTINGS)

    assert production == {
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "X_FRAME_OPTIONS": "DENY",
        "SECURE_REFERRER_POLICY": "same-origin",
        "SECURE_PROXY_SSL_HEADER": None,
    }


def test_each_hardening_setting_comes_from_the_environment():
    changed = _settings_of(
        {
            "SECRET_KEY": secrets.token_urlsafe(64),
            "SECURE_SSL_REDIRECT": "0",
            "SECURE_HSTS_SECONDS": "600",
            "SECURE_HSTS_INCLUDE_SUBDOMAINS": "no",
            "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "false",
            "X_FRAME_OPTIONS": "SAMEORIGIN",
            "SECURE_REFERRER_POLICY": "no-referrer",
            "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
        },
        HTTPS_SETTINGS,
    )

    assert changed == {
        "SECURE_SSL_REDIRECT": False,
        "SECURE_HSTS_SECONDS": 600,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": False,
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
        "X_FRAME_OPTIONS": "SAMEORIGIN",
        "SECURE_REFERRER_POLICY": "no-referrer",
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
    }


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SECURE_PROXY_SSL_HEADER", "https"),
        ("X_FRAME_OPTIONS", "ALLOW"),
        ("SECURE_SSL_REDIRECT", "2"),
    ],
)
def test_a_malformed_hardening_variable_stops_the_start(name, value):
    result = _run(PROBE % (["DEBUG"],), {"SECRET_KEY": secrets.token_urlsafe(64), name: value})

    assert result.returncode != 0
    assert f"ImproperlyConfigured: {name}=" in result.stderr


def test_the_demo_runs_on_plain_http(tmp_path):
    demo = _settings_of(
        {"INVENTORY_SYNC_DEMO": "1", "INVENTORY_SYNC_VAR_DIR": str(tmp_path)}, HTTPS_SETTINGS
    )

    assert demo["SECURE_SSL_REDIRECT"] is False
    assert demo["SECURE_HSTS_SECONDS"] == 0
    assert demo["SESSION_COOKIE_SECURE"] is demo["CSRF_COOKIE_SECURE"] is False


def _readme_production_environment() -> dict[str, str]:
    """The README's production variables, with fresh values in place of its `<…>` parts."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Production environment", 1)[1]
    block = re.search(r"```ini\n(.*?)```", section, re.S).group(1)
    fresh = {"SECRET_KEY": secrets.token_urlsafe(64), "CREDENTIALS_KEYS": Fernet.generate_key()}
    env = {}
    for line in block.splitlines():
        if line.strip() and not line.startswith("#"):
            name, value = line.split("=", 1)
            if name in fresh:
                value = fresh[name] if isinstance(fresh[name], str) else fresh[name].decode()
            env[name] = re.sub(r"<[^>]*>", "placeholder", value)
    return env


def _check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_is_clean_with_the_readme_production_variables():
    env = _readme_production_environment()
    assert {"SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "CREDENTIALS_KEYS"} <= set(env)

    result = _check_deploy(env)

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNINGS" not in result.stderr


def test_check_deploy_warns_when_a_hardening_default_is_switched_off():
    """The same check, so the clean run above is not clean for want of looking."""
    env = {**_readme_production_environment(), "SECURE_SSL_REDIRECT": "0", "CREDENTIALS_KEYS": ""}

    result = _check_deploy(env)

    assert result.returncode != 0
    assert "security.W008" in result.stderr
    assert "inventory_sync.W001" in result.stderr


@pytest.mark.django_db
def test_plain_http_is_redirected_and_https_behind_the_proxy_gets_hsts(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    client = Client()  # a new handler reads the security settings above

    plain = client.get("/accounts/login/")
    behind_tls = client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")

    assert plain.status_code == 301
    assert plain["Location"] == "https://testserver/accounts/login/"
    assert behind_tls.status_code == 200
    assert behind_tls["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert behind_tls["X-Frame-Options"] == "DENY"


# --- the secret key ---------------------------------------------------------------------------

KEY_PROBE = "from django.conf import settings; print(settings.SECRET_KEY)"


def _demo_key(var_dir: Path) -> subprocess.CompletedProcess:
    return _run(KEY_PROBE, {"INVENTORY_SYNC_DEMO": "1", "INVENTORY_SYNC_VAR_DIR": str(var_dir)})


def test_the_demo_makes_its_own_secret_key_once_and_keeps_it(tmp_path):
    first = _demo_key(tmp_path / "one")
    again = _demo_key(tmp_path / "one")
    elsewhere = _demo_key(tmp_path / "two")

    key = first.stdout.strip()
    assert first.returncode == 0, first.stderr
    assert len(key) >= 50
    assert again.stdout.strip() == key
    assert elsewhere.stdout.strip() not in ("", key)
    kept = tmp_path / "one" / "secret_key"
    assert kept.read_text().strip() == key
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600


def test_demo_processes_starting_together_share_one_key(tmp_path):
    """Web, worker and beat of the demo start at once on a fresh var/: one key for all."""
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "inventory_sync.settings",
        "INVENTORY_SYNC_DEMO": "1",
        "INVENTORY_SYNC_VAR_DIR": str(tmp_path),
    }
    starting = [
        subprocess.Popen(
            [sys.executable, "-c", KEY_PROBE], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    keys = {process.communicate(timeout=120)[0].strip() for process in starting}

    assert keys == {(tmp_path / "secret_key").read_text().strip()}
    assert [path.name for path in tmp_path.iterdir() if "secret_key" in path.name] == ["secret_key"]


def test_production_without_a_secret_key_refuses_to_start():
    result = _run(KEY_PROBE, {})

    assert result.returncode != 0
    assert "SECRET_KEY (or SECRET_KEY_FILE) is required in production" in result.stderr
    assert result.stdout == ""


# --- login lockouts ---------------------------------------------------------------------------


def _log_in(client, username="ops", password="wrong", path="/accounts/login/", **extra):
    return client.post(path, {"username": username, "password": password}, **extra)


def _fail(client, times, **kwargs):
    return [_log_in(client, **kwargs).status_code for _ in range(times)]


@pytest.mark.django_db
def test_ten_wrong_passwords_lock_the_console_login_even_for_the_right_one(client, user):
    assert _fail(client, 9) == [200] * 9  # the form again, with its error

    tenth = _log_in(client)
    right = _log_in(client, password="correct-horse")

    assert tenth.status_code == right.status_code == 429
    assert right["Retry-After"] == "900"
    assert "Too many failed logins. Try again in 15 minutes." in right.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 302  # still sent to the login page


@pytest.mark.django_db
def test_a_lockout_answers_json_to_a_script(client, user):
    _fail(client, 10)

    answer = _log_in(client, password="correct-horse", HTTP_ACCEPT="application/json")

    assert answer.status_code == 429
    assert answer.json() == {
        "code": "locked_out",
        "detail": "Too many failed logins. Try again in 15 minutes.",
        "retry_after": 900,
    }


@pytest.mark.django_db
def test_a_successful_login_clears_the_count(client, user):
    _fail(client, 9)
    assert _log_in(client, password="correct-horse").status_code == 302
    client.logout()

    assert _fail(client, 9) == [200] * 9
    assert _log_in(client, password="correct-horse").status_code == 302


@pytest.mark.django_db
def test_the_lock_holds_one_username_from_one_address_for_fifteen_minutes(client, user):
    _fail(client, 10, REMOTE_ADDR="203.0.113.7")

    other_address = _log_in(
        Client(), password="correct-horse", REMOTE_ADDR="203.0.113.8"
    ).status_code
    other_name = _log_in(client, username="someone", REMOTE_ADDR="203.0.113.7").status_code
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    later = _log_in(client, password="correct-horse", REMOTE_ADDR="203.0.113.7").status_code

    assert (other_address, other_name, later) == (302, 200, 302)


@pytest.mark.django_db
def test_the_admin_login_is_locked_too(client, django_user_model):
    django_user_model.objects.create_superuser("boss", password="boss-password")

    failures = _fail(client, 10, username="boss", path="/admin/login/")
    right = _log_in(client, username="boss", password="boss-password", path="/admin/login/")

    assert failures == [200] * 9 + [429]
    assert right.status_code == 429


@pytest.mark.django_db
def test_an_admin_unlocks_a_login_in_the_admin(client, user, admin_client):
    _fail(client, 10)
    (attempt,) = AccessAttempt.objects.all()

    admin_client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})

    assert not AccessAttempt.objects.exists()
    assert _log_in(client, password="correct-horse").status_code == 302


def test_the_client_address_is_read_from_the_proxy_and_no_further(settings):
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.9"
    )
    settings.TRUSTED_PROXY_COUNT = 0
    direct = client_ip(request)
    settings.TRUSTED_PROXY_COUNT = 1

    assert (direct, client_ip(request)) == ("10.0.0.2", "203.0.113.9")


# --- API budgets ------------------------------------------------------------------------------


@pytest.fixture
def tight_budgets(settings):
    settings.API_THROTTLE_RATES = {"user": "3/minute", "anon": "2/minute"}
    cache.clear()
    yield
    cache.clear()


@pytest.mark.django_db
def test_a_token_over_its_budget_gets_429_with_retry_after(api_client, user, tight_budgets):
    answers = [api_client.get("/api/v1/skus/") for _ in range(4)]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    over = answers[-1]
    assert 0 < int(over["Retry-After"]) <= 60
    assert over.json()["code"] == "throttled"
    # The same person's console session has a budget of its own.
    session = APIClient()
    session.force_login(user)
    assert session.get("/api/v1/skus/").status_code == 200


@pytest.mark.django_db
def test_calls_without_a_login_have_a_budget_per_address(settings, tight_budgets):
    settings.API_DOCS_PUBLIC = True
    anonymous = APIClient()

    codes = [anonymous.get("/api/v1/schema/").status_code for _ in range(3)]
    elsewhere = anonymous.get("/api/v1/schema/", REMOTE_ADDR="192.0.2.44").status_code

    assert (codes, elsewhere) == ([200, 200, 429], 200)


# --- the schema and docs ----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["docs", "redoc"])
def test_the_docs_send_a_stranger_to_the_login_page(client, page):
    answer = client.get(f"/api/v1/{page}/")

    assert answer.status_code == 302
    assert answer["Location"] == f"/accounts/login/?next=/api/v1/{page}/"


@pytest.mark.django_db
def test_the_schema_needs_a_session_or_a_token(client, api_client, django_user_model):
    viewer = django_user_model.objects.create_user("viewer")
    viewer.groups.add(Group.objects.get(name=Role.VIEWER))
    session = Client()
    session.force_login(viewer)

    stranger = client.get("/api/v1/schema/")
    by_token = api_client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    docs = session.get("/api/v1/docs/")

    assert stranger.status_code == 401
    assert by_token.status_code == 200
    assert by_token.json()["info"]["title"] == "inventory-sync API"
    assert docs.status_code == 200


@pytest.mark.django_db
def test_the_docs_take_a_token_and_refuse_a_wrong_one(api_client):
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION="Token not-a-token")

    assert api_client.get("/api/v1/docs/").status_code == 200
    assert wrong.get("/api/v1/redoc/").status_code == 401


@pytest.mark.django_db
def test_api_docs_public_opens_schema_and_docs(client, settings):
    settings.API_DOCS_PUBLIC = True

    assert client.get("/api/v1/schema/").status_code == 200
    assert client.get("/api/v1/docs/").status_code == 200
    assert client.get("/api/v1/redoc/").status_code == 200
