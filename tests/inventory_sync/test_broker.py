"""The demo's filesystem broker: a consumer never sees a message before it is whole
(kombu's own transport can hand it an empty file, celery/kombu#1551, and the worker dies)."""

import os
import subprocess
import sys
from pathlib import Path
from queue import Empty

import pytest
from kombu import Connection
from kombu.exceptions import ChannelError

from inventory_sync.lib import broker

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def connection(tmp_path):
    folder = tmp_path / "out"
    for sub in ("out", "control"):
        (tmp_path / sub).mkdir()
    with Connection(
        "filesystem://",
        transport=broker.Transport,
        transport_options={
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "control_folder": str(tmp_path / "control"),
        },
    ) as connection:
        yield connection


def test_a_message_put_is_read_back_whole(connection):
    queue = connection.SimpleQueue("ingest")
    queue.put({"task": "ingest", "n": 1})

    message = queue.get(timeout=1)

    assert message.payload == {"task": "ingest", "n": 1}
    message.ack()
    queue.close()


def test_a_message_being_written_is_invisible_to_a_consumer(connection, monkeypatch):
    producer = connection.default_channel
    consumer = connection.channel()
    folder = Path(producer.data_folder_out)
    seen_while_writing = []
    real_replace = os.replace

    def replace(source, target):
        # written out in full under a name no consumer takes...
        seen_while_writing.append(
            (Path(source).read_bytes() != b"", sorted(p.name for p in folder.glob("*.msg")))
        )
        # ...so a consumer polling now finds nothing, rather than an empty message
        with pytest.raises(Empty):
            consumer._get("ingest")
        real_replace(source, target)

    monkeypatch.setattr(broker.os, "replace", replace)
    producer._put("ingest", {"body": "x"})

    assert seen_while_writing == [(True, [])]
    assert consumer._get("ingest") == {"body": "x"}
    assert not list(folder.iterdir())


def test_a_folder_that_cannot_be_written_is_a_channel_error(connection, tmp_path):
    channel = connection.default_channel
    channel.data_folder_out = str(tmp_path / "missing")

    with pytest.raises(ChannelError, match="Cannot add file"):
        channel._put("ingest", {"body": "x"})


def test_the_demo_settings_use_it_for_a_filesystem_broker(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update({"INVENTORY_SYNC_DEMO": "1", "INVENTORY_SYNC_VAR_DIR": str(tmp_path)})
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "from inventory_sync.celery import app; "
            "print(type(app.connection_for_write().transport).__module__)",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert shown.stdout.strip() == "inventory_sync.lib.broker"
