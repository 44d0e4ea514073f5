"""Test settings: the production module with speed knobs only. Tests always run on PostgreSQL."""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/inventory_sync")
os.environ.setdefault("SECRET_KEY", "test-only-secret")
os.environ.setdefault("CELERY_BROKER_URL", "memory://")

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

# WhiteNoise serves from STATIC_ROOT too and warns on every request while it does not exist.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
