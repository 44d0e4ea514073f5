"""`manage.py worker_heartbeats [--beat-within SECONDS]`: each worker queue's and loop's last
heartbeat with its age. With --beat-within, exit 1 unless some queue's heartbeat is younger
than that: beat sends one through every queue every 30 s, so none fresh means beat stopped
(the health check of deploy/ restarts it)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from channels import health


class Command(BaseCommand):
    help = "Show the last heartbeat of each worker queue and loop; optionally check beat."

    def add_arguments(self, parser):
        parser.add_argument("--beat-within", type=float, metavar="SECONDS")

    def handle(self, *args, beat_within=None, **options):
        beats = health.worker_heartbeats()
        for beat in beats:
            age = f"{beat.age.total_seconds():.0f} s" if beat.age is not None else "never"
            stale = " (stale)" if beat.stale else ""
            self.stdout.write(f"{beat.label:<32} {age}{stale}")
        if beat_within is not None and not any(
            beat.kind.startswith(health.QUEUE_PREFIX)
            and beat.age is not None
            and beat.age.total_seconds() <= beat_within
            for beat in beats
        ):
            raise CommandError(
                f"no queue heartbeat in the last {beat_within:g} s: is beat running?"
            )
