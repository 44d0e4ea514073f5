"""Keeps the fulfilment partners' requests in step with where order lines are routed.

Ingest and re-routes only announce that an order touched a partner's location (a wake-up
after commit); this sweep finds what changed — an open order with lines committed at a
partner and no live request to it, or a live request whose order was cancelled or whose lines
moved away — and asks or withdraws through `channels.fulfilment`. Run on that wake-up and
every minute, so a lost wake-up only delays a request.
"""

from __future__ import annotations

from django.db.models import Exists, F, OuterRef

from .fulfilment import LIVE, request_fulfilment, withdraw_fulfilment
from .models import ChannelOrder, ChannelOrderLine, FulfilmentPartner, FulfilmentRequest


def _still_committed():
    """Lines of the request's order still committed at the request's partner."""
    return ChannelOrderLine.objects.filter(
        order=OuterRef("order_id"),
        order__status=ChannelOrder.Status.OPEN,
        location=OuterRef("partner__location_id"),
        sold_units__gt=F("cancelled_units") + F("shipped_units"),
    )


def orders_to_request(limit: int = 500) -> list[int]:
    """Open orders with units committed at an active partner that has no live request."""
    live = FulfilmentRequest.objects.filter(
        order=OuterRef("order_id"),
        partner__location=OuterRef("location_id"),
        status__in=LIVE + (FulfilmentRequest.Status.ACKNOWLEDGED,),
    )
    lines = (
        ChannelOrderLine.objects.filter(
            order__status=ChannelOrder.Status.OPEN,
            location__fulfilment_partner__is_active=True,
            sold_units__gt=F("cancelled_units") + F("shipped_units"),
        )
        .filter(~Exists(live))
        .order_by("order_id")
        .values_list("order_id", flat=True)
        .distinct()
    )
    return list(lines[:limit])


def orders_to_withdraw(limit: int = 500) -> list[int]:
    """Orders with a live request whose partner no longer has any of their units committed."""
    return list(
        FulfilmentRequest.objects.filter(status__in=LIVE)
        .filter(~Exists(_still_committed()))
        .order_by("order_id")
        .values_list("order_id", flat=True)
        .distinct()[:limit]
    )


def sync_requests() -> tuple[int, int]:
    """Ask and withdraw what routing changed; returns (orders asked, requests withdrawn)."""
    withdrawn = sum(len(withdraw_fulfilment(order_id)) for order_id in orders_to_withdraw())
    asked = 0
    if FulfilmentPartner.objects.filter(is_active=True).exists():
        for order_id in orders_to_request():
            asked += bool(request_fulfilment(order_id))
    return asked, withdrawn
