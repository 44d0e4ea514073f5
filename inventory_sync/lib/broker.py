"""The demo's broker: kombu's filesystem transport, with every message whole once it is visible.

kombu writes a message file in place (create, lock, write). A consumer polling the folder
does not take the lock: it can move the file away between the create and the write, read it
empty and die on the JSON (celery/kombu#1551), and the demo's worker exits with it. Here a
message is written under a name no consumer picks up, then renamed into place, which is
atomic within one filesystem. Used only with `CELERY_BROKER_URL=filesystem://`.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        # The name kombu gives a message: consumers take files in sorted order by it.
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        # A leading dot: `<anything>.msg.partial` never matches the `<queue>.msg` a consumer
        # looks for.
        partial = os.path.join(self.data_folder_out, f".{name}.partial")
        try:
            with open(partial, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(partial, os.path.join(self.data_folder_out, name))
        except OSError as exc:
            raise ChannelError(f"Cannot add file {name!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
