"""The production process definitions in deploy/: every process restarts when it exits and is
checked while it runs; one worker serves each queue; the systemd units pass systemd's own
check. (Docker does not run here: the compose file is checked as data.)"""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings

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
