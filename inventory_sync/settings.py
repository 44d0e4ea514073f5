"""One settings module for every environment, driven by environment variables.

Production differs from the demo only by what the environment says (DEBUG off, a real
SECRET_KEY, DATABASE_URL pointing at PostgreSQL, CELERY_BROKER_URL at Redis or RabbitMQ).
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from inventory_sync.lib.envtools import (
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_pair,
    env_rate,
    env_secret,
    env_secret_list,
    env_str,
    local_secret_key,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("INVENTORY_SYNC_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DJANGO_DEBUG", False)
# The one-command demo on http://127.0.0.1 (set by `make demo` and the demo command).
DEMO_MODE = env_bool("INVENTORY_SYNC_DEMO", False)
SECRET_KEY = env_secret("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG and not DEMO_MODE:
        raise ImproperlyConfigured(
            "SECRET_KEY (or SECRET_KEY_FILE) is required in production: set it to 50 or more "
            "random characters, e.g. python -c 'import secrets; print(secrets.token_urlsafe(64))'. "
            "Only the demo (INVENTORY_SYNC_DEMO=1) and DJANGO_DEBUG=1 make a key of their own."
        )
    # Random, made once and kept under var/: never a key anyone else knows.
    SECRET_KEY = local_secret_key(VAR_DIR / "secret_key")
# Earlier keys, still accepted (sessions, signed links, sealed credentials) while rotating.
SECRET_KEY_FALLBACKS = env_secret_list("SECRET_KEY_FALLBACKS")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# --- HTTPS, cookies and headers ---------------------------------------------------------------
# Production (DEBUG off, not the demo) is served over HTTPS only: plain HTTP is redirected,
# browsers are told to use HTTPS for a year, cookies never travel in clear. Each setting can
# be changed from the environment (README, "Configuration"); the demo and development on
# http://127.0.0.1 get none of it by default.
_HTTPS_ONLY = not DEBUG and not DEMO_MODE
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", _HTTPS_ONLY)
SECURE_SSL_HOST = env_str("SECURE_SSL_HOST") or None
# Paths (regular expressions, no leading slash) a load balancer probes over plain HTTP: by
# default the liveness and readiness probes, which show no data.
SECURE_REDIRECT_EXEMPT = env_list("SECURE_REDIRECT_EXEMPT", [r"^healthz$", r"^readyz$"])
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600 if _HTTPS_ONLY else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", _HTTPS_ONLY)
# Only for a domain whose every subdomain serves HTTPS (hstspreload.org): an opt-in.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Behind a proxy that terminates TLS: the header it sets and the value meaning HTTPS,
# "HTTP_X_FORWARDED_PROTO,https". Without it every request looks like plain HTTP and the
# redirect above would loop. Only when the proxy overwrites the header a client sends.
SECURE_PROXY_SSL_HEADER = env_pair("SECURE_PROXY_SSL_HEADER")
USE_X_FORWARDED_HOST = env_bool("USE_X_FORWARDED_HOST", False)
SECURE_CONTENT_TYPE_NOSNIFF = env_bool("SECURE_CONTENT_TYPE_NOSNIFF", True)
SECURE_REFERRER_POLICY = env_str("SECURE_REFERRER_POLICY", "same-origin")
SECURE_CROSS_ORIGIN_OPENER_POLICY = env_str("SECURE_CROSS_ORIGIN_OPENER_POLICY", "same-origin")
X_FRAME_OPTIONS = env_choice("X_FRAME_OPTIONS", "DENY", ["DENY", "SAMEORIGIN"])
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", _HTTPS_ONLY)
SESSION_COOKIE_HTTPONLY = env_bool("SESSION_COOKIE_HTTPONLY", True)
SESSION_COOKIE_SAMESITE = env_choice("SESSION_COOKIE_SAMESITE", "Lax", ["Lax", "Strict"])
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 14 * 24 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = env_bool("SESSION_EXPIRE_AT_BROWSER_CLOSE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", _HTTPS_ONLY)
# The console sends its token from the page, not the cookie: it works either way.
CSRF_COOKIE_HTTPONLY = env_bool("CSRF_COOKIE_HTTPONLY", False)
CSRF_COOKIE_SAMESITE = env_choice("CSRF_COOKIE_SAMESITE", "Lax", ["Lax", "Strict"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_htmx",
    "template_partials",
    "access",
    "ledger",
    "allocation",
    "channels",
    "channels.lanes.shopify",
    "channels.lanes.amazon",
    "reconciliation",
    "insight",
    "inventory_sync",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # A NUL in a URL is a 400 before WhiteNoise, a view or PostgreSQL sees it.
    "inventory_sync.lib.inputs.RefuseControlCharactersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "inventory_sync.lib.timezones.UserTimeZoneMiddleware",
    # Last, as django-axes asks: turns a refused login into the lockout answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "inventory_sync.urls"
WSGI_APPLICATION = "inventory_sync.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "access.context_processors.role_permissions",
            ],
            # Every console page writes times the same way (`ago`).
            "builtins": ["inventory_sync.templatetags.console"],
        },
    }
]

# --- Database -------------------------------------------------------------------------------
# PostgreSQL in production and tests. The default is an SQLite file for the one-command demo:
# WAL lets the web process read while the worker writes, IMMEDIATE transactions take the write
# lock at BEGIN (so two writers queue instead of failing on lock upgrade), and the busy timeout
# makes the queueing wait rather than raise "database is locked".
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'inventory_sync.sqlite3'}")
# Connections are kept (a new PostgreSQL connection costs more than a webhook's whole work) and
# checked before reuse; set DB_CONN_MAX_AGE=0 behind a transaction-mode pooler.
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60), conn_health_checks=True
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # application_name tells web, worker and beat apart in pg_stat_activity.
    DATABASES["default"].setdefault("OPTIONS", {})["application_name"] = env_str(
        "INVENTORY_SYNC_PROCESS", "inventory-sync"
    )
ATOMIC_REQUESTS = False  # services open their own transactions so lock lifetimes stay visible
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "ledger:dashboard"
LOGOUT_REDIRECT_URL = "login"

# --- Login throttling (django-axes; inventory_sync.lib.lockout) ------------------------------
# LOGIN_FAILURE_LIMIT wrong passwords for one username from one address lock that pair out for
# LOGIN_LOCKOUT_MINUTES (429 with Retry-After, right password or not), on the console and the
# admin; a successful login clears the count. Admins unlock early in the admin (Axes → Access
# attempts, signed in the audit trail like every admin change) or with `manage.py
# axes_reset_username <name>`.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "inventory_sync.lib.lockout.client_ip"
AXES_LOCKOUT_CALLABLE = "inventory_sync.lib.lockout.lockout_response"
# Every process start would log a version banner; lockouts themselves are still logged.
AXES_VERBOSE = False
# How many proxies in front of the web processes append to X-Forwarded-For (one nginx: 1).
# Login lockouts and the API's anonymous budget count per client address, read from that
# header this far and no further (what a client writes there itself is not believed).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

# --- API budgets (inventory_sync.lib.throttles) -----------------------------------------------
# Per user, a token's calls apart from the same person's console session; anonymous calls per
# address. Generous: they stop a runaway script or a guessing loop, not the console or a bulk
# import. Counted in the cache (Redis in production). Over budget: 429 with Retry-After.
API_THROTTLE_RATES = {
    "user": env_rate("API_THROTTLE_USER", "6000/minute"),
    "anon": env_rate("API_THROTTLE_ANON", "120/minute"),
}
# The schema and docs (/api/v1/schema/, docs/, redoc/) need a login or a token unless this is on.
API_DOCS_PUBLIC = env_bool("API_DOCS_PUBLIC", False)
# The dashboard's sync latency (ledger change to the channel's acknowledgement) is green up to
# this p95, amber up to twice it, red beyond: Shopify acknowledges a set at once; Amazon's
# Listings API accepts and applies within minutes.
SYNC_LATENCY_TARGET_SECONDS = {"shopify": 1.0, "amazon": 120.0, "default": 5.0}
# /metrics answers a scraper sending `Authorization: Bearer <this>` (or METRICS_TOKEN_FILE),
# and anyone logged in to the console. Empty: a console login only.
METRICS_TOKEN = env_secret("METRICS_TOKEN")

# Bodies above this are refused with 400 before parsing: an event is a few KB at most.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2_621_440)

# Fernet keys for channel credentials at rest, newest first (see inventory_sync.lib.secrets).
CREDENTIALS_KEYS = env_list("CREDENTIALS_KEYS", [])

# Customers are matched across channels by salted SHA-256 hashes of their normalised email and
# phone (channels.customers). Changing the salt un-matches every customer already stored: the
# next order of each makes a new one. The default is derived from SECRET_KEY, so rotating that
# key has the same effect: set CUSTOMER_MATCH_SALT once in production and keep it.
CUSTOMER_MATCH_SALT = (
    env_secret("CUSTOMER_MATCH_SALT")
    or hashlib.sha256(b"inventory-sync customer match salt:" + SECRET_KEY.encode()).hexdigest()
)
# The country of a phone number written without its country code, when the order's
# destination does not say (ISO 3166-1 alpha-2).
CUSTOMER_PHONE_COUNTRY = env_str("CUSTOMER_PHONE_COUNTRY", "US").upper()

# --- Cache --------------------------------------------------------------------------------
# Shared by every process in production (wake-up debouncing, rate-limit buckets): Redis.
CACHE_URL = env_str("CACHE_URL", "")
if CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    }
else:
    # The demo's web, worker and beat processes share this folder instead.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["access.permissions.RolePermission"],
    # limit 1-500, offset 0-10⁹, anything else a 400 (inventory_sync.lib.api).
    "DEFAULT_PAGINATION_CLASS": "inventory_sync.lib.api.BoundedPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "inventory_sync.lib.api.exception_handler",
    "DEFAULT_PARSER_CLASSES": ["inventory_sync.lib.api.BoundedJSONParser"],
    "DEFAULT_THROTTLE_CLASSES": [
        "inventory_sync.lib.throttles.UserThrottle",
        "inventory_sync.lib.throttles.AnonThrottle",
    ],
    "NUM_PROXIES": TRUSTED_PROXY_COUNT or None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "inventory-sync API",
    "DESCRIPTION": "Canonical ledger, allocation and channel state of inventory-sync.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["inventory_sync.lib.docs.SchemaReaders"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # The error answers (400/401/403/404/409/413/415/429) every operation may give.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "inventory_sync.lib.api.document_error_answers",
    ],
    # Two models have a `kind` field; name their enums instead of letting a hash decide.
    "ENUM_NAME_OVERRIDES": {
        "EventKindEnum": "ledger.models.EventKind",
        "LocationKindEnum": "ledger.models.Location.Kind",
    },
}

# --- Celery ---------------------------------------------------------------------------------
# The broker only wakes workers; durable state (dirty flags, desired quantities) lives in the
# database, so a lost message is caught by the next periodic sweep.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
# The longest a process waits to connect to the broker (or to the Redis of the loops' doorbell).
BROKER_TIMEOUT_SECONDS = float(env_str("BROKER_TIMEOUT_SECONDS", "2"))
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's filesystem transport, writing each message whole before a worker can see it.
    CELERY_BROKER_TRANSPORT = "inventory_sync.lib.broker:Transport"
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("out", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        # Broadcast/control messages would otherwise land in ./control of the working directory.
        "control_folder": str(_broker_dir / "control"),
        # The folder is polled: every second by default, which the demo's latency would show.
        "polling_interval": 0.1,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # kombu's Redis transport, with a worker that reconnects when Redis goes away instead of
    # exiting (inventory_sync.lib.redis_broker says why).
    CELERY_BROKER_TRANSPORT = "inventory_sync.lib.redis_broker:Transport"
    if CELERY_BROKER_URL.startswith("rediss://"):
        # Named by its class, the transport no longer learns TLS from the scheme.
        CELERY_BROKER_USE_SSL = {"ssl_cert_reqs": "required"}
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # A wake-up publishes from inside a webhook request: a broker that does not answer
        # costs it at most these seconds, not the operating system's connect timeout.
        "socket_connect_timeout": BROKER_TIMEOUT_SECONDS,
        "socket_timeout": BROKER_TIMEOUT_SECONDS + 5,
        # Idle connections are pinged this often, so one dropped by a restart is noticed.
        "health_check_interval": 10,
        "retry_on_timeout": True,
    }
# A broker that blinks or restarts must never stop a worker: retry at start-up and for ever
# after a lost connection (the default gives up after 100 attempts).
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_CONNECTION_TIMEOUT = BROKER_TIMEOUT_SECONDS
# A wake-up that cannot publish gives up after two quick retries (a pooled connection dropped
# by a broker restart is replaced by the first); the periodic sweep rings again.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.1,
    "interval_max": 0.2,
}
CELERY_TASK_ROUTES = {
    "channels.tasks.ingest_task": {"queue": "ingest"},
    "channels.tasks.push_channel_task": {"queue": "push"},
    # A run reads whole channels (minutes for a large catalogue, an Amazon report up to 15):
    # its own queue, so it never holds a thread the planner or ingest needs.
    "reconciliation.tasks.reconcile_task": {"queue": "reconcile"},
    "reconciliation.tasks.reconcile_unexpected_task": {"queue": "reconcile"},
    "reconciliation.tasks.confirm_run_task": {"queue": "reconcile"},
    "reconciliation.tasks.confirm_due_runs_task": {"queue": "reconcile"},
}
# Worker loops (inventory_sync.lib.loops): how long a loop stays after its last work, and
# the longest one task runs before handing over to a fresh one.
LOOP_IDLE_EXIT_SECONDS = float(env_str("LOOP_IDLE_EXIT_SECONDS", "2.0"))
LOOP_MAX_RUN_SECONDS = float(env_str("LOOP_MAX_RUN_SECONDS", "45.0"))
# Ingest loops that may run at once, across every ingest worker (channels.tasks.ingest_task):
# one runs whenever events arrive, the next joins while a backlog lasts. Give each loop a
# thread, and for more than one core's worth, more ingest worker processes (README, "How many
# ingest processes").
INGEST_LOOPS = env_int("INGEST_LOOPS", 2)
# Inbound events applied in one transaction by an ingest loop (channels.claims).
INGEST_CLAIM_SIZE = env_int("INGEST_CLAIM_SIZE", 16)
# A channel's push window (channels.push.push_wait): during a stream of sales a call goes when
# the oldest waiting change has waited this long, so one call carries every change of the
# window; the first change after a quiet spell goes at once. A channel may set its own.
PUSH_WINDOW_SECONDS = float(env_str("PUSH_WINDOW_SECONDS", "0.85"))
# Shopify client: per-call timeout, attempts and the first backoff step (doubling, jittered).
SHOPIFY_TIMEOUT_SECONDS = float(env_str("SHOPIFY_TIMEOUT_SECONDS", "10"))
SHOPIFY_MAX_ATTEMPTS = env_int("SHOPIFY_MAX_ATTEMPTS", 6)
SHOPIFY_BACKOFF_BASE_SECONDS = float(env_str("SHOPIFY_BACKOFF_BASE_SECONDS", "0.5"))
# Amazon SP-API client: per-request timeout (seconds), attempts per call (429s, 5xx, timeouts)
# and the first backoff step in seconds (doubling, jittered; a 429 waits at least 1/rate).
AMAZON_TIMEOUT = float(env_str("AMAZON_TIMEOUT", "10"))
AMAZON_MAX_ATTEMPTS = env_int("AMAZON_MAX_ATTEMPTS", 5)
AMAZON_BACKOFF = float(env_str("AMAZON_BACKOFF", "0.5"))
# An accepted Amazon push is read back this often, and sent again when not shown by the
# deadline; orders are polled (the net under notifications) this often.
AMAZON_CONFIRM_INTERVAL_SECONDS = float(env_str("AMAZON_CONFIRM_INTERVAL_SECONDS", "5"))
AMAZON_APPLY_DEADLINE_SECONDS = float(env_str("AMAZON_APPLY_DEADLINE_SECONDS", "1800"))
AMAZON_ORDERS_POLL_SECONDS = env_int("AMAZON_ORDERS_POLL_SECONDS", 120)
# A live FBA inventory summary read this long after the last count applied is the authority
# even when its lastUpdatedTime is older: Amazon does not move that time for inbound-only
# changes, and a dropped notification's newer count would otherwise keep it out for good.
FBA_SUMMARY_SETTLE_SECONDS = env_int("FBA_SUMMARY_SETTLE_SECONDS", 300)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# Queues: ingest (inbound events), push (channel pushes), default (everything else),
# reconcile (runs that read whole channels). deploy/ runs one worker per queue.
CELERY_TASK_DEFAULT_QUEUE = "default"
WORKER_QUEUES = ("ingest", "push", "default", "reconcile")
CELERY_TIMEZONE = "UTC"
# Every task is idempotent, so redelivery after a worker crash is safe and wanted.
CELERY_TASK_ACKS_LATE = True
# A task keeps running when the broker connection drops: it works on the database, and a copy
# the broker delivers again finds its work done (a thread pool could not stop it anyway).
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 5 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 4 * 60
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Each channel lane adds its own periodic jobs (channels.lanes.*.jobs) at start-up, unless an
# entry of the same name is set here.
# Reconciliation (reconciliation/): how often every listing is read back, how long a mismatch
# waits for orders on their way before it counts as drift, when drift halts a listing
# ((units, percent) by "default", "tier:<tier>" or "channel:<code>"), and the dead-man switch.
# --- Insight: days of cover and reorder suggestions (insight.cover) -------------------------
# Days from a purchase order to sellable stock, by velocity tier.
REORDER_LEAD_DAYS = {"hero": 3, "core": 5, "tail": 7, "slow": 14}
# An FBA pool adds Amazon's receiving time to the supplier's lead time.
FBA_RESTOCK_LAG_DAYS = env_int("FBA_RESTOCK_LAG_DAYS", 10)
# A suggested order covers the lead time and this many days more.
REORDER_COVER_DAYS = env_int("REORDER_COVER_DAYS", 30)
# An FBA pool holding more than this many days of sales is a slow mover (storage fees).
FBA_SLOW_COVER_DAYS = env_int("FBA_SLOW_COVER_DAYS", 90)

RECONCILE_EVERY_MINUTES = env_int("RECONCILE_EVERY_MINUTES", 15)
RECONCILE_HERO_EVERY_MINUTES = env_int("RECONCILE_HERO_EVERY_MINUTES", 5)
RECONCILE_GRACE_SECONDS = env_int("RECONCILE_GRACE_SECONDS", 90)
RECONCILE_HALT_THRESHOLDS = {"default": (3, 10)}
RECONCILE_BRITTLE_AFTER = 3
# An acknowledged Shopify push is read back within this many seconds, in one bulk read with
# every other push acknowledged meanwhile.
READ_BACK_SECONDS = float(env_str("READ_BACK_SECONDS", "5"))
DEAD_MAN_PIPELINE_STALL_MINUTES = env_int("DEAD_MAN_PIPELINE_STALL_MINUTES", 10)
CYCLE_COUNT_DISCREPANCY_PERCENT = env_int("CYCLE_COUNT_DISCREPANCY_PERCENT", 5)
# Alerts by email go through Django's mail backend (SMTP by default).
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "inventory-sync@localhost")
# Links in alerts point here (https://ops.example.com).
CONSOLE_BASE_URL = env_str("CONSOLE_BASE_URL", "")

CELERY_BEAT_SCHEDULE = {
    # The sweep behind the on-commit wake-up: a lost wake-up delays a push by this much at most.
    "channels-sweep": {
        "task": "channels.tasks.sweep_task",
        "schedule": 15.0,
        "options": {"expires": 30},
    },
    # A heartbeat through each queue (channels.health.worker_heartbeats, the channel list).
    **{
        f"worker-heartbeat-{queue}": {
            "task": "channels.tasks.worker_heartbeat_task",
            "schedule": 30.0,
            "args": [queue],
            "options": {"queue": queue, "expires": 25},
        }
        for queue in WORKER_QUEUES
    },
    "channels-poll-orders": {
        "task": "channels.tasks.poll_orders_task",
        "schedule": 60.0,
        "options": {"expires": 90},
    },
    # Shipment confirmations and fulfilment requests whose retry came due, and any wake-up
    # that was lost (channels.outbox, channels.fulfilment).
    "channels-outboxes": {
        "task": "channels.tasks.sweep_outboxes_task",
        "schedule": 60.0,
        "options": {"expires": 90},
    },
    # Fulfilment partners asked for what was routed to them (channels.fulfilment_sync).
    "channels-fulfilment-sync": {
        "task": "channels.tasks.sync_fulfilment_requests_task",
        "schedule": 60.0,
        "options": {"expires": 90},
    },
    "reservations-expire": {
        "task": "allocation.tasks.reservations_expire_task",
        "schedule": crontab(minute="*"),
        "options": {"expires": 90},
    },
    "velocity-recompute": {
        "task": "allocation.tasks.velocity_recompute_task",
        "schedule": crontab(minute=7),
        "options": {"expires": 60 * 60},
    },
    "ledger-verify": {
        "task": "ledger.tasks.ledger_verify_task",
        "schedule": crontab(minute="*/15"),
        "options": {"expires": 20 * 60},
    },
    # Reconciliation: every listing read back at :00/:15/:30/:45, hero SKUs every 5 minutes.
    "reconcile-all": {
        "task": "reconciliation.tasks.reconcile_task",
        "schedule": crontab(minute=f"*/{RECONCILE_EVERY_MINUTES}"),
        "kwargs": {"trigger": "schedule"},
        "options": {"expires": RECONCILE_EVERY_MINUTES * 60},
    },
    "reconcile-hero": {
        "task": "reconciliation.tasks.reconcile_task",
        "schedule": crontab(minute=f"*/{RECONCILE_HERO_EVERY_MINUTES}"),
        "kwargs": {"trigger": "hero", "velocity_tier": "hero"},
        "options": {"expires": RECONCILE_HERO_EVERY_MINUTES * 60},
    },
    "reconcile-confirm": {
        "task": "reconciliation.tasks.confirm_due_runs_task",
        "schedule": 30.0,
        "options": {"expires": 60},
    },
    # Behind the wake-up each acknowledged push rings.
    "reconcile-read-back": {
        "task": "reconciliation.tasks.read_back_task",
        "schedule": 30.0,
        "options": {"expires": 60},
    },
    "dead-man-check": {
        "task": "reconciliation.tasks.dead_man_check_task",
        "schedule": 60.0,
        "options": {"expires": 120},
    },
    "alerts-send": {
        "task": "reconciliation.tasks.send_alerts_task",
        "schedule": 60.0,
        "options": {"expires": 120},
    },
    "cycle-count-scan": {
        "task": "reconciliation.tasks.cycle_count_scan_task",
        "schedule": crontab(minute="*/5"),
        "options": {"expires": 10 * 60},
    },
    # Marketplace channels near an account-health bar (channels.order_health), once an hour.
    "order-health-check": {
        "task": "reconciliation.tasks.order_health_check_task",
        "schedule": crontab(minute=23),
        "options": {"expires": 60 * 60},
    },
}
if DEMO_MODE:
    # The demo's warehouse ships merchant orders a minute after they arrive, and Amazon's
    # returns report is read every five minutes instead of daily, so shipments, their
    # tracking and returns show within a demo's first minutes.
    CELERY_BEAT_SCHEDULE["demo-warehouse"] = {
        "task": "channels.tasks.demo_warehouse_task",
        "schedule": 30.0,
        "options": {"expires": 60},
    }
    CELERY_BEAT_SCHEDULE["channels-sync-fba-returns"] = {
        "task": "channels.tasks.sync_fba_returns_task",
        "schedule": 300.0,
        "options": {"expires": 600},
    }
# Order health alerts: at this fraction of Amazon's bar, for channels with this many orders in
# the last 30 days.
ORDER_HEALTH_ALERT_FRACTION = env_str("ORDER_HEALTH_ALERT_FRACTION", "0.8")
ORDER_HEALTH_MIN_ORDERS = env_int("ORDER_HEALTH_MIN_ORDERS", 20)


# LOG_FORMAT=json writes one JSON object a line (deploy/ sets it): every field a log call
# passes in `extra` (channel, listing_id, inbound_event_id, push_attempt_id, ledger_event_id)
# becomes a key a log search can filter on. plain (the default) is for a terminal.
LOG_FORMAT = env_str("LOG_FORMAT", "plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
