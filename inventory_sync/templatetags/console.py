"""The console's way of writing times: one format everywhere, in the person's time zone
(inventory_sync.lib.timezones), with how long ago in words a person reads at a glance."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html, format_html_join

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


CHART_WIDTH, CHART_HEIGHT, CHART_GAP = 280, 56, 1


@register.simple_tag
def bar_chart(chart) -> str:
    """An inline SVG bar chart of a chart's points (observability.trends), each bar with its
    label and value on hover; no script, no library."""
    values = [value for _, value in chart.points]
    top = max(values, default=0) or 1
    width = (CHART_WIDTH - CHART_GAP * (len(values) - 1)) / max(len(values), 1)
    bars = []
    for index, (label, value) in enumerate(chart.points):
        height = round(value / top * (CHART_HEIGHT - 2), 1)
        bars.append(
            format_html(
                '<rect x="{}" y="{}" width="{}" height="{}"><title>{}: {}{}</title></rect>',
                round(index * (width + CHART_GAP), 1),
                round(CHART_HEIGHT - height, 1),
                round(width, 1),
                height,
                label,
                _figure(value),
                chart.unit and f" {chart.unit}",
            )
        )
    return format_html(
        '<svg class="chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
        'aria-label="{}" data-chart="{}">{}</svg>',
        chart.title,
        chart.key,
        format_html_join("", "{}", ((bar,) for bar in bars)),
        w=CHART_WIDTH,
        h=CHART_HEIGHT,
    )


def _figure(value: float) -> str:
    return f"{value:.2f}" if isinstance(value, float) and not value.is_integer() else f"{value:g}"
