"""A channel's mode, changed by a person: shadow (compute and log, send nothing), live, paused.

Going live sends every due listing at once (the planner kept desired quantities current in
shadow and while paused); leaving live stops the pusher before its next call.
"""

from __future__ import annotations

from django.db import transaction

from inventory_sync.lib.errors import Conflict, DomainError
from inventory_sync.lib.locks import lock_rows

from . import tasks
from .models import Channel


def change_mode(channel: Channel, mode: str) -> Channel:
    """Set the channel's mode under its row lock (a second person's change waits, then sees
    this one). Raises DomainError for an unknown mode and Conflict when nothing would change."""
    if mode not in Channel.Mode.values:
        raise DomainError(f"No mode {mode!r}: choose one of {', '.join(Channel.Mode.values)}.")
    with transaction.atomic():
        [locked] = lock_rows(Channel.objects.filter(pk=channel.pk))
        if locked.mode == mode:
            raise Conflict(f"{locked.name} is {locked.get_mode_display().lower()} already.")
        locked.mode = mode
        locked.save(update_fields=["mode"])
        if mode == Channel.Mode.LIVE:
            transaction.on_commit(lambda: tasks.wake_pusher(locked.pk))
    return locked
