"""Fulfilment partners (3PLs): what we ask each one to ship, sent to its webhook signed, and
what it tells us back.

1. `request_fulfilment(order_id)`: for each active partner whose location one of the order's
   lines commits at, one live request per partner and order (the database keeps it one),
   listing those lines with the units to ship. Called on commit after an order is applied or
   re-routed; `withdraw_fulfilment` cancels the requests whose lines no longer commit there.
2. `deliver_due_requests` POSTs each pending request as JSON to its partner's webhook, signed
   with `X-Inventory-Sync-Signature: sha256=<hex HMAC-SHA256 of the body>` under the
   partner's secret; a 2xx marks it sent, anything else is tried again with the shipments'
   backoff, for as long as it takes. Partners without a webhook read the open requests as CSV
   from the API instead.
3. The partner answers at `POST /webhooks/fulfilment/<partner id>/`, signed the same way:
   `acknowledged` (with its own reference) and `shipped` (carrier, tracking, lines). A
   shipment goes through the outbox (channels.outbox.ship_order): its units leave the ledger
   at the partner's location and the channel is told with the tracking number.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import requests
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from inventory_sync.lib import wakeups
from inventory_sync.lib.errors import Conflict, DomainError, NotFound
from inventory_sync.lib.locks import lock_ids, lock_one, lock_rows

from . import outbox
from .models import ChannelOrder, FulfilmentPartner, FulfilmentRequest, OrderShipment

logger = logging.getLogger(__name__)

# Announced on commit of a new request: channels.wiring wakes the delivery task.
FULFILMENT_CHANGED = "channels.fulfilment"
SIGNATURE_HEADER = "X-Inventory-Sync-Signature"
SEND_TIMEOUT_SECONDS = 10
LIVE = (FulfilmentRequest.Status.PENDING, FulfilmentRequest.Status.SENT)


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for `body` under the partner's secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(secret: str, body: bytes, given: str) -> bool:
    """Constant-time; never valid without a secret (an unsigned partner cannot post)."""
    if not secret or not given:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), given.encode("utf-8", "replace"))


# --- asking --------------------------------------------------------------------------------


def request_fulfilment(order_id: int) -> list[FulfilmentRequest]:
    """One live request per active partner that the order's lines commit at (what each
    partner should ship now). Idempotent: a partner's live request is kept (a pending one
    takes the lines as they are now); nothing is asked of a cancelled order.

    Locks: the order row, then its live requests (id order). Wakes the delivery on commit
    when a request was made."""
    made = False
    with transaction.atomic():
        order = lock_one(ChannelOrder.objects, pk=order_id)
        wanted = _lines_at_partners(order)
        live = {
            request.partner_id: request
            for request in lock_rows(
                FulfilmentRequest.objects.filter(order=order).exclude(
                    status=FulfilmentRequest.Status.CANCELLED
                )
            )
        }
        requests_ = []
        for partner_id, lines in sorted(wanted.items()):
            request = live.get(partner_id)
            if request is None:
                request = FulfilmentRequest.objects.create(
                    partner_id=partner_id, order=order, lines=lines, next_attempt_at=timezone.now()
                )
                made = True
            elif request.status == FulfilmentRequest.Status.PENDING and request.lines != lines:
                request.lines = lines
                request.save(update_fields=["lines"])
            requests_.append(request)
        if made:
            wakeups.notify_on_commit(FULFILMENT_CHANGED)
    return requests_


def withdraw_fulfilment(order_id: int) -> list[FulfilmentRequest]:
    """Cancel the pending and sent requests of the order whose lines no longer commit at
    their partner (the order was cancelled, or its lines re-routed elsewhere); a pending one
    that still has some keeps only those. Acknowledged requests stay: the partner has taken
    the work on, and a person settles it with them. Returns the requests cancelled.

    Locks: the order row, then its pending and sent requests (id order)."""
    cancelled = []
    with transaction.atomic():
        order = lock_one(ChannelOrder.objects, pk=order_id)
        wanted = _lines_at_partners(order)
        for request in lock_rows(FulfilmentRequest.objects.filter(order=order, status__in=LIVE)):
            still = wanted.get(request.partner_id)
            if not still:
                request.status = FulfilmentRequest.Status.CANCELLED
                request.next_attempt_at = None
                request.save(update_fields=["status", "next_attempt_at"])
                cancelled.append(request)
            elif request.status == FulfilmentRequest.Status.PENDING and request.lines != still:
                request.lines = still
                request.save(update_fields=["lines"])
    return cancelled


def _lines_at_partners(order: ChannelOrder) -> dict[int, list[dict]]:
    """Partner id -> [{"line", "sku", "quantity" (units)}] of the lines still committed at
    an active partner's location."""
    if order.cancelled_at is not None or order.status == ChannelOrder.Status.CANCELLED:
        return {}
    lines = list(order.lines.select_related("sku").filter(location__isnull=False).order_by("id"))
    partners = dict(
        FulfilmentPartner.objects.filter(
            is_active=True, location_id__in={line.location_id for line in lines}
        ).values_list("location_id", "id")
    )
    wanted: dict[int, list[dict]] = {}
    for line in lines:
        partner_id = partners.get(line.location_id)
        if partner_id is None or line.sku is None or line.committed_units <= 0:
            continue
        wanted.setdefault(partner_id, []).append(
            {"line": line.external_id, "sku": line.sku.code, "quantity": line.committed_units}
        )
    return wanted


# --- sending ---------------------------------------------------------------------------------


@dataclass(slots=True)
class SendRound:
    sent: int = 0
    retried: int = 0

    @property
    def attempted(self) -> int:
        return self.sent + self.retried


Post = Callable[..., requests.Response]


def deliver_due_requests(
    *, now: datetime | None = None, batch: int = outbox.CLAIM_BATCH, post: Post | None = None
) -> SendRound:
    """Send every due pending request of a partner with a webhook, a batch at a time.

    Locks: each batch's rows FOR NO KEY UPDATE SKIP LOCKED for the claim only (the claim
    moves their next attempt a lease ahead); no transaction is open during a POST.
    Retry policy: outbox.retry_delay (at least the partner's Retry-After), forever."""
    done = SendRound()
    while claimed := _claim(now or timezone.now(), batch):
        for request_id in claimed:
            outcome = send_request(request_id, now=now, post=post)
            if outcome == FulfilmentRequest.Status.SENT:
                done.sent += 1
            elif outcome == FulfilmentRequest.Status.PENDING:
                done.retried += 1
    return done


def _claim(now: datetime, batch: int) -> list[int]:
    with transaction.atomic():
        due = (
            FulfilmentRequest.objects.filter(
                status=FulfilmentRequest.Status.PENDING, partner__is_active=True
            )
            .exclude(partner__webhook_url="")
            .filter(Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True))
        )
        ids = lock_ids(due, skip_locked=True, limit=batch)
        if ids:
            FulfilmentRequest.objects.filter(pk__in=ids).update(
                next_attempt_at=now + outbox.CLAIM_LEASE
            )
    return ids


def send_request(
    request_id: int, *, now: datetime | None = None, post: Post | None = None
) -> str | None:
    """One POST of a pending request to its partner (outside any transaction); returns the
    status it ends in, None when it was no longer pending."""
    row = FulfilmentRequest.objects.select_related(
        "partner", "partner__location", "order__channel"
    ).get(pk=request_id)
    if row.status != FulfilmentRequest.Status.PENDING:
        return None
    secret = row.partner.secret
    if not secret:
        return _record(request_id, now=now, error="The partner has no secret to sign with.")
    body = json.dumps(request_document(row), separators=(",", ":"), sort_keys=True).encode()
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body)}
    try:
        # A redirect is not followed: the signed request goes to the address set, or fails.
        answer = (post or requests.post)(
            row.partner.webhook_url,
            data=body,
            headers=headers,
            timeout=SEND_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except requests.RequestException as error:
        return _record(request_id, now=now, error=f"{type(error).__name__}: {error}")
    if 200 <= answer.status_code < 300:
        return _record(request_id, now=now, sent=True)
    return _record(
        request_id,
        now=now,
        error=f"HTTP {answer.status_code}: {answer.text[:300]}",
        retry_after=_retry_after(answer),
    )


def request_document(row: FulfilmentRequest) -> dict:
    """What the partner receives: the request, the order's shipping facts and the lines."""
    order = row.order
    return {
        "type": "fulfilment_request",
        "request": row.pk,
        "location": row.partner.location.code,
        "order": {
            "id": order.pk,
            "channel": order.channel.code,
            "external_id": order.external_id,
            "name": order.name,
            "placed_at": order.placed_at.isoformat(),
            "ship_by": order.ship_by.isoformat() if order.ship_by else None,
            "shipping_tier": order.shipping_tier,
            "is_prime": order.is_prime,
            "destination_country": order.destination_country,
            "destination_region": order.destination_region,
        },
        "lines": row.lines,
    }


def _retry_after(answer: requests.Response) -> float | None:
    value = answer.headers.get("Retry-After", "")
    return float(value) if value.isdigit() else None


def _record(
    request_id: int,
    *,
    now: datetime | None,
    sent: bool = False,
    error: str = "",
    retry_after: float | None = None,
) -> str | None:
    moment = now or timezone.now()
    with transaction.atomic():
        row = lock_one(FulfilmentRequest.objects, pk=request_id)
        if row.status != FulfilmentRequest.Status.PENDING:
            return None  # withdrawn, or answered through the webhook, meanwhile
        row.attempts += 1
        row.last_error = error[:4000]
        if sent:
            row.status = FulfilmentRequest.Status.SENT
            row.sent_at = moment
            row.next_attempt_at = None
        else:
            row.next_attempt_at = moment + outbox.retry_delay(row.attempts, retry_after=retry_after)
        row.save(update_fields=["attempts", "last_error", "status", "sent_at", "next_attempt_at"])
    if error:
        logger.warning("fulfilment request %s not delivered: %s", request_id, error)
    return row.status


# --- what the partner tells us ---------------------------------------------------------------


def acknowledge(
    *, partner: FulfilmentPartner, request_id: int, reference: str = ""
) -> FulfilmentRequest:
    """The partner took the request on. Idempotent (a repeated acknowledgement changes
    nothing: the request comes back with `replayed` True); Conflict for a withdrawn request,
    NotFound for another partner's."""
    with transaction.atomic():
        request = _locked_request(partner, request_id)
        request.replayed = request.status == FulfilmentRequest.Status.ACKNOWLEDGED
        if request.replayed:
            return request
        request.status = FulfilmentRequest.Status.ACKNOWLEDGED
        request.acknowledged_at = timezone.now()
        request.partner_reference = reference[:255]
        request.next_attempt_at = None
        request.save(
            update_fields=["status", "acknowledged_at", "partner_reference", "next_attempt_at"]
        )
    return request


def partner_shipped(
    *,
    partner: FulfilmentPartner,
    request_id: int,
    carrier: str,
    tracking_number: str,
    lines: list[tuple[str, int]] | None = None,
    carrier_name: str = "",
    tracking_url: str = "",
    shipping_method: str = "",
    shipped_at: datetime | None = None,
    shipment_ref: str = "",
) -> OrderShipment:
    """The partner shipped (some of) a request: `lines` are (order line, units) of the
    request's lines, None for all of them. The shipment goes through the outbox: its units
    leave the ledger at the partner's location and the channel is told.

    Key: the partner, the request and the partner's shipment id (or the tracking number):
    the same message again answers the same shipment (`replayed`). Locks: the order row,
    the request row, then ship_order's. Raises NotFound, Conflict (a withdrawn request,
    more than the lines still commit) or DomainError (a line not in the request, units that
    are not whole items)."""
    with transaction.atomic():
        order_id = (
            FulfilmentRequest.objects.filter(pk=request_id, partner=partner)
            .values_list("order_id", flat=True)
            .first()
        )
        if order_id is None:
            raise NotFound(f"No fulfilment request {request_id} for this partner.")
        order = lock_one(ChannelOrder.objects, pk=order_id)
        request = _locked_request(partner, request_id)
        shipment = outbox.ship_order(
            order=order,
            lines=_shipped_items(order, request, lines),
            carrier=carrier,
            carrier_name=carrier_name,
            tracking_number=tracking_number,
            tracking_url=tracking_url,
            shipping_method=shipping_method,
            shipped_at=shipped_at,
            key=f"partner:{partner.pk}:{request.pk}:{shipment_ref or tracking_number}"[:200],
            source=OrderShipment.Source.PARTNER,
            actor=f"partner:{partner.name}"[:150],
        )
        if request.status != FulfilmentRequest.Status.ACKNOWLEDGED:
            # A shipment says it was taken on, whether or not an acknowledgement came first.
            request.status = FulfilmentRequest.Status.ACKNOWLEDGED
            request.acknowledged_at = timezone.now()
            request.next_attempt_at = None
            request.save(update_fields=["status", "acknowledged_at", "next_attempt_at"])
    return shipment


def _locked_request(partner: FulfilmentPartner, request_id: int) -> FulfilmentRequest:
    try:
        request = lock_one(FulfilmentRequest.objects, pk=request_id, partner=partner)
    except FulfilmentRequest.DoesNotExist:
        raise NotFound(f"No fulfilment request {request_id} for this partner.") from None
    if request.status == FulfilmentRequest.Status.CANCELLED:
        raise Conflict(f"Fulfilment request {request_id} was withdrawn: do not ship it.")
    return request


def _shipped_items(
    order: ChannelOrder, request: FulfilmentRequest, lines: list[tuple[str, int]] | None
) -> list[tuple[str, int]]:
    """(line, items) for ship_order from the partner's (line, units)."""
    requested = {str(line["line"]): int(line["quantity"]) for line in request.lines}
    units = list(requested.items()) if lines is None else lines
    per_item = dict(order.lines.values_list("external_id", "units_per_item"))
    shipped = []
    for line_id, quantity in units:
        if line_id not in requested:
            raise DomainError(
                f"Line {line_id} is not in fulfilment request {request.pk}.",
                field_errors={"lines": f"Line {line_id} was not requested."},
            )
        size = max(per_item.get(line_id) or 1, 1)
        if quantity % size:
            raise DomainError(
                f"Line {line_id}: {quantity} unit(s) are not whole items of {size}.",
                field_errors={"lines": f"Line {line_id} ships in items of {size} units."},
            )
        shipped.append((line_id, quantity // size))
    return shipped
