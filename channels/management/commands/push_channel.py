"""Push a channel's due listings now, in this process (an operator's "sync now")."""

from django.core.management.base import BaseCommand, CommandError

from channels import push
from channels.lanes.registry import lane_for
from channels.models import Channel


class Command(BaseCommand):
    help = "Send every due listing of a channel now (decreases first, compare-and-set)."

    def add_arguments(self, parser):
        parser.add_argument("channel", help="channel code")

    def handle(self, *args, channel: str, **options):
        found = Channel.objects.filter(code=channel).first()
        if found is None:
            raise CommandError(f"No channel {channel!r}.")
        outcome = push.push_channel(found, lane_for(found))
        if outcome.skipped:
            self.stdout.write(f"{found.code}: skipped ({outcome.skipped}).")
            return
        self.stdout.write(
            f"{found.code}: {outcome.attempts} call(s), {outcome.acknowledged} acknowledged, "
            f"{outcome.already_shown} already shown, {outcome.stale} stale, {outcome.held} held, "
            f"{outcome.refused} refused{', channel failing: will retry' if outcome.failed else ''}."
        )
        if outcome.failed:
            raise CommandError("The channel did not answer; the push stays queued.")
