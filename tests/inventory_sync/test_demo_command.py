"""The README's demo command, as a real process: it comes up, serves the console, runs a demo
shop against the Shopify sandbox and a demo Amazon seller against the SP-API sandbox, whose
shoppers' and buyers' orders reach the ledger, and stops on Ctrl-C."""

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_demo_runs_console_worker_and_scheduler_until_interrupted(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        {
            "INVENTORY_SYNC_DEMO": "1",
            "INVENTORY_SYNC_VAR_DIR": str(tmp_path),
            "DEMO_SHOPPERS_PER_SECOND": "5",
            "DEMO_BUYERS_PER_SECOND": "1",
        }
    )
    demo = subprocess.Popen(
        [sys.executable, "manage.py", "demo", "--port", "8790"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    console_url = threading.Event()

    def read() -> None:
        for line in demo.stdout:
            output.append(line)
            if line.startswith("Console: "):
                console_url.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert console_url.wait(timeout=180), "".join(output[-40:])
        url = re.search(r"Console: (\S+)", "".join(output)).group(1)
        # the demo prints the address only once the console answers
        with urllib.request.urlopen(f"{url}accounts/login/", timeout=10) as response:
            page = response.read().decode()
        assert 'name="username"' in page
        # the banner's API token answers the API as printed
        token = re.search(r"API token of 'demo': (\w+)", "".join(output)).group(1)
        request = urllib.request.Request(
            f"{url}api/v1/skus/", headers={"Authorization": f"Token {token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        assert re.search(r"Demo catalog: \d{2} SKUs, 3 locations", "".join(output))
        assert re.search(
            r"Demo shop: \d{2} listings live against the Shopify sandbox", "".join(output)
        )
        # the demo seller's listings line up with ours: every seller SKU is one of our SKUs
        assert re.search(
            r"Demo Amazon seller: \d{2} MFN \+ 3 FBA listings live against the SP-API sandbox "
            r"at \S+ \(control API \S+\); mapping import: 0 created, 39 already mapped, "
            r"0 unmatched; FBA-NA: FBA stock of 3 SKU\(s\); buyers are ordering\.",
            "".join(output),
        ), "".join(output[-40:])
        assert "amazon-sandbox" in re.search(r"Running: (.*)\.", "".join(output)).group(1)
        database = sqlite3.connect(tmp_path / "inventory_sync.sqlite3", timeout=30)

        def count(where: str) -> int:
            return database.execute(
                f"SELECT count(*) FROM ledger_inventoryevent WHERE {where}"
            ).fetchone()[0]

        # Amazon's FBA count of each FBA listing is the pool's stock from the start
        assert count("kind = 'fba_snapshot' AND source = 'amazon'") >= 3
        # the sandbox's shoppers and buyers buy; their signed webhooks and API-key notifications
        # become channel orders in the ledger
        deadline = time.monotonic() + 90
        while not (
            count("kind = 'sale' AND source = 'shopify'")
            and count("kind = 'sale' AND source = 'amazon'")
        ):
            assert demo.poll() is None, "".join(output[-40:])
            assert time.monotonic() < deadline, "".join(output[-40:])
            time.sleep(0.2)  # polling a condition with a deadline, not a fixed wait
        database.close()
    finally:
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=60)
        reader.join(timeout=10)
    assert demo.returncode == 0, "".join(output[-40:])
    assert "Demo stopped." in "".join(output)
    assert (tmp_path / "inventory_sync.sqlite3").exists()
