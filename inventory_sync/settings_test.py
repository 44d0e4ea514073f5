"""Test settings: the production module with speed knobs only. Tests always run on PostgreSQL."""

import os
import secrets

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/inventory_sync")
# A key of this run, not one written down: processes a test starts inherit it.
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(64))
os.environ.setdefault("CELERY_BROKER_URL", "memory://")
# The test client, live servers and the processes tests start speak plain HTTP on 127.0.0.1:
# none of production's HTTPS-only defaults (tests/inventory_sync/test_hardening.py checks them).
_PLAIN_HTTP = (
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
)
for _name in _PLAIN_HTTP:
    os.environ.setdefault(_name, "0")

from inventory_sync.settings import *  # noqa: E402,F403
from inventory_sync.settings import DATABASES, STATIC_ROOT  # noqa: E402

if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise RuntimeError("the test suite runs on PostgreSQL: set DATABASE_URL to a postgres:// URL")

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Tasks queue to the in-memory broker and are not run: tests call services and tasks directly.
CELERY_TASK_ALWAYS_EAGER = False
# A loop task called from a test does its work and returns at once instead of idling.
LOOP_IDLE_EXIT_SECONDS = 0.0
# API budgets no test reaches (the schema fuzz sends thousands of calls with one token);
# tests/inventory_sync/test_hardening.py lowers them to see a throttle answer 429. Login
# lockouts stay as in production: their counts are rows, gone with each test's transaction.
API_THROTTLE_RATES = {"user": "1000000/minute", "anon": "1000000/minute"}

# WhiteNoise serves from STATIC_ROOT too and warns on every request while it does not exist.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
