"""Oversell incidents seen through channel orders (I8): which orders stand, which give way,
and what a person does about the ones that give way.

Who stands (`incident_orders`): every open order committing the SKU is ranked by the conflict
policy — earliest placed first, ties to the channel with the better (lower) priority, then the
order id — and the latest ones give way until they cover `units_short` exactly. An order that
straddles the line loses only its short units ("1 of 3 units short"). Under a SKU whose
SkuPolicy says hold_for_review, every conflicting order is held for a person and none is marked
to cancel.

What a person does (each call signed by the edge that makes it, through access.audit):
- `cancel_for_stock`: cancel through the order's lane. The order is marked cancel_requested
  before the call, so a second click finds the cancel already sent; the channel's refusal
  turns it into cancel_refused with the channel's answer. The release of the units comes back
  inbound (webhook, notification, poll) like any cancel. The customer gets the apology e-mail
  (`apology_email`) when we have an address.
- `backorder`: the order stays open and keeps its commitment; it ships when stock arrives.

History (`closed_incidents`): closed and resolved incidents keep the orders they named (their
uncovered sale events point at the orders by reference) and the orders a person acted on while
they were open.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone

from allocation.models import ConflictPolicy, OversellIncident, SkuPolicy
from inventory_sync.lib.errors import Conflict, DomainError
from inventory_sync.lib.locks import lock_one
from ledger.models import InventoryEvent, Location

from .lanes.base import ChannelError
from .lanes.registry import lane_for, lane_for_kind
from .models import Channel, ChannelOrder, ChannelOrderLine, ConflictAction

logger = logging.getLogger(__name__)

# What every lane is told when we cancel for stock (Shopify's INVENTORY; a lane maps it to its
# own code, Amazon's NoInventory).
STOCK_REASON = "INVENTORY"
# A cancel sent this long ago without the channel's answer (a lost notification, a feed the
# channel never processed) may be sent again.
CANCEL_ANSWER_WAIT = timedelta(minutes=30)
NOTE_LENGTH = 500


# --- who stands ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IncidentOrder:
    """One order committing an incident's SKU, and the policy's verdict on it."""

    order: ChannelOrder
    units: int  # committed by this order's lines for the SKU
    losing_units: int = 0  # of them, the ones the stock cannot cover
    held: bool = False  # the SKU's policy holds every conflicting order for a person

    @property
    def channel(self) -> Channel:
        return self.order.channel

    @property
    def losing(self) -> bool:
        return self.losing_units > 0

    @property
    def partly(self) -> bool:
        return 0 < self.losing_units < self.units

    @property
    def verdict(self) -> str:
        if self.order.status != ChannelOrder.Status.OPEN:
            return self.order.get_status_display().lower()
        if self.held:
            return "held for review"
        if not self.losing:
            return "stands"
        if self.partly:
            return f"short {self.losing_units} of {self.units} units: cancel or backorder"
        return "cancel or backorder"

    @property
    def cancel_pending(self) -> bool:
        """A cancel went to the channel, whose answer has not come back yet."""
        return (
            self.order.status == ChannelOrder.Status.OPEN
            and self.order.conflict_action == ConflictAction.CANCEL_REQUESTED
        )

    @property
    def can_cancel(self) -> bool:
        return cancel_refusal(self.order) is None

    @property
    def can_backorder(self) -> bool:
        return (
            self.order.status == ChannelOrder.Status.OPEN
            and not self.cancel_pending
            and self.order.conflict_action != ConflictAction.BACKORDERED
        )


def incident_orders(incident: OversellIncident) -> list[IncidentOrder]:
    """Every open order committing the incident's SKU, earliest placed first, each with the
    units it loses; then the orders a person acted on since the incident opened that are no
    longer open (cancelled by now), so the page shows what was done."""
    return incidents_orders([incident])[incident.pk]


def incidents_orders(incidents: Sequence[OversellIncident]) -> dict[int, list[IncidentOrder]]:
    """`incident_orders` of many incidents (incident id -> rows) in three queries, whatever
    their number: the incidents page lists every open one."""
    sku_ids = {incident.sku_id for incident in incidents}
    held = set(
        SkuPolicy.objects.filter(
            sku_id__in=sku_ids, conflict_policy=ConflictPolicy.HOLD_FOR_REVIEW
        ).values_list("sku_id", flat=True)
    )
    ranked = _ranked_open_orders(sku_ids)
    handled = _handled_orders(incidents)
    found = {}
    for incident in incidents:
        orders = ranked.get(incident.sku_id, [])
        losing = _losing_units(orders, incident.units_short)
        found[incident.pk] = [
            IncidentOrder(order, units, losing.get(order.pk, 0), held=incident.sku_id in held)
            for order, units in orders
        ] + [IncidentOrder(order, 0) for order in handled.get(incident.pk, [])]
    return found


def _ranked_open_orders(sku_ids: Iterable[int]) -> dict[int, list[tuple[ChannelOrder, int]]]:
    """SKU id -> (order, units it commits of the SKU), in the order the policy lets them
    stand."""
    lines = (
        ChannelOrderLine.objects.filter(
            sku_id__in=sku_ids,
            sold_units__gt=F("cancelled_units") + F("shipped_units"),
            order__status=ChannelOrder.Status.OPEN,
        )
        # Amazon's own pools are not short when our locations are (planner._units_short): an
        # order Amazon fulfils from FBA is in no conflict with ours.
        .exclude(location__kind=Location.Kind.FBA)
        .select_related("order__channel")
        .order_by("order__placed_at", "order__channel__priority", "order_id", "id")
    )
    orders: dict[int, dict[int, ChannelOrder]] = defaultdict(dict)
    units: dict[tuple[int, int], int] = defaultdict(int)
    for line in lines:
        orders[line.sku_id].setdefault(line.order_id, line.order)
        units[line.sku_id, line.order_id] += line.committed_units
    return {
        sku_id: [(order, units[sku_id, pk]) for pk, order in of_sku.items()]
        for sku_id, of_sku in orders.items()
    }


def _handled_orders(incidents: Sequence[OversellIncident]) -> dict[int, list[ChannelOrder]]:
    """Incident id -> the orders of its SKU a person acted on since it opened that are no
    longer open, in the order the policy ranks them."""
    lines = (
        ChannelOrderLine.objects.filter(
            sku_id__in={incident.sku_id for incident in incidents},
            order__conflict_action_at__gte=min(
                (incident.opened_at for incident in incidents), default=timezone.now()
            ),
        )
        .exclude(order__conflict_action="")
        .exclude(order__status=ChannelOrder.Status.OPEN)
        .select_related("order__channel")
        .order_by("order__placed_at", "order__channel__priority", "order_id")
    )
    by_sku: dict[int, list[ChannelOrder]] = defaultdict(list)
    for line in lines:
        if not by_sku[line.sku_id] or by_sku[line.sku_id][-1].pk != line.order_id:
            by_sku[line.sku_id].append(line.order)
    return {
        incident.pk: [
            order
            for order in by_sku.get(incident.sku_id, [])
            if order.conflict_action_at >= incident.opened_at
        ]
        for incident in incidents
    }


def _losing_units(ranked: Sequence[tuple[ChannelOrder, int]], short: int) -> dict[int, int]:
    """The latest orders give way until they cover `short`; the one on the line only for the
    units it is short."""
    losing: dict[int, int] = {}
    for order, units in reversed(ranked):
        if short <= 0:
            break
        taken = min(units, short)
        losing[order.pk] = taken
        short -= taken
    return losing


# --- what a person does ----------------------------------------------------------------------


@dataclass
class CancelOutcome:
    """What a cancel for stock did: the order as it is now, the channel's refusal (empty when
    the channel took it), and the apology e-mail (sent to `emailed`, or why not)."""

    order: ChannelOrder
    refused: str = ""
    unsure: str = ""  # the call failed in a way that may have cancelled it all the same
    emailed: str = ""
    email_note: str = ""

    def as_audit(self) -> dict:
        return {
            "conflict_action": self.order.conflict_action,
            "cancel_sent_to": self.order.channel.code,
            "channel_reason": STOCK_REASON,
            "refused": self.refused,
            "unsure": self.unsure,
            "emailed": self.emailed,
            "email_note": self.email_note,
        }


def label(order: ChannelOrder) -> str:
    """How people name an order: its name on the channel, and the channel."""
    return f"{order.name or order.external_id} ({order.channel.code})"


def check_cancellable(order: ChannelOrder, *, now: datetime | None = None) -> None:
    """Raise why this order cannot be cancelled from here now: Conflict when the order moved on
    (no longer open, a cancel already on its way), DomainError when its channel cannot."""
    if order.status != ChannelOrder.Status.OPEN:
        raise Conflict(
            f"{label(order)} is {order.get_status_display().lower()}: nothing to cancel."
        )
    channel = order.channel
    if not lane_for_kind(channel.kind).can_cancel_orders:
        raise DomainError(f"{channel.code} cannot cancel orders from here: cancel it there.")
    if channel.mode != Channel.Mode.LIVE:
        raise DomainError(f"{channel.code} is {channel.get_mode_display()}: nothing is sent.")
    sent_at = order.conflict_action_at
    pending = order.conflict_action == ConflictAction.CANCEL_REQUESTED and sent_at is not None
    if pending and (now or timezone.now()) - sent_at < CANCEL_ANSWER_WAIT:
        raise Conflict(
            f"A cancel of {label(order)} was sent; waiting for {channel.code} to confirm."
        )


def cancel_refusal(order: ChannelOrder, *, now: datetime | None = None) -> str | None:
    """Why this order cannot be cancelled from here now, or None."""
    try:
        check_cancellable(order, now=now)
    except DomainError as refused:
        return refused.detail
    return None


def cancel_for_stock(
    order: ChannelOrder,
    *,
    reason: str,
    actor: str,
    discount_code: str = "",
    notify: bool = True,
) -> CancelOutcome:
    """Cancel an order that gave way in an oversell, on its channel, and apologise.

    Invariant: one cancel in flight per order — the order row is claimed (locked, checked and
    marked cancel_requested in one short transaction) before the channel is called, outside any
    transaction; a refusal marks it cancel_refused with the channel's answer. The order's status
    and the ledger change only when the channel's cancel comes back inbound. The e-mail goes
    only after the channel took the cancel. Raises Conflict (already sent, no longer open) or
    DomainError (the channel cannot cancel from here)."""
    reason = reason.strip()
    if not reason:
        raise DomainError("Say why this order is cancelled.", field_errors={"reason": "required"})
    order, previous = _claim_cancel(order, reason=reason, actor=actor)
    outcome = CancelOutcome(order)
    try:
        lane_for(order.channel).cancel_order(order, reason=STOCK_REASON)
    except ChannelError as error:
        if error.maybe_applied:
            # The channel may have cancelled it: the order stays "cancel sent" until it
            # comes back, or for CANCEL_ANSWER_WAIT, after which it may be sent again.
            outcome.unsure = f"no clear answer from {order.channel.code}: {error}"
            outcome.order = _set_action(order, ConflictAction.CANCEL_REQUESTED, outcome.unsure)
            return outcome
        outcome.refused = f"{order.channel.code} refused the cancel: {error}"
        outcome.order = _set_action(order, ConflictAction.CANCEL_REFUSED, outcome.refused)
        return outcome
    except BaseException:
        _restore(order, previous)  # nothing was decided: let a person try again
        raise
    if notify:
        _send_apology(outcome, discount_code=discount_code)
    else:
        outcome.email_note = "not sent: the person chose not to"
    return outcome


def _claim_cancel(order: ChannelOrder, *, reason: str, actor: str) -> tuple[ChannelOrder, dict]:
    with transaction.atomic():
        locked = lock_one(ChannelOrder.objects, pk=order.pk)
        locked.channel = order.channel
        check_cancellable(locked)
        previous = {
            "conflict_action": locked.conflict_action,
            "conflict_action_at": locked.conflict_action_at,
            "conflict_action_by": locked.conflict_action_by,
            "conflict_note": locked.conflict_note,
        }
        locked.conflict_action = ConflictAction.CANCEL_REQUESTED
        locked.conflict_action_at = timezone.now()
        locked.conflict_action_by = actor[:150]
        locked.conflict_note = reason[:NOTE_LENGTH]
        locked.save(update_fields=[*previous, "updated_at"])
    return locked, previous


def _set_action(order: ChannelOrder, action: str, note: str) -> ChannelOrder:
    ChannelOrder.objects.filter(pk=order.pk).update(
        conflict_action=action, conflict_note=note[:NOTE_LENGTH], updated_at=timezone.now()
    )
    order.conflict_action, order.conflict_note = action, note[:NOTE_LENGTH]
    return order


def _restore(order: ChannelOrder, previous: dict) -> None:
    ChannelOrder.objects.filter(pk=order.pk).update(**previous)


@transaction.atomic
def backorder(order: ChannelOrder, *, note: str, actor: str) -> ChannelOrder:
    """Keep an order that gave way in an oversell open: its commitment stays (it ships when
    stock arrives) and the incident stays open until stock covers it or a person closes it.

    Locks the order row. Refused (Conflict) for an order no longer open, or whose cancel is on
    its way to the channel. Idempotent: backordering a backordered order changes nothing."""
    note = note.strip()
    if not note:
        raise DomainError("Say why this order waits for stock.", field_errors={"note": "required"})
    locked = lock_one(ChannelOrder.objects.select_related("channel"), pk=order.pk)
    if locked.status != ChannelOrder.Status.OPEN:
        raise Conflict(f"{label(locked)} is {locked.get_status_display().lower()}: it cannot wait.")
    if IncidentOrder(locked, 0).cancel_pending:
        raise Conflict(
            f"A cancel of {label(locked)} was sent to {locked.channel.code}: wait for it."
        )
    if locked.conflict_action == ConflictAction.BACKORDERED:
        return locked
    locked.conflict_action = ConflictAction.BACKORDERED
    locked.conflict_action_at = timezone.now()
    locked.conflict_action_by = actor[:150]
    locked.conflict_note = note[:NOTE_LENGTH]
    locked.save(
        update_fields=[
            "conflict_action",
            "conflict_action_at",
            "conflict_action_by",
            "conflict_note",
            "updated_at",
        ]
    )
    return locked


# --- the apology e-mail ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApologyEmail:
    to: str  # empty: no address we may write to
    subject: str
    body: str
    why_no_address: str = ""


def apology_email(order: ChannelOrder, *, discount_code: str = "") -> ApologyEmail:
    """The apology for an order cancelled for stock, rendered from
    templates/channels/email/apology_{subject,body}.txt with the order, its items, the item
    that ran out and the discount code the person typed (optional)."""
    lines = list(order.lines.select_related("sku").order_by("id"))
    context = {
        "order": order,
        "channel": order.channel,
        "lines": lines,
        "item": _short_item(order, lines),
        "customer_name": _customer_name(order),
        "discount_code": discount_code.strip(),
    }
    subject = render_to_string("channels/email/apology_subject.txt", context)
    body = render_to_string("channels/email/apology_body.txt", context)
    to = customer_email(order)
    why = "" if to else (
        "No e-mail address for this customer: the channel masks it (a marketplace relay "
        "address only forwards mail from the seller's registered addresses) or did not send "
        "one. The channel tells its buyer about the cancellation itself."
    )  # fmt: skip
    return ApologyEmail(
        to=to, subject=" ".join(subject.split()), body=body.strip(), why_no_address=why
    )


def customer_email(order: ChannelOrder) -> str:
    """The customer's address in clear: the matched customer's, else the order's own (a shop's
    order carries `email` / `contact_email` / `customer.email`). A marketplace's masked relay
    address is never kept in clear, so none is found for it."""
    candidates: list[object] = []
    if order.customer_id and order.customer.email:
        candidates.append(order.customer.email)
    raw = order.snapshot if isinstance(order.snapshot, dict) else {}
    customer = raw.get("customer") if isinstance(raw.get("customer"), dict) else {}
    candidates += [raw.get("email"), raw.get("contact_email"), customer.get("email")]
    for candidate in candidates:
        if isinstance(candidate, str) and _is_address(candidate.strip()):
            return candidate.strip()
    return ""


def _is_address(value: str) -> bool:
    try:
        validate_email(value)
    except Exception:  # noqa: BLE001 - ValidationError: not an address
        return False
    return True


def _customer_name(order: ChannelOrder) -> str:
    if order.customer_id and order.customer.name:
        return order.customer.name
    raw = order.snapshot if isinstance(order.snapshot, dict) else {}
    customer = raw.get("customer") if isinstance(raw.get("customer"), dict) else {}
    return str(customer.get("first_name") or "").strip()


def _short_item(order: ChannelOrder, lines: Sequence[ChannelOrderLine]) -> ChannelOrderLine | None:
    """The line whose SKU is oversold (the item that ran out), else the first line."""
    short = set(
        OversellIncident.objects.filter(
            status=OversellIncident.Status.OPEN, sku_id__in=[line.sku_id for line in lines]
        ).values_list("sku_id", flat=True)
    )
    return next((line for line in lines if line.sku_id in short), lines[0] if lines else None)


def _send_apology(outcome: CancelOutcome, *, discount_code: str) -> None:
    email = apology_email(outcome.order, discount_code=discount_code)
    if not email.to:
        outcome.email_note = "not sent: no customer address"
        return
    try:
        send_mail(email.subject, email.body, settings.DEFAULT_FROM_EMAIL, [email.to])
    except Exception as error:  # noqa: BLE001 - the cancel stands whatever the mail server says
        logger.warning("apology to %s for %s failed: %s", email.to, outcome.order, error)
        outcome.email_note = f"failed: {error}"
        return
    outcome.emailed = email.to


# --- history ---------------------------------------------------------------------------------


@dataclass
class PastIncident:
    incident: OversellIncident
    orders: list[ChannelOrder] = field(default_factory=list)


def closed_incidents(incidents: Iterable[OversellIncident]) -> list[PastIncident]:
    """Closed and resolved incidents with their orders: the ones a person acted on while they
    were open, else the ones their uncovered sales named (by the sale events' reference).
    A fixed number of queries for a page of incidents, however many orders they hold."""
    past = [PastIncident(incident) for incident in incidents]
    event_ids = {event for row in past for event in row.incident.sale_event_ids or ()}
    references = dict(
        InventoryEvent.objects.filter(pk__in=event_ids).values_list("pk", "reference")
    )
    named = _orders_by_reference(set(references.values()))
    acted = _acted_on(
        {row.incident.sku_id for row in past},
        since=min((row.incident.opened_at for row in past), default=None),
    )
    for row in past:
        found: dict[int, ChannelOrder] = {
            order.pk: order
            for order, sku_ids in acted
            if row.incident.sku_id in sku_ids and _during(row.incident, order.conflict_action_at)
        }
        # Without an action, the sales the ledger found uncovered. (The ledger breaks a tie of
        # placing times by arrival, not by channel priority, so where a person acted, the
        # orders acted on are the incident's orders.)
        for event_id in () if found else row.incident.sale_event_ids or ():
            order = named.get(references.get(event_id, ""))
            if order is not None:
                found[order.pk] = order
        row.orders = sorted(found.values(), key=lambda o: (o.placed_at, o.channel.priority, o.pk))
    return past


def _orders_by_reference(references: set[str]) -> dict[str, ChannelOrder]:
    """Orders named by sale-event references ("<channel code>:order:<external id>")."""
    wanted: dict[str, set[str]] = defaultdict(set)
    for reference in references:
        code, marker, external_id = reference.partition(":order:")
        if marker:
            wanted[code].add(external_id)
    if not wanted:
        return {}
    match = Q()
    for code, ids in wanted.items():
        match |= Q(channel__code=code, external_id__in=ids)
    orders = ChannelOrder.objects.filter(match).select_related("channel")
    return {f"{order.channel.code}:order:{order.external_id}": order for order in orders}


def _acted_on(sku_ids: set[int], *, since: datetime | None) -> list[tuple[ChannelOrder, set[int]]]:
    if since is None:
        return []
    orders = (
        ChannelOrder.objects.filter(lines__sku_id__in=sku_ids, conflict_action_at__gte=since)
        .exclude(conflict_action="")
        .select_related("channel")
        .prefetch_related("lines")
        .distinct()
    )
    return [(order, {line.sku_id for line in order.lines.all()}) for order in orders]


def _during(incident: OversellIncident, moment: datetime | None) -> bool:
    if moment is None or moment < incident.opened_at:
        return False
    return incident.ended_at is None or moment <= incident.ended_at
