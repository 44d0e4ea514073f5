"""Grading a merchant-fulfilled return once its units are back: a person looks at them and
either restocks them at a location (back on hand, for sale again) or records them unsellable
there with a reason (on hand but in the unsellable bucket). Each grade is one ledger event,
recorded once: the return row is locked, a return no longer waiting is refused, and the
event's idempotency key names the return, so a replayed request cannot count a unit twice.
"""

from __future__ import annotations

from django.db import transaction

from inventory_sync.lib.errors import Conflict, DomainError
from inventory_sync.lib.locks import lock_one, lock_rows
from ledger import services as ledger
from ledger.models import Location
from ledger.rules import EventLine

from .models import ChannelOrderLine, ChannelReturn, Listing

RESTOCK = "restock"
UNSELLABLE = "unsellable"
OUTCOMES = {
    RESTOCK: ("return_restock", ChannelReturn.Handling.RESTOCKED),
    UNSELLABLE: ("return_unsellable", ChannelReturn.Handling.UNSELLABLE),
}


class ReturnNotWaiting(Conflict):
    code = "return_not_waiting"


def grade_return(
    ret: ChannelReturn, *, outcome: str, location: Location, reason: str = "", actor: str
) -> ChannelReturn:
    """Record the graded units at `location` and mark the return graded; returns it reloaded.

    Raises DomainError (400) for an unknown outcome, an unsellable grade without a reason or an
    inactive location, ReturnNotWaiting (409) when the return is not waiting to be graded.
    Locks: the return row, then its order line, then (through the ledger) the SKU rows.
    """
    reason = reason.strip()
    if outcome not in OUTCOMES:
        raise DomainError(
            f"Unknown outcome {outcome!r}.", field_errors={"outcome": "restock or unsellable"}
        )
    if outcome == UNSELLABLE and not reason:
        raise DomainError(
            "Say why the returned units are unsellable.",
            field_errors={"reason": "Required for an unsellable grade."},
        )
    if not location.is_active:
        raise DomainError(
            f"Location {location.code} is inactive.",
            field_errors={"location": "Choose an active location."},
        )
    kind, handling = OUTCOMES[outcome]
    with transaction.atomic():
        ret = lock_one(ChannelReturn.objects.select_related("channel", "sku"), pk=ret.pk)
        if ret.handling != ChannelReturn.Handling.AWAITING_GRADING or ret.sku_id is None:
            raise ReturnNotWaiting(
                f"Return {ret.pk} is not waiting to be graded ({ret.get_handling_display()})."
            )
        line = _order_line(ret)
        units = ret.quantity * _units_per_item(ret, line)
        recorded = ledger.record_event(
            kind=kind,
            lines=[EventLine(ret.sku.code, location.code, units)],
            idempotency_key=f"{ret.channel.code}:return:{ret.pk}:grade",
            source="returns",
            actor=actor,
            reason=reason or "customer return restocked",
            reference=f"{ret.channel.code}:order:{ret.order_external_id}"[:255],
        )
        if line is not None and outcome == RESTOCK:
            line.restocked_units += units
            line.save(update_fields=["restocked_units"])
        ret.handling, ret.event = handling, recorded.event
        ret.save(update_fields=["handling", "event"])
    return ChannelReturn.objects.select_related("channel", "sku", "event").get(pk=ret.pk)


def _order_line(ret: ChannelReturn) -> ChannelOrderLine | None:
    """The order line the returned units were sold on, locked (its pack size and location)."""
    if ret.order_id is None:
        return None
    lines = ChannelOrderLine.objects.filter(order_id=ret.order_id, sku_id=ret.sku_id)
    return lock_rows(lines).first()


def _units_per_item(ret: ChannelReturn, line: ChannelOrderLine | None) -> int:
    """A channel counts items; a multi-pack listing's item is several units of the SKU."""
    if line is not None:
        return max(line.units_per_item, 1)
    listing = (
        Listing.objects.filter(channel_id=ret.channel_id, external_id=ret.channel_sku)
        .only("pack_size")
        .first()
    )
    return listing.pack_size if listing is not None else 1


def suggested_locations(rows: list[ChannelReturn]) -> dict[int, Location | None]:
    """Where each return's grading form starts: where its order line took the stock, else its
    channel's default location (one query for the lines, one for the default locations)."""
    lines = ChannelOrderLine.objects.filter(
        order_id__in={row.order_id for row in rows if row.order_id is not None},
        location__isnull=False,
    ).select_related("location")
    by_line = {}
    for line in lines.order_by("-id"):  # the first line of an order and SKU wins
        by_line[(line.order_id, line.sku_id)] = line.location
    defaults = Location.objects.in_bulk({row.channel.default_location_id for row in rows} - {None})
    return {
        row.pk: by_line.get((row.order_id, row.sku_id))
        or defaults.get(row.channel.default_location_id)
        for row in rows
    }
