"""The production process definitions in deploy/: every process restarts when it exits and is
checked while it runs; one worker serves each queue; the systemd units pass systemd's own
check; the env example carries the README's production variables; web's health check passes
against gunicorn in production settings (HTTPS redirect on). (Docker does not run here: the
compose file is checked as data.)"""

from __future__ import annotations

import configparser
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def argument(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    parser.read(UNITS / name)
    return parser


def test_every_compose_service_restarts_and_has_a_health_check():
    services = compose()["services"]
    assert set(services) >= {"postgres", "redis", "web", "beat"}
    for name, service in services.items():
        assert service.get("restart") == "always", name
        assert service.get("healthcheck", {}).get("test"), name


def test_one_compose_worker_per_queue_each_pinged_by_its_own_name():
    served = {}
    for name, service in compose()["services"].items():
        command = service.get("command")
        if not isinstance(command, str) or " worker " not in command:
            continue
        words = shlex.split(command)
        node = argument(words, "-n").split("@")[0]
        for queue in argument(words, "-Q").split(","):
            served.setdefault(queue, []).append(name)
        check = " ".join(service["healthcheck"]["test"])
        assert "inspect ping" in check, name
        assert f"--destination {node}@$$HOSTNAME" in check, name
        assert argument(words, "--pool") == "threads", name
    assert {queue: len(names) for queue, names in served.items()} == dict.fromkeys(
        [*settings.WORKER_QUEUES, "celery"], 1
    )


def test_workers_and_beat_start_after_web_has_migrated():
    services = compose()["services"]
    assert "migrate" in " ".join(services["web"]["command"])
    for name, service in services.items():
        if name.startswith("worker-") or name == "beat":
            assert service["depends_on"]["web"]["condition"] == "service_healthy", name
    assert "worker_heartbeats" in services["beat"]["healthcheck"]["test"]


def test_every_long_running_unit_restarts_for_ever():
    services = sorted(path.name for path in UNITS.glob("*.service"))
    running = [name for name in services if name != "inventory-sync-healthcheck.service"]
    assert len(running) == 2 + len(settings.WORKER_QUEUES)  # web, beat and the workers
    for name in running:
        parsed = unit(name)
        assert parsed["Service"]["Restart"] == "always", name
        assert parsed["Unit"]["StartLimitIntervalSec"] == "0", name
    wanted = unit("inventory-sync.target")["Unit"]["Wants"].split()
    assert set(wanted) == {*running, "inventory-sync-healthcheck.timer"}


def test_one_systemd_worker_per_queue():
    served = {}
    for path in UNITS.glob("inventory-sync-worker-*.service"):
        words = shlex.split(unit(path.name)["Service"]["ExecStart"])
        for queue in argument(words, "-Q").split(","):
            served.setdefault(queue, []).append(path.name)
    assert {queue: len(names) for queue, names in served.items()} == dict.fromkeys(
        [*settings.WORKER_QUEUES, "celery"], 1
    )


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_accepts_the_units(tmp_path):
    """Pointed at this checkout (systemd checks that each command exists)."""
    for path in UNITS.iterdir():
        text = path.read_text()
        text = text.replace("/opt/inventory-sync/.venv/bin", str(Path(sys.executable).parent))
        (tmp_path / path.name).write_text(text.replace("/opt/inventory-sync", str(ROOT)))
    verified = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *sorted(str(p) for p in tmp_path.iterdir())],
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "inventory-sync" not in verified.stderr  # no warning about our units either


def test_the_health_check_script_is_valid_shell():
    script = DEPLOY / "healthcheck.sh"
    assert script.stat().st_mode & 0o111  # executable, as its unit runs it
    checked = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


# --- the environment and web's health check -----------------------------------------------------


def env_lines(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if re.match(r"[A-Z_]+=", line))
    return dict(pairs)


def readme_production_environment() -> dict[str, str]:
    """The README's "Production environment" block, with fresh values for its `<…>` parts."""
    section = (ROOT / "README.md").read_text().split("### Production environment", 1)[1]
    block = env_lines(re.search(r"```ini\n(.*?)```", section, re.S).group(1))
    fresh = {"SECRET_KEY": secrets.token_urlsafe(64), "CREDENTIALS_KEYS": Fernet.generate_key()}
    for name, value in fresh.items():
        block[name] = value if isinstance(value, str) else value.decode()
    return block


def test_the_env_example_carries_every_variable_of_the_readme_production_block():
    example = env_lines((DEPLOY / "inventory-sync.env.example").read_text())
    production = readme_production_environment()
    assert {"CREDENTIALS_KEYS", "SECURE_PROXY_SSL_HEADER", "TRUSTED_PROXY_COUNT"} <= set(example)
    assert set(production) - set(example) == set()
    # Values the README gives as they are (not `<…>` to fill in) are the same in both.
    readme = (ROOT / "README.md").read_text().split("### Production environment", 1)[1]
    as_written = env_lines(re.search(r"```ini\n(.*?)```", readme, re.S).group(1))
    for name, value in as_written.items():
        if "<" not in value:
            assert example[name] == value, name


def test_compose_checks_web_with_its_health_check_script():
    web = compose()["services"]["web"]
    assert web["healthcheck"]["test"] == ["CMD", "python", "deploy/web_healthcheck.py"]
    assert "--bind 0.0.0.0:8000" in " ".join(web["command"])  # the port the script asks


@pytest.fixture
def production_web(transactional_db, tmp_path):
    """gunicorn serving the project in production settings (the README's production variables:
    HTTPS redirect on, behind a TLS proxy) on the test database, on a socket this test bound."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    database = connection.settings_dict
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "inventory_sync.settings",
        "INVENTORY_SYNC_VAR_DIR": str(tmp_path),
        **readme_production_environment(),
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}"
        f"/{database['NAME']}",
    }
    log = open(tmp_path / "gunicorn.log", "wb")  # noqa: SIM115 — the child keeps it
    child = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"fd://{listener.fileno()}",
         "--workers", "1", "--log-level", "warning", "inventory_sync.wsgi:application"],
        cwd=ROOT, env=env, pass_fds=[listener.fileno()], stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    log.close()
    try:
        yield listener.getsockname()[1], env
    finally:
        child.terminate()
        child.wait(timeout=30)
        listener.close()


def health_check(port: int, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(DEPLOY / "web_healthcheck.py"), str(port)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.slow
def test_web_health_check_passes_behind_the_https_redirect_and_fails_on_a_redirect(
    production_web,
):
    port, env = production_web
    healthy = health_check(port, env)
    assert (healthy.returncode, healthy.stdout) == (0, "")

    # Asked without the proxy's header, web redirects to HTTPS: unhealthy (any answer used to
    # pass, so a web that only redirects, as one without SECURE_PROXY_SSL_HEADER does, was
    # healthy).
    no_proxy_header = {
        name: value for name, value in env.items() if name != "SECURE_PROXY_SSL_HEADER"
    }
    unhealthy = health_check(port, no_proxy_header)
    assert unhealthy.returncode == 1
    assert "web answered 301" in unhealthy.stdout


def test_web_health_check_fails_when_nothing_answers():
    unused = socket.socket()
    unused.bind(("127.0.0.1", 0))
    port = unused.getsockname()[1]
    unused.close()
    result = health_check(port, {"PATH": os.environ["PATH"]})
    assert result.returncode == 1
    assert "web does not answer" in result.stdout
