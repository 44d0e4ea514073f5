import contextlib
import json
import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from inventory_sync.lib.errors import DomainError
from ledger import services
from ledger.rules import OWNED_KINDS, parse_event_dict


def _describe(error: DomainError) -> str:
    fields = "; ".join(f"{name}: {message}" for name, message in error.field_errors.items())
    return f"{error.detail} {fields}".strip()


class Command(BaseCommand):
    help = (
        "Record events from a JSON Lines file (one event per line, each with its own "
        "idempotency_key). Safe to run again: events already recorded are skipped. New events "
        f"of a kind another app owns ({', '.join(OWNED_KINDS)}) are refused."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="JSON Lines file, or - for standard input")
        parser.add_argument("--chunk-size", type=int, default=1000)
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar")

    def handle(self, *args, path, chunk_size, no_progress, **options):
        if chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1.")
        requests, line_numbers, errors = [], [], []
        with self._open(path) as handle:
            # Bytes, decoded line by line, so a bad byte is reported on its own line.
            for number, data in enumerate(handle, start=1):
                try:
                    raw = data.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError:
                    raise CommandError(
                        f"line {number}: not UTF-8 text; nothing was recorded."
                    ) from None
                if not raw.strip():
                    continue
                try:
                    request = parse_event_dict(json.loads(raw))
                except json.JSONDecodeError as exc:
                    errors.append(f"line {number}: not JSON ({exc.msg} at column {exc.colno})")
                    continue
                except RecursionError:
                    errors.append(f"line {number}: not JSON (nested too deeply)")
                    continue
                except DomainError as exc:
                    errors.append(f"line {number}: {_describe(exc)}")
                    continue
                requests.append(request)
                line_numbers.append(number)
        if errors:
            for error in errors[:200]:
                self.stderr.write(error)
            raise CommandError(
                f"{len(errors)} bad line(s); nothing was recorded. Fix them and run again."
            )

        recorded = duplicates = 0
        refused: list[str] = []
        progress = tqdm(
            total=len(requests), unit="event", disable=no_progress, file=self.stderr._out
        )
        for start in range(0, len(requests), chunk_size):
            chunk = requests[start : start + chunk_size]
            outcome = services.record_events(chunk, chunk_size=chunk_size, refuse_kinds=OWNED_KINDS)
            recorded += outcome.recorded
            duplicates += outcome.duplicates
            for index, error in outcome.failures:
                refused.append(f"line {line_numbers[start + index]}: {_describe(error)}")
            progress.update(len(chunk))
        progress.close()
        for line in refused[:200]:
            self.stderr.write(line)
        self.stdout.write(
            f"Replayed {len(requests)} event(s): {recorded} recorded, "
            f"{duplicates} already recorded, {len(refused)} refused."
        )
        if refused:
            raise CommandError(f"{len(refused)} event(s) refused; the others were recorded.")

    def _open(self, path):
        if path == "-":
            return contextlib.nullcontext(sys.stdin.buffer)  # not ours to close
        try:
            return open(path, "rb")
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from None
