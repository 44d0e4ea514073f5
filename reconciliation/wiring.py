"""What reconciliation connects at start-up: the read-back woken by acknowledged pushes, a run
for the SKUs whose channel reported a level we did not expect, and the drift rows a SKU's
history shows."""

from __future__ import annotations

from channels import history
from channels.inbox import LEVEL_UNEXPECTED
from channels.push import PUSHES_ACKNOWLEDGED
from inventory_sync.lib import wakeups
from ledger.models import Sku

from .models import Drift
from .tasks import look_at_unexpected_levels, wake_read_back


def resolved_drift_of(sku: Sku):
    # Resolved by a person (or halted by the check): the drift rows the trail has entries on.
    return Drift.objects.filter(sku=sku).exclude(resolved_by="")


def connect() -> None:
    wakeups.listen(PUSHES_ACKNOWLEDGED, wake_read_back)
    wakeups.listen(LEVEL_UNEXPECTED, look_at_unexpected_levels)
    history.add_sku_rows(resolved_drift_of)
