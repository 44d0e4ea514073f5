"""One shopper across channels: orders matched to a customer by normalised email, then phone.

1. Normalise what the order says: the email trimmed and lower-cased (a plus-tag stays, it is
   part of the address the shopper typed), the phone as digits with its country code
   ("+14155550100"), the order's destination country (else CUSTOMER_PHONE_COUNTRY) standing
   in for a number written without one.
2. Hash each with the site's salt (`hash_of`): the matching keys. A channel that hides the
   shopper behind a relay address (Amazon's `…@marketplace.amazon.com`) still matches the
   next order carrying the same relay, and the address itself is never kept.
3. Find the customer by email hash, else by phone hash; create one when neither is known.
   A found customer gains the keys it lacked, its first and last order times and, from its
   latest order, its name.

Two orders of one new customer applied at once must make one customer: the match runs under
a transaction-scoped advisory lock per key (PostgreSQL), and the partial unique constraint on
`email_hash` backs it. The locks are taken last in the order's transaction (after its SKU and
listing locks), each transaction takes at most two, in sorted order, so they never deadlock.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Coalesce, Greatest, Least

from inventory_sync.lib import memo
from inventory_sync.lib.locks import lock_rows

from .models import ChannelOrder, Customer, PendingCustomerMatch

EMAIL = "email"
PHONE = "phone"

# Country calling codes of the markets our channels sell in (ISO 3166-1 alpha-2 → code).
CALLING_CODES = {
    "US": "1", "CA": "1", "PR": "1", "MX": "52", "BR": "55", "AR": "54", "CL": "56", "CO": "57",
    "GB": "44", "IE": "353", "DE": "49", "AT": "43", "CH": "41", "FR": "33", "BE": "32",
    "NL": "31", "LU": "352", "ES": "34", "PT": "351", "IT": "39", "SE": "46", "DK": "45",
    "NO": "47", "FI": "358", "PL": "48", "CZ": "420", "TR": "90", "AE": "971", "SA": "966",
    "EG": "20", "ZA": "27", "IN": "91", "JP": "81", "SG": "65", "AU": "61", "NZ": "64",
    "CN": "86", "HK": "852", "KR": "82",
}  # fmt: skip
# Where the leading 0 of a national number is part of the number, not a trunk prefix.
KEEPS_LEADING_ZERO = {"39"}
# E.164: at most 15 digits; fewer than 8 is no subscriber number of these markets.
MIN_DIGITS, MAX_DIGITS = 8, 15
_EXTENSION = re.compile(r"(?:ext\.?|extension|x|#|;ext=).*$", re.IGNORECASE)
# Advisory lock space of customer matching (the two-integer form: apart from the pushers'
# single-bigint locks).
LOCK_SPACE = 7_431


class CustomerFacts(Protocol):
    """What an order says about its shopper (channels.order_details.OrderDetails)."""

    customer_email: str
    customer_phone: str
    customer_name: str
    customer_email_masked: bool
    destination_country: str


def normalise_email(value: str) -> str:
    """Trimmed and lower-cased; blank when it is no address at all."""
    email = (value or "").strip().lower()
    local, at, domain = email.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in email):
        return ""
    return email


def normalise_phone(value: str, country: str = "") -> str:
    """ "+<country code><number>", or blank when it cannot be a phone number.

    A number written without its country code takes `country`'s (the order's destination),
    else CUSTOMER_PHONE_COUNTRY's; its national trunk prefix (a leading 0, NANP's leading 1)
    is dropped as in international dialling."""
    text = _EXTENSION.sub("", (value or "").strip())
    if any(c.isalpha() for c in text):
        return ""  # "555-555-SHIP": a vanity or placeholder number, not one to match on
    digits = "".join(c for c in text if c.isdigit())
    if text.startswith("+"):
        international = digits
    elif digits.startswith("00"):
        international = digits[2:]
    else:
        code = CALLING_CODES.get((country or "").upper()) or CALLING_CODES.get(
            settings.CUSTOMER_PHONE_COUNTRY, ""
        )
        if not code:
            return ""
        international = code + _national(digits, code)
    if not MIN_DIGITS <= len(international) <= MAX_DIGITS:
        return ""
    return "+" + international


def _national(digits: str, code: str) -> str:
    if code == "1" and len(digits) == 11 and digits.startswith("1"):
        return digits[1:]
    if code not in KEEPS_LEADING_ZERO and digits.startswith("0"):
        return digits[1:]
    return digits


def hash_of(kind: str, value: str) -> str:
    """The matching key of a normalised email or phone: HMAC-SHA256 under the site's salt
    (hex). Without the salt, a leaked table cannot be matched against a list of addresses."""
    salt = settings.CUSTOMER_MATCH_SALT.encode()
    return hmac.new(salt, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Match:
    """What a match reads of an order: its keys, and what Customer keeps in clear."""

    email_hash: str
    phone_hash: str
    email: str  # blank when the channel masks it
    phone: str
    name: str

    @property
    def keys(self) -> list[str]:
        return [key for key in (self.email_hash, self.phone_hash) if key]


def match_of(details: CustomerFacts) -> Match | None:
    """The order's match; None when it names no email or phone we can match on."""
    email = normalise_email(details.customer_email)
    phone = normalise_phone(details.customer_phone, details.destination_country)
    if not email and not phone:
        return None
    return Match(
        email_hash=hash_of(EMAIL, email) if email else "",
        phone_hash=hash_of(PHONE, phone) if phone else "",
        email="" if details.customer_email_masked or len(email) > 254 else email,
        phone=phone,
        name=(details.customer_name or "").strip()[:255],
    )


def match_customer(details: CustomerFacts, placed_at: datetime) -> Customer | None:
    """The customer of an order, found or created; None when the order names no email or
    phone we can match on.

    Runs in the caller's transaction (the order's), as its last step: locks (PostgreSQL) one
    transaction-scoped advisory lock per matching key, in sorted order, then the customer's
    row by its UPDATE. Idempotent: the same order matched twice changes nothing more.
    """
    match = match_of(details)
    if match is None:
        return None
    with transaction.atomic(savepoint=False):  # the order's transaction, or one of its own
        _lock_keys(match.keys)
        return _found_or_created(match, placed_at)


def _found_or_created(match: Match, placed_at: datetime) -> Customer:
    """Call with the match's keys locked."""
    customer = _find(match.email_hash, match.phone_hash)
    if customer is None:
        return Customer.objects.create(
            email_hash=match.email_hash,
            phone_hash=match.phone_hash,
            email=match.email,
            phone=match.phone,
            name=match.name,
            first_order_at=placed_at,
            last_order_at=placed_at,
        )
    keys = {EMAIL: match.email_hash, PHONE: match.phone_hash}
    _record_order(customer, keys, match.email, match.phone, match.name, placed_at)
    customer.refresh_from_db()
    return customer


def matching_keys(details: CustomerFacts) -> list[str]:
    """The matching keys an order's details name (what match_customer will lock)."""
    match = match_of(details)
    return match.keys if match is not None else []


# Inside an ingest claim (inventory_sync.lib.memo): the matches it leaves for after its commit,
# and the event being applied.
MATCHES_AFTER = "customer-matches-after-claim"
APPLYING = "customer-event-applying"


def applying(event_id: int) -> None:
    """The claim is applying this event now (its matches are dropped if it rolls back)."""
    memo.remember(APPLYING, event_id)


def match_in_claim(order, details: CustomerFacts) -> bool:
    """Inside an ingest claim: match the order's customer now when no other transaction holds
    the shopper's keys, else leave it for after the claim (defer_claimed, match_pending);
    True. Outside a claim, False (the caller matches as usual).

    Who bought does not change what any channel may show: a claim never waits, holding the
    SKUs it sells, for the keys of a regular another ingest worker is matching at that moment.
    The first snapshot of the order that names someone is the one matched, as outside a
    claim."""
    if not memo.active():
        return False
    match = match_of(details)
    if match is None:
        return True
    key = (order.channel_id, order.external_id)
    waiting = memo.remembered(MATCHES_AFTER, dict)
    if key not in waiting and not _try_lock_keys(set(match.keys)):
        order.customer = _found_or_created(match, order.placed_at)  # keys ours until commit
        return True
    waiting.setdefault(key, (order, match, memo.remembered(APPLYING, lambda: None)))
    return True


def forget_matches_of(event_id: int) -> None:
    """The event's savepoint was rolled back: so are the orders it would have matched."""
    waiting = memo.remembered(MATCHES_AFTER, dict) if memo.active() else {}
    for key in [key for key, (_, _, event) in waiting.items() if event == event_id]:
        del waiting[key]


def defer_claimed() -> int:
    """At the claim's end, in its transaction: its orders' matches, kept for match_pending."""
    waiting = memo.remembered(MATCHES_AFTER, dict) if memo.active() else {}
    rows = [
        PendingCustomerMatch(
            order_id=order.pk,
            email_hash=match.email_hash,
            phone_hash=match.phone_hash,
            email=match.email,
            phone=match.phone,
            name=match.name,
            placed_at=order.placed_at,
        )
        for order, match, _ in waiting.values()
    ]
    waiting.clear()
    PendingCustomerMatch.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


MATCH_BATCH = 64


def match_pending(limit: int = MATCH_BATCH) -> int:
    """Match the customers of orders claims left (oldest first, up to `limit`), in one short
    transaction that holds nothing else: the keys another matcher holds right now are left
    for the next call rather than waited for. Returns how many orders were matched."""
    with transaction.atomic():
        pending = list(lock_rows(PendingCustomerMatch.objects.all(), skip_locked=True)[:limit])
        if not pending:
            return 0
        held = _try_lock_keys({key for row in pending for key in _row_match(row).keys})
        matched: dict[int, list[int]] = {}
        done = []
        for row in pending:
            match = _row_match(row)
            if set(match.keys) & held:
                continue
            customer = _found_or_created(match, row.placed_at)
            matched.setdefault(customer.pk, []).append(row.order_id)
            done.append(row.pk)
        for customer_id, order_ids in matched.items():
            ChannelOrder.objects.filter(pk__in=order_ids, customer__isnull=True).update(
                customer_id=customer_id
            )
        PendingCustomerMatch.objects.filter(pk__in=done).delete()
    return len(done)


def _row_match(row: PendingCustomerMatch) -> Match:
    return Match(row.email_hash, row.phone_hash, row.email, row.phone, row.name)


def _try_lock_keys(hashes: set[str]) -> set[str]:
    """Take the keys no other transaction holds; returns the ones held elsewhere."""
    return _advisory_locks(hashes, wait=False)


def _lock_keys(hashes) -> None:
    """Serialise the matches of one key across transactions until they commit. SQLite (the
    demo) has one writer at a time already."""
    _advisory_locks(hashes, wait=True)


def _advisory_locks(hashes, *, wait: bool) -> set[str]:
    """One transaction-scoped advisory lock per key, in sorted order, in one statement (the
    subquery sorts before any lock is taken); waiting for each, or only trying. Returns the
    keys another transaction holds (none when waiting)."""
    wanted = {h for h in hashes if h}
    if connection.vendor != "postgresql" or not wanted:
        return set()
    function = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT key, {function}(%s, key) FROM"
            " (SELECT unnest(%s::int[]) AS key ORDER BY 1) AS sorted",
            [LOCK_SPACE, sorted({_int32(key) for key in wanted})],
        )
        taken = {key for key, ok in cursor.fetchall() if wait or ok}
    return {key for key in wanted if _int32(key) not in taken}


def _int32(key: str) -> int:
    return int(key[:8], 16) - 2**31


def _find(email_hash: str, phone_hash: str) -> Customer | None:
    """The customer of the email key, else the oldest of the phone key: one query."""
    match = Q()
    if email_hash:
        match |= Q(email_hash=email_hash)
    if phone_hash:
        match |= Q(phone_hash=phone_hash)
    if not match:
        return None
    found = Customer.objects.filter(match)
    if email_hash:
        found = found.annotate(
            by_email=Case(When(email_hash=email_hash, then=Value(0)), default=Value(1))
        ).order_by("by_email", "id")
    else:
        found = found.order_by("id")
    return found.first()


def _record_order(
    customer: Customer,
    keys: dict[str, str],
    email: str,
    phone: str,
    name: str,
    placed_at: datetime,
) -> None:
    """One UPDATE, computed by the database: another order of the customer (matched by its
    other key) may be writing the same row, and neither must undo the other."""
    changes = {
        "email_hash": _fill(EMAIL + "_hash", keys[EMAIL]),
        "phone_hash": _fill(PHONE + "_hash", keys[PHONE]),
        "email": _fill("email", email),
        "phone": _fill("phone", phone),
        "first_order_at": Least(Coalesce("first_order_at", Value(placed_at)), Value(placed_at)),
        "last_order_at": Greatest(Coalesce("last_order_at", Value(placed_at)), Value(placed_at)),
    }
    if name:
        # The name the shopper gave on their latest order (a marriage, a typo fixed).
        changes["name"] = Case(
            When(last_order_at__isnull=True, then=Value(name)),
            When(last_order_at__lte=placed_at, then=Value(name)),
            When(name="", then=Value(name)),
            default=F("name"),
        )
    Customer.objects.filter(pk=customer.pk).update(**changes)


def _fill(field: str, value: str):
    """Keep what the customer has; fill it only where it is blank."""
    if not value:
        return F(field)
    return Case(When(**{field: ""}, then=Value(value)), default=F(field))
