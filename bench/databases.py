"""The benchmarks' own PostgreSQL databases: each bench measures in a database of its own,
created and migrated from scratch (or, for a slow seed, kept between runs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def database_exists(name: str) -> bool:
    import psycopg

    with psycopg.connect(SERVER, autocommit=True) as server:
        found = server.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    return found is not None


def fresh_database(name: str) -> None:
    """Drop `name` if it exists, create it and migrate it. The caller's DATABASE_URL (read by
    the migrate process it starts) must name the same database."""
    import psycopg

    with psycopg.connect(SERVER, autocommit=True) as server:
        server.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        server.execute(f"CREATE DATABASE {name}")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0", "--skip-checks"],
        cwd=ROOT,
        check=True,
    )
