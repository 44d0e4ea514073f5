"""What reconciliation connects at start-up: the read-back woken by acknowledged pushes, and a
run for the SKUs whose channel reported a level we did not expect."""

from __future__ import annotations

from channels.inbox import LEVEL_UNEXPECTED
from channels.push import PUSHES_ACKNOWLEDGED
from inventory_sync.lib import wakeups

from .tasks import look_at_unexpected_levels, wake_read_back


def connect() -> None:
    wakeups.listen(PUSHES_ACKNOWLEDGED, wake_read_back)
    wakeups.listen(LEVEL_UNEXPECTED, look_at_unexpected_levels)
