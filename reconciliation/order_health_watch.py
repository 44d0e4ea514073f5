"""Alerts before a marketplace channel nears one of Amazon's account-health bars, from the
rates channels.order_health computes from our own orders (hourly, order_health_check_task).

A rate at ORDER_HEALTH_ALERT_FRACTION (80 %) of its bar or above raises one alert per channel,
rate and UTC day: a rate sitting near its bar is a daily reminder, not an hourly one. A channel
with fewer than ORDER_HEALTH_MIN_ORDERS orders in the window is left alone (one cancel out of
three orders is not a trend). The alert is of the oversell kind: these rates move with the
orders we cancel for stock, and the people who take oversell alerts are the ones to act.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.utils import timezone

from channels import order_health
from channels.models import Channel

from . import alerts
from .models import Alert

ALERT_KIND = Alert.Kind.ORDER_HEALTH


def check(*, now: datetime | None = None) -> int:
    """Raise the alerts due now; returns how many were raised."""
    now = now or timezone.now()
    least = int(getattr(settings, "ORDER_HEALTH_MIN_ORDERS", 20))
    marketplaces = Channel.objects.filter(is_marketplace=True).order_by("code")
    raised = 0
    for rates in order_health.channel_rates(channels=marketplaces, now=now):
        if rates.orders < least:
            continue
        for rate in rates.rates:
            if rate.near and _raise(rates.channel, rate, now):
                raised += 1
    return raised


def _raise(channel: Channel, rate: order_health.Rate, now: datetime) -> bool:
    key = f"order-health:{channel.code}:{rate.metric}:{now.date().isoformat()}"
    if Alert.objects.filter(kind=ALERT_KIND, key=key).exists():
        return False  # already told today
    state = "is over" if rate.over else "nears"
    alerts.raise_alert(
        ALERT_KIND,
        key=key,
        subject=(
            f"{channel.name}: {rate.label.lower()} {rate.percent} {state} Amazon's bar of "
            f"{rate.bar_percent} ({rate.count} of {rate.of}, last {order_health.WINDOW.days} days)"
        ),
        link=f"/channels/{channel.code}/",
    )
    return True
