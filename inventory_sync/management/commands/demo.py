"""One command for the whole demo: database, demo catalog, web console, worker and scheduler."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token

from channels.demo import FBA_POOL, connect_demo_seller, connect_demo_shop, start_amazon_sandbox

DEMO_USER = "demo"
DEMO_PASSWORD = "demo"  # noqa: S105 - printed on start; the demo binds to 127.0.0.1 only


def _free_port(preferred: int) -> int:
    for port in [preferred, *range(preferred + 1, preferred + 50)]:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise CommandError(f"No free port between {preferred} and {preferred + 49}.")


def _web_command(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "inventory_sync.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--threads",
        "4",
        "--access-logfile",
        "-",
        "--log-level",
        "warning",
    ]


def _worker_command() -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "inventory_sync",
        "worker",
        # Loops (ingest, planner, a pusher per channel) run side by side.
        "--pool",
        "threads",
        "--concurrency",
        "8",
        "--loglevel",
        "INFO",
        "-Q",
        "ingest,push,default,celery,reconcile",
    ]


def _beat_command() -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "inventory_sync",
        "beat",
        "--loglevel",
        "INFO",
        "--schedule",
        str(settings.VAR_DIR / "celerybeat-schedule"),
    ]


def _start_shopify_sandbox(port: int, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "channels.sandbox.shopify",
            "--port",
            str(port),
            # Order ids of this run never meet those of an earlier run's (same database).
            "--order-id-offset",
            str(int(time.time()) * 1000 % 10**11),
        ],  # fmt: skip
        env=env,
        stdout=subprocess.DEVNULL,
    )


def _run_until_stopped(children: dict[str, subprocess.Popen], amazon) -> str | None:
    """Wait for Ctrl-C or SIGTERM (None) or for a process to die (what died)."""
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    failed = None
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                failed = f"{name} exited with code {child.returncode}"
                stopping = True
        if amazon is not None and not amazon.thread.is_alive():
            failed = "the Amazon sandbox stopped"
            stopping = True
        time.sleep(0.5)
    return failed


def _stop_all(children: dict[str, subprocess.Popen], amazon) -> None:
    if amazon is not None:
        amazon.sandbox.stop_buyers()
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children.values():
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
    if amazon is not None:
        # Last: the worker may be reading an order from it until it stops.
        amazon.stop()


class Command(BaseCommand):
    help = "Migrate, seed the demo catalog and run console + worker + scheduler until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
        parser.add_argument("--no-worker", action="store_true", help="Run the console only")

    def _wait_until_listening(self, port: int, web: subprocess.Popen, timeout: float = 60) -> None:
        """Print the address only once the console answers: a printed URL must work."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if web.poll() is not None:
                raise CommandError(f"The web process exited with code {web.returncode}.")
            with socket.socket() as probe:
                probe.settimeout(0.5)
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.1)
        raise CommandError(f"The console did not start listening on port {port} in {timeout:.0f}s.")

    def handle(self, *args, port, no_worker, **options):
        token = self._prepare_database()
        wanted, port = port, _free_port(port)
        if port != wanted:
            # Said before the banner: a bookmark or a script using the usual port would
            # otherwise reach whatever still holds it (often an earlier demo not stopped).
            self.stderr.write(
                self.style.WARNING(
                    f"Port {wanted} is taken (an earlier demo still running?): the console "
                    f"moves to port {port} this time."
                )
            )
        env = {**os.environ, "INVENTORY_SYNC_DEMO": "1"}
        commands = {"web": _web_command(port)}
        if not no_worker:
            commands["worker"] = _worker_command()
            commands["beat"] = _beat_command()
        children: dict[str, subprocess.Popen] = {}
        for name, command in commands.items():
            children[name] = subprocess.Popen(
                command, env={**env, "INVENTORY_SYNC_PROCESS": f"inventory-sync-{name}"}
            )
        if not no_worker:
            # A local Shopify (the sandbox) for the demo shop, with shoppers buying from it.
            sandbox_port = _free_port(8701)
            children["shopify-sandbox"] = _start_shopify_sandbox(sandbox_port, env)
        self._wait_until_listening(port, children["web"])
        amazon = None
        if not no_worker:
            self._wait_until_listening(sandbox_port, children["shopify-sandbox"])
            self._connect_demo_shop(sandbox_port=sandbox_port, port=port)
            amazon = self._connect_demo_seller(sandbox_port=sandbox_port, port=port)
        running = [*children, *(["amazon-sandbox"] if amazon is not None else [])]
        self.stdout.write(
            self.style.SUCCESS(
                f"\nConsole: http://127.0.0.1:{port}/  (user {DEMO_USER!r}, password {DEMO_PASSWORD!r})\n"
                f"API docs: http://127.0.0.1:{port}/api/v1/docs/\n"
                f"API token of {DEMO_USER!r}: {token}  (curl -H 'Authorization: Token {token}' "
                f"http://127.0.0.1:{port}/api/v1/skus/)\n"
                f"Running: {', '.join(running)}. Press Ctrl-C to stop.\n"
            )
        )
        self.stdout.flush()

        failed = _run_until_stopped(children, amazon)
        _stop_all(children, amazon)
        if failed:
            raise CommandError(f"Demo stopped: {failed}.")
        self.stdout.write("Demo stopped.")

    def _prepare_database(self) -> str:
        """Migrate and seed; returns the demo user's API token (kept across restarts)."""
        self.stdout.write(f"Database: {settings.DATABASES['default']['NAME']}")
        call_command("migrate", interactive=False, verbosity=0)
        call_command("seed_demo")
        user_model = get_user_model()
        user = user_model.objects.filter(username=DEMO_USER).first()
        if user is None:
            user = user_model.objects.create_superuser(DEMO_USER, "demo@example.com", DEMO_PASSWORD)
        return Token.objects.get_or_create(user=user)[0].key

    def _connect_demo_shop(self, *, sandbox_port: int, port: int) -> None:
        sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        connected = connect_demo_shop(
            sandbox_url=sandbox_url,
            web_url=f"http://127.0.0.1:{port}",
            shoppers_per_second=float(os.environ.get("DEMO_SHOPPERS_PER_SECOND", "0.2")),
        )
        self.stdout.write(
            f"Demo shop: {connected} listings live against the Shopify sandbox at "
            f"{sandbox_url} (control API {sandbox_url}/_sandbox/); shoppers are buying."
        )

    def _connect_demo_seller(self, *, sandbox_port: int, port: int):
        """The running Amazon sandbox, which the caller stops."""
        # A local SP-API (the sandbox) for the demo Amazon seller, in a thread of this
        # process. Its order ids come from its seed and a counter that restarts with the
        # process: a new seed per run keeps them apart from orders of earlier runs, which
        # the demo database still holds.
        amazon = start_amazon_sandbox(
            port=_free_port(max(8702, sandbox_port + 1)), seed=secrets.randbelow(2**31)
        )
        amazon_url = amazon.url
        buyers = float(os.environ.get("DEMO_BUYERS_PER_SECOND", "0.1"))
        seller = connect_demo_seller(
            sandbox_url=amazon_url,
            web_url=f"http://127.0.0.1:{port}",
            buyers_per_second=buyers,
        )
        mapping = seller.mapping
        self.stdout.write(
            f"Demo Amazon seller: {seller.mfn} MFN + {seller.fba} FBA listings live against "
            f"the SP-API sandbox at {amazon_url} (control API {amazon_url}/_sandbox/); "
            f"mapping import: {len(mapping.created)} created, {mapping.already_mapped} "
            f"already mapped, {len(mapping.unmatched)} unmatched; {FBA_POOL[0]}: FBA stock "
            f"of {seller.fba_sync.applied + seller.fba_sync.unchanged} SKU(s); "
            + ("buyers are ordering." if buyers else "no buyers (DEMO_BUYERS_PER_SECOND=0).")
        )
        return amazon
