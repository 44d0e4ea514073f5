"""Real processes for fault tests: a throw-away Redis, a sandbox shop, gunicorn, Celery workers
and beat, each on its own free port and logging to its own file, on a database of their own.

Every process is started and stopped by the object that started it (by its process id), never
by name: the machine's own Redis on 6379 and other runs' processes are left alone.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import requests

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
# Where a failed run's process logs are kept (pytest keeps only its last few temporary dirs).
KEPT_LOGS = Path(os.environ.get("FAULT_LOGS_DIR", ROOT / "var" / "fault-logs"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition, *, timeout: float, what: str, every: float = 0.1):
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(every)


def answers_http(url: str) -> bool:
    try:
        requests.get(url, timeout=1)
    except requests.RequestException:
        return False
    return True


class Processes:
    """Children of this test, by name; each one's output goes to `logs/<name>.log`."""

    def __init__(self, logs: Path, env: dict[str, str]) -> None:
        self.logs = logs
        self.env = env
        self.children: dict[str, subprocess.Popen] = {}

    def start(self, name: str, command: list[str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 — the child keeps it
        child = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.children[name] = child
        return child

    def stop(self, name: str, *, timeout: float = 20) -> None:
        child = self.children.pop(name, None)
        if child is None or child.poll() is not None:
            return
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()

    def stop_all(self) -> None:
        # The broker last: workers shutting down still talk to it.
        for name in sorted(self.children, key=lambda name: name == "redis"):
            self.stop(name)

    def exited(self) -> dict[str, int]:
        return {
            name: child.returncode
            for name, child in self.children.items()
            if child.poll() is not None
        }

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def keep_logs(self, label: str) -> Path:
        """Copy every process log to KEPT_LOGS/<label>-<time>-<pid>/ and return that folder."""
        kept = KEPT_LOGS / f"{label}-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
        kept.mkdir(parents=True, exist_ok=True)
        for log in self.logs.glob("*.log"):
            shutil.copy2(log, kept / log.name)
        return kept


class ThrowAwayRedis:
    """A Redis of our own on a free port, without persistence: stopping it loses everything,
    as a broker that restarts empty does."""

    def __init__(self, processes: Processes) -> None:
        self.processes = processes
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.processes.start(
            "redis",
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
        )  # fmt: skip
        wait_for(self.answers, timeout=20, what=f"redis on {self.port}")

    def stop(self) -> None:
        self.processes.stop("redis")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False


def database_url(name: str) -> str:
    """The test run's PostgreSQL server, another database on it."""
    base = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/x"))
    return urlunsplit(base._replace(path=f"/{name}"))


def fresh_database(name: str) -> str:
    url = database_url(name)
    admin = urlunsplit(urlsplit(url)._replace(path="/postgres", scheme="postgresql"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return url


def drop_database(name: str) -> None:
    admin = urlunsplit(urlsplit(database_url(name))._replace(path="/postgres", scheme="postgresql"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_web(processes: Processes) -> str:
    port = free_port()
    processes.start(
        "web",
        [PYTHON, "-m", "gunicorn", "inventory_sync.wsgi:application",
         "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "8",
         "--worker-class", "gthread", "--timeout", "60", "--log-level", "warning"],
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: answers_http(f"{url}/accounts/login/"), timeout=60, what="gunicorn")
    return url


# The production queue groups (deploy/): ingest and the planner, channel pushes, the rest.
WORKERS = {"ingest": "ingest", "push": "push", "default": "default,celery"}


def start_workers(processes: Processes) -> None:
    for name, queues in WORKERS.items():
        processes.start(
            f"worker-{name}",
            [PYTHON, "-m", "celery", "-A", "inventory_sync", "worker", "--pool", "threads",
             "--concurrency", "4", "-Q", queues, "--loglevel", "INFO", "-n", f"{name}@%h"],
        )  # fmt: skip


def start_beat(processes: Processes, logs: Path) -> None:
    processes.start(
        "beat",
        [PYTHON, "-m", "celery", "-A", "inventory_sync", "beat", "--loglevel", "INFO",
         "--pidfile", str(logs / "beat.pid")],
    )  # fmt: skip


def start_sandbox_shop(processes: Processes, *, access_token: str) -> str:
    port = free_port()
    processes.start(
        "shop",
        [PYTHON, "-m", "channels.sandbox.shopify", "--port", str(port),
         "--access-token", access_token, "--shop-domain", "outage.myshopify.com"],
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: answers_http(f"{url}/_sandbox/"), timeout=60, what="sandbox shop")
    return url
