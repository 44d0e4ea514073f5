"""The console's way of writing times: one format everywhere, in the person's time zone
(inventory_sync.lib.timezones), with how long ago in words a person reads at a glance."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html

register = template.Library()

WHEN = "Y-m-d H:i:s T"


def elapsed(seconds: float) -> str:
    """12 s, 4 min, 3 h 5 min, 2 d: the largest unit a person needs, never "0 minutes"."""
    seconds = max(int(seconds), 0)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 24:
        rest = minutes % 60
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    return f"{hours // 24} d"


@register.filter
def ago(value: datetime | None, now: datetime | None = None) -> str:
    """'12 s ago', with the exact time in the person's zone on hover."""
    if not value:
        return ""
    now = now or timezone.now()
    shown = timezone.localtime(value)
    words = elapsed((now - value).total_seconds())
    return format_html(
        '<time datetime="{}" title="{}">{} ago</time>',
        value.isoformat(),
        date_format(shown, WHEN),
        words,
    )
