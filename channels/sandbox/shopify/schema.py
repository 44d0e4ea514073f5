"""The official Admin API SDL, built once per process.

Building a GraphQLSchema from the 3.5 MB SDL takes about 1.6 s, so every sandbox in the process
shares one instance; it is immutable once built.
"""

from __future__ import annotations

import os
import threading
from functools import cache
from pathlib import Path

from graphql import GraphQLSchema, build_schema

API_VERSION = "2026-04"
DATA_DIR = Path(__file__).with_name("data")
SCHEMA_PATH = DATA_DIR / f"admin-{API_VERSION}.schema.graphql"

_build_lock = threading.Lock()


@cache
def _build(path: str) -> GraphQLSchema:
    # Shopify's own schema breaks a graphql-core type-system rule (deprecated implementations of
    # non-deprecated interface fields); it is the server's truth, so skip schema self-checks.
    return build_schema(
        Path(path).read_text(encoding="utf-8"), assume_valid_sdl=True, assume_valid=True
    )


def admin_schema() -> GraphQLSchema:
    """The Admin GraphQL schema; `SHOPIFY_SANDBOX_SCHEMA` points at another SDL file if set."""
    path = os.environ.get("SHOPIFY_SANDBOX_SCHEMA", str(SCHEMA_PATH))
    # functools.cache does not stop two threads from both paying the 1.6 s build.
    with _build_lock:
        return _build(path)
