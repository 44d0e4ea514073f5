"""Alerts: recorded at once, sent grouped.

`raise_alert` adds to the unsent alert of the same kind and key (a listing that drifts five
times before the sender runs is one alert with count 5). `send_pending` sends every unsent
alert of a kind as one message per destination ("12 listings halted on 3 channels"), so a
storm is a handful of messages, each linking to the console page that shows it.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections import defaultdict
from datetime import datetime

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .models import Alert, AlertDestination

logger = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_SECONDS = 10
LIST_AT_MOST = 20  # lines of detail in one grouped message; the rest is a count


def raise_alert(kind: str, *, key: str, subject: str, body: str = "", link: str = "") -> Alert:
    """Record an alert, or count it again on the unsent one of the same kind and key."""
    now = timezone.now()
    for _ in range(2):
        updated = Alert.objects.filter(kind=kind, key=key, sent_at__isnull=True).update(
            count=F("count") + 1, last_at=now, subject=subject, body=body or F("body")
        )
        if updated:
            return Alert.objects.get(kind=kind, key=key, sent_at__isnull=True)
        try:
            with transaction.atomic():
                return Alert.objects.create(
                    kind=kind, key=key, subject=subject, body=body, link=link, last_at=now
                )
        except IntegrityError:
            continue  # another worker created it meanwhile: count on that one
    raise RuntimeError(f"could not record alert {kind}:{key}")


def _console_url(path: str) -> str:
    base = getattr(settings, "CONSOLE_BASE_URL", "").rstrip("/")
    return f"{base}{path}" if path else base


def compose(kind: str, alerts: list[Alert]) -> tuple[str, str]:
    """One message for every unsent alert of a kind: subject and text."""
    label = Alert.Kind(kind).label
    occurrences = sum(alert.count for alert in alerts)
    subject = (
        alerts[0].subject
        if len(alerts) == 1 and alerts[0].count == 1
        else f"{label}: {len(alerts)} alert(s), {occurrences} occurrence(s)"
    )
    lines = []
    for alert in alerts[:LIST_AT_MOST]:
        times = f" (x{alert.count})" if alert.count > 1 else ""
        lines.append(f"- {alert.subject}{times}")
    if len(alerts) > LIST_AT_MOST:
        lines.append(f"- and {len(alerts) - LIST_AT_MOST} more")
    link = next((alert.link for alert in alerts if alert.link), "")
    if link:
        lines.append(f"\nIn the console: {_console_url(link)}")
    return f"[inventory-sync] {subject}", "\n".join(lines)


def send_pending(*, now: datetime | None = None) -> int:
    """Send every unsent alert, one message per kind and destination. Returns messages sent.

    The alerts are claimed (marked sent) in one short transaction and delivered after it: a
    slow mail server or webhook never holds rows that workers raising alerts wait on."""
    now = now or timezone.now()
    with transaction.atomic():
        pending = list(
            Alert.objects.select_for_update(skip_locked=True).filter(sent_at=None).order_by("id")
        )
        Alert.objects.filter(pk__in=[a.pk for a in pending]).update(sent_at=now)
    if not pending:
        return 0
    by_kind: dict[str, list[Alert]] = defaultdict(list)
    for alert in pending:
        by_kind[alert.kind].append(alert)
    destinations = list(AlertDestination.objects.filter(is_active=True))
    sent = 0
    for kind, alerts in by_kind.items():
        subject, text = compose(kind, alerts)
        report = []
        for destination in destinations:
            if destination.kinds and kind not in destination.kinds:
                continue
            report.extend(_deliver(destination, subject, text))
            sent += 1
        Alert.objects.filter(pk__in=[a.pk for a in alerts]).update(
            delivery="\n".join(report) or "no destination configured"
        )
    return sent


def _deliver(destination: AlertDestination, subject: str, text: str) -> list[str]:
    report = []
    if destination.email:
        try:
            send_mail(subject, text, None, [destination.email])
            report.append(f"email:{destination.email}: ok")
        except Exception as error:  # noqa: BLE001 — one destination must not stop the others
            logger.warning("alert email to %s failed: %s", destination.email, error)
            report.append(f"email:{destination.email}: {error}")
    if destination.webhook_url:
        report.append(f"webhook:{destination.name}: {_post_webhook(destination.webhook_url, subject, text)}")  # fmt: skip
    return report


def _post_webhook(url: str, subject: str, text: str) -> str:
    """A Slack-compatible incoming webhook: a JSON body with `text` (mrkdwn)."""
    body = json.dumps({"text": f"*{subject}*\n{text}"}).encode()
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as answer:  # noqa: S310 — an operator-set URL
            return f"ok ({answer.status})"
    except Exception as error:  # noqa: BLE001
        logger.warning("alert webhook %s failed: %s", url, error)
        return f"failed: {error}"
