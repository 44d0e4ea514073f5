"""Settings for the Shopify benchmark's web process: the product's, plus one bench-only URL
(a minimal view that only inserts a row) to measure webhook intake against."""

from inventory_sync.settings import *  # noqa: F403

ROOT_URLCONF = "bench.shopify_urls"
LOGGING = {"version": 1, "disable_existing_loggers": False}
