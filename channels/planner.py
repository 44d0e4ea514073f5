"""The planner (design I5): dirty SKUs -> allocate() -> each listing's desired quantity.

A ledger write marks its SKUs dirty in its own transaction. The planner takes dirty SKUs with
SKIP LOCKED (a SKU being written right now is left for the next round), computes every
listing of each, writes a listing's desired quantity and version only when it changed, and
clears the flags, all in one transaction: no ledger write can slip in between the read of
the balances and the clearing of the flag, because the planner holds the SKU rows.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from allocation import services as allocation_services
from allocation.models import (
    AllocationRule,
    BundleComponent,
    OversellIncident,
    SalesHalt,
    SkuPolicy,
)
from allocation.routing import stranded
from allocation.rules import (
    Allocation,
    AllocationContext,
    AllocationMode,
    Fulfilment,
    ListingSpec,
    LocationStock,
    Rule,
    RuleKind,
    Scope,
    SkuStock,
    allocate,
)
from inventory_sync.lib.locks import lock_ids
from ledger.models import Balance, Location, Sku

from .models import Listing

logger = logging.getLogger(__name__)

BATCH_SIZE = 200


@dataclass
class PlanOutcome:
    skus: int = 0
    listings_changed: int = 0
    # SKUs with a location committed beyond its stock while another has units to spare:
    # their orders can be re-routed (channels.routing.unstrand_sku), after this commit.
    stranded: list[int] = field(default_factory=list)


def _rule(kind: str, value: object, scope: str, target: str, priority: int, name: str) -> Rule:
    return Rule(
        kind=RuleKind(kind),
        value=Decimal(str(value)),
        scope=Scope(scope),
        target=target,
        priority=priority,
        name=name,
    )


def _rules() -> list[Rule]:
    return [
        _rule(*row)
        for row in AllocationRule.objects.filter(is_enabled=True)
        .order_by("priority", "id")
        .values_list("kind", "value", "scope", "target", "priority", "name")
    ]


def _listing_pair(
    *,
    pk: int,
    channel_id: int,
    fulfilment: str,
    pack_size: int,
    quantity: int | None,
    version: int,
    ring_fenced: bool = False,
    channel: str,
    is_marketplace: bool,
    priority: int,
    region: str,
    chosen: frozenset[str] | None,
    halts: list[tuple[int | None, str]],
    cap: tuple[int, str] | None = None,
) -> tuple[ListingState, ListingSpec]:
    """A listing row as the planner's state and allocate()'s input; halts apply by channel."""
    reasons = [reason for cid, reason in halts if cid in (None, channel_id)]
    return (
        ListingState(
            pk=pk, desired_quantity=quantity, desired_version=version, ring_fenced=ring_fenced
        ),
        ListingSpec(
            key=str(pk),
            channel=channel,
            is_marketplace=is_marketplace,
            channel_priority=priority,
            fulfilment=Fulfilment(fulfilment),
            region=region,
            locations=chosen or None,
            pack_size=pack_size,
            halted=bool(reasons),
            halt_reason="; ".join(reasons),
            cap=cap[0] if cap else None,
            cap_reason=cap[1] if cap else "",
        ),
    )


def _stock(sku_ids: set[int]) -> dict[int, list[LocationStock]]:
    locations = {location.pk: location for location in Location.objects.all()}
    buckets: dict[tuple[int, int], dict[str, int]] = defaultdict(dict)
    for sku_id, location_id, bucket, quantity in Balance.objects.filter(
        sku_id__in=sku_ids
    ).values_list("sku_id", "location_id", "bucket", "quantity"):
        buckets[(sku_id, location_id)][bucket] = quantity
    stock: dict[int, list[LocationStock]] = defaultdict(list)
    for (sku_id, location_id), quantities in sorted(buckets.items()):
        stock[sku_id].append(_location_stock(locations[location_id], quantities))
    return stock


def sku_stock_for(skus: list[Sku]) -> dict[int, SkuStock]:
    """The allocation view of each SKU (and of every component of the bundles among them)."""
    components = defaultdict(list)
    for bundle_id, component_id, quantity in BundleComponent.objects.filter(
        bundle__in=skus
    ).values_list("bundle_id", "component_id", "quantity"):
        components[bundle_id].append((component_id, quantity))
    component_ids = {cid for parts in components.values() for cid, _ in parts}
    everyone = {sku.pk: sku for sku in skus}
    everyone.update(
        {sku.pk: sku for sku in Sku.objects.filter(pk__in=component_ids - set(everyone))}
    )
    policies = {p.sku_id: p for p in SkuPolicy.objects.filter(sku_id__in=everyone)}
    stock = _stock(set(everyone))
    views = {}
    for sku_id, sku in everyone.items():
        policy = policies.get(sku_id)
        views[sku_id] = SkuStock(
            code=sku.code,
            locations=tuple(stock.get(sku_id, ())),
            tags=frozenset(sku.tags or ()),
            tier=sku.velocity_tier,
            mode=AllocationMode(policy.mode) if policy else AllocationMode.SHARED,
            velocity_per_day=policy.velocity_per_day if policy else Decimal(0),
            ring_fence_threshold=policy.ring_fence_threshold if policy else 0,
            components=tuple(
                (everyone[cid].code, quantity) for cid, quantity in components.get(sku_id, ())
            ),
        )
    return views


@dataclass
class ListingState:
    """The planner's part of a listing row: enough to tell whether it changed."""

    pk: int
    desired_quantity: int | None
    desired_version: int
    desired_trace: list[dict[str, object]] = field(default_factory=list)
    ring_fenced: bool = False


def listing_specs(skus: list[Sku]) -> dict[int, list[tuple[ListingState, ListingSpec]]]:
    """Active listings of `skus` as allocation inputs, read as plain rows (no model objects)."""
    halts = defaultdict(list)
    for sku_id, channel_id, reason in (
        SalesHalt.objects.filter(sku__in=skus, released_at__isnull=True)
        .order_by("id")
        .values_list("sku_id", "channel_id", "reason")
    ):
        halts[sku_id].append((channel_id, reason))
    rows = list(
        Listing.objects.filter(sku__in=skus, is_active=True)
        .order_by("id")
        .values_list(
            "id",
            "sku_id",
            "channel_id",
            "fulfilment",
            "pack_size",
            "desired_quantity",
            "desired_version",
            "ring_fenced",
            "channel__code",
            "channel__is_marketplace",
            "channel__priority",
            "channel__region",
            "channel__capped_since",
            "channel__safety_quantity",
            "channel__capped_reason",
        )
    )
    # By listing id, which the through table is indexed on.
    chosen: dict[int, set[str]] = defaultdict(set)
    for listing_id, code in Listing.source_locations.through.objects.filter(
        listing_id__in=[row[0] for row in rows]
    ).values_list("listing_id", "location__code"):
        chosen[listing_id].add(code)
    specs: dict[int, list[tuple[ListingState, ListingSpec]]] = defaultdict(list)
    for (pk, sku_id, channel_id, fulfilment, pack_size, quantity, version, ring_fenced,
         channel, is_marketplace, priority, region,
         capped_since, safety, capped_reason) in rows:  # fmt: skip
        specs[sku_id].append(
            _listing_pair(
                pk=pk, channel_id=channel_id, fulfilment=fulfilment, pack_size=pack_size,
                quantity=quantity, version=version, ring_fenced=ring_fenced, channel=channel,
                is_marketplace=is_marketplace, priority=priority, region=region,
                chosen=frozenset(chosen.get(pk, ())), halts=halts[sku_id],
                cap=(safety, capped_reason) if capped_since else None,
            )
        )  # fmt: skip
    return specs


def allocations_for_sku(sku: Sku) -> list[tuple[Listing, Allocation]]:
    """Every active listing of `sku` with what it should show now and why (read only)."""
    views = sku_stock_for([sku])
    pairs = listing_specs([sku]).get(sku.pk, [])
    if not pairs:
        return []
    view = views[sku.pk]
    allocations = allocate(
        sku=view,
        listings=[spec for _, spec in pairs],
        rules=_rules(),
        components={v.code: v for v in views.values()} if view.components else None,
        context=AllocationContext(oversold=_oversold(view) and not view.components),
    )
    listings = Listing.objects.select_related("channel").in_bulk([state.pk for state, _ in pairs])
    return [(listings[state.pk], allocations[spec.key]) for state, spec in pairs]


def _units_short(stock: SkuStock) -> int:
    """Committed and held units above what is on hand across our own locations (I8)."""
    return max(-sum(s.available for s in stock.locations if not s.is_fba), 0)


def _oversold(stock: SkuStock) -> bool:
    return _units_short(stock) > 0


def plan_dirty_skus(*, batch_size: int = BATCH_SIZE) -> PlanOutcome:
    """Recompute the listings of up to `batch_size` dirty SKUs; returns what it did.

    Invariant I5: desired state and the cleared flag commit together, under the SKU locks.
    Idempotent: a SKU recomputed twice writes nothing the second time.
    Locks: dirty SKU rows FOR NO KEY UPDATE SKIP LOCKED in id order, then their listings'
    rows (written by id order).
    """
    outcome = PlanOutcome()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Claim, load, then write + clear: three prepared statements.
            ids, loaded = _claim_and_load(batch_size)
        else:
            ids, loaded = _lock_dirty(batch_size), None
        if not ids:
            return outcome
        # Bundles (and SQLite) load table by table: a bundle needs its components' stock too.
        sku_ids, views, specs, with_incident, rules = loaded or _load_many(ids)
        now = timezone.now()
        changed: list[ListingState] = []
        for sku_id in sku_ids:
            view = views[sku_id]
            short = 0 if view.components else _units_short(view)
            if not view.components and stranded(view.locations):
                outcome.stranded.append(sku_id)
            if short or sku_id in with_incident:
                allocation_services.incident_sync(
                    sku=Sku(pk=sku_id, code=view.code), units_short=short
                )
            pairs = specs.get(sku_id)
            if not pairs:
                continue
            components = {v.code: v for v in views.values()} if view.components else None
            allocations = allocate(
                sku=view,
                listings=[spec for _, spec in pairs],
                rules=rules,
                components=components,
                context=AllocationContext(oversold=short > 0 and not view.components),
            )
            for listing, spec in pairs:
                allocation = allocations[spec.key]
                same_quantity = listing.desired_quantity == allocation.quantity
                if same_quantity and listing.ring_fenced == allocation.ring_fenced:
                    continue
                # Only the planner writes desired_*, and it holds the SKU's lock: the version
                # read with the listing is current. A change of the fence alone is written
                # without a new version (nothing to push, but the pusher must know).
                listing.desired_quantity = allocation.quantity
                listing.desired_version += 0 if same_quantity else 1
                listing.desired_trace = [step.as_dict() for step in allocation.steps]
                listing.ring_fenced = allocation.ring_fenced
                changed.append(listing)
        _write_desired(sorted(changed, key=lambda item: item.pk), sku_ids, now)
        outcome.listings_changed = len(changed)
        outcome.skus = len(sku_ids)
    return outcome


Loaded = tuple[
    list[int],
    dict[int, SkuStock],
    dict[int, list[tuple["ListingState", ListingSpec]]],
    set[int],
    Sequence[Rule],
]


def _lock_dirty(batch_size: int) -> list[int]:
    """Lock up to `batch_size` dirty SKU rows in id order, skipping rows others hold (portable)."""
    _mark_bundles_of_dirty_components()
    return lock_ids(
        Sku.objects.filter(allocation_dirty_since__isnull=False), skip_locked=True, limit=batch_size
    )


def _load_many(ids: list[int]) -> Loaded:
    """What allocate() needs for the locked SKUs, a few set-based queries for the batch."""
    skus = list(Sku.objects.filter(pk__in=ids).order_by("id"))
    with_incident = set(
        OversellIncident.objects.filter(
            sku__in=skus, status=OversellIncident.Status.OPEN
        ).values_list("sku_id", flat=True)
    )
    return (
        [sku.pk for sku in skus],
        sku_stock_for(skus),
        listing_specs(skus),
        with_incident,
        _rules(),
    )


# --- PostgreSQL ----------------------------------------------------------------------------
# Three statements (claim, load, write + clear), each prepared once per connection, so none is
# planned on the hot path.
#
# The claim and the load are two statements, not one: under READ COMMITTED a statement reads
# with the snapshot taken when it starts, so balances read by the statement that takes a SKU's
# lock could miss a ledger write that committed just before the lock was granted (and the flag
# would then be cleared over it). The load starts after the claim has finished, so its
# snapshot sees every write that committed before the locks. (Sending both in one pipeline,
# the ids handed over in a setting, measured no faster here than two round trips.)

# Bundles of dirty components are marked and locked like any SKU row (id order, skipping rows
# another planner holds) and join this round; then up to `batch_size` dirty SKUs are locked.
# The batch size is part of the text, not a parameter: a statement without parameters has one
# plan, made once per connection.
_CLAIM_SQL = """
WITH marked AS (
    UPDATE ledger_sku SET allocation_dirty_since = CURRENT_TIMESTAMP WHERE id IN (
        SELECT bundle.id FROM ledger_sku AS bundle
        JOIN allocation_bundlecomponent AS part ON part.bundle_id = bundle.id
        JOIN ledger_sku AS component ON component.id = part.component_id
        WHERE bundle.allocation_dirty_since IS NULL
        AND component.allocation_dirty_since IS NOT NULL
        ORDER BY bundle.id FOR NO KEY UPDATE OF bundle SKIP LOCKED)
    RETURNING id
), dirty AS (
    SELECT id FROM ledger_sku WHERE allocation_dirty_since IS NOT NULL
    ORDER BY id LIMIT {batch_size:d} FOR NO KEY UPDATE SKIP LOCKED
)
SELECT ARRAY(SELECT id FROM dirty UNION ALL SELECT id FROM marked ORDER BY 1),
    -- For the rest of this transaction: one plan per prepared statement, reused (they look
    -- rows up by key; planning them on every call cost more than running them), and no JIT
    -- (without table statistics a plan for a few rows can be costed high enough to compile).
    set_config('plan_cache_mode', 'force_generic_plan', true),
    set_config('jit', 'off', true)
"""

# Everything allocate() needs for the claimed SKUs, as two JSON documents: the SKUs (stock,
# policy, halts, listings; locations and channels by id) and the shared inputs (rules,
# locations, channels), which rarely change and are parsed again only when their text does.
_LOAD_SQL = """
SELECT
    (SELECT json_agg(json_build_array(
        c.id, c.code, c.tags, c.velocity_tier,
        (SELECT json_agg(json_build_array(b.location_id, b.bucket, b.quantity))
         FROM ledger_balance b WHERE b.sku_id = c.id),
        (SELECT json_build_array(p.mode, p.ring_fence_threshold, p.velocity_per_day)
         FROM allocation_skupolicy p WHERE p.sku_id = c.id),
        EXISTS (SELECT 1 FROM allocation_bundlecomponent bc WHERE bc.bundle_id = c.id),
        EXISTS (SELECT 1 FROM allocation_oversellincident i
                WHERE i.sku_id = c.id AND i.status = 'open'),
        (SELECT json_agg(json_build_array(h.channel_id, h.reason) ORDER BY h.id)
         FROM allocation_saleshalt h WHERE h.sku_id = c.id AND h.released_at IS NULL),
        (SELECT json_agg(json_build_array(
                    l.id, l.channel_id, l.fulfilment, l.pack_size, l.desired_quantity,
                    l.desired_version, l.ring_fenced,
                    (SELECT json_agg(s.location_id) FROM channels_listing_source_locations s
                     WHERE s.listing_id = l.id))
                ORDER BY l.id)
         FROM channels_listing l WHERE l.sku_id = c.id AND l.is_active))
     ORDER BY c.id)
     FROM ledger_sku c WHERE c.id = ANY(%s::bigint[]))::text,
    json_build_array(
        (SELECT json_agg(json_build_array(r.kind, r.value, r.scope, r.target, r.priority, r.name)
                ORDER BY r.priority, r.id)
         FROM allocation_allocationrule r WHERE r.is_enabled),
        (SELECT json_agg(json_build_array(loc.id, loc.code, loc.kind, loc.region, loc.can_ship,
                                          loc.is_active) ORDER BY loc.id)
         FROM ledger_location loc),
        (SELECT json_agg(json_build_array(ch.id, ch.code, ch.is_marketplace, ch.priority,
                                          ch.region, ch.capped_since IS NOT NULL,
                                          ch.safety_quantity, ch.capped_reason) ORDER BY ch.id)
         FROM channels_channel ch))::text
"""

# One statement. Django's bulk_update would build a CASE per row and field (quadratic in the
# batch size); a JSON document is encoded and parsed in C whatever its size.
# desired_cause_at keeps the oldest ledger change not yet pushed (the SKU's dirty mark, read
# before this statement clears it: every part of one statement sees the same snapshot), so a
# push's latency runs from the first event it carries.
_WRITE_SQL = """
WITH listing AS (
    UPDATE channels_listing AS listing SET
        desired_quantity = v.quantity, desired_version = v.version, desired_at = %s,
        desired_trace = v.trace, ring_fenced = v.ring_fenced,
        desired_cause_at = CASE WHEN listing.desired_version
                > GREATEST(listing.pushed_version, COALESCE(listing.in_flight_version, 0))
            THEN COALESCE(listing.desired_cause_at, sku.allocation_dirty_since)
            ELSE sku.allocation_dirty_since END
    FROM jsonb_to_recordset(%s::jsonb)
        AS v(id bigint, quantity integer, version bigint, trace jsonb, ring_fenced boolean),
        ledger_sku AS sku
    WHERE listing.id = v.id AND sku.id = listing.sku_id
)
UPDATE ledger_sku SET allocation_dirty_since = NULL WHERE id = ANY(%s::bigint[])
"""

# psycopg prepares a statement only when the connection allows it, and Django turns that off
# (prepare_threshold None) for the sake of transaction-mode poolers. The planner's cursors ask
# for their statements explicitly; a threshold this high prepares nothing else.
_PREPARE_ONLY_WHEN_ASKED = 2**31 - 1
PREPARE_STATEMENTS = True  # False behind a pooler that cannot keep prepared statements


def _prepared_connection():
    """Django's psycopg connection, able to prepare the statements that ask for it."""
    raw = connection.connection
    if PREPARE_STATEMENTS and raw.prepare_threshold is None:
        raw.prepare_threshold = _PREPARE_ONLY_WHEN_ASKED
    return raw


def _claim_and_load(batch_size: int) -> tuple[list[int], Loaded | None]:
    """Claim up to `batch_size` dirty SKUs (bundles of dirty components marked first) and load
    what allocate() needs for them; the ids, sorted, and the load (None for a bundle)."""
    from psycopg import Cursor  # PostgreSQL only

    raw = _prepared_connection()
    claim_sql = _CLAIM_SQL.format(batch_size=int(batch_size))
    with connection.wrap_database_errors, Cursor(raw) as claim, Cursor(raw) as load:
        claim.execute(claim_sql, prepare=PREPARE_STATEMENTS)
        ((ids, *_settings),) = claim.fetchall()
        if not ids:
            return [], None
        load.execute(_LOAD_SQL, [ids], prepare=PREPARE_STATEMENTS)
        ((skus_text, shared_text),) = load.fetchall()
    return ids, _parse_load(skus_text, shared_text)


def _execute(sql: str, params: list[object]) -> None:
    """Run one planner statement on Django's connection, prepared (PostgreSQL)."""
    from psycopg import Cursor  # PostgreSQL only

    with connection.wrap_database_errors, Cursor(_prepared_connection()) as cursor:
        cursor.execute(sql, params, prepare=PREPARE_STATEMENTS)


@dataclass(frozen=True)
class _Shared:
    """Rules, locations and channels as allocate() and the listing specs use them."""

    rules: tuple[Rule, ...]
    # pk -> (code, is FBA, region, can ship): what a LocationStock takes from its location
    locations: dict[int, tuple[str, bool, str, bool]]
    # pk -> (code, is marketplace, priority, region, (safety quantity, why) while capped)
    channels: dict[int, tuple[str, bool, int, str, tuple[int, str] | None]]


# The shared inputs of the last load, keyed by their text as read in that load's snapshot: a
# changed rule, location or channel changes the text, so the next plan parses it again.
_shared_cache: tuple[str, _Shared] | None = None


def _shared(text: str) -> _Shared:
    global _shared_cache
    cached = _shared_cache
    if cached is not None and cached[0] == text:
        return cached[1]
    rules, locations, channels = json.loads(text, parse_float=Decimal)
    shared = _Shared(
        rules=tuple(
            Rule(
                kind=RuleKind(kind),
                value=Decimal(value),
                scope=Scope(scope),
                target=target,
                priority=priority,
                name=name,
            )
            for kind, value, scope, target, priority, name in rules or ()
        ),
        locations={
            pk: (code, kind == Location.Kind.FBA, region, can_ship and is_active)
            for pk, code, kind, region, can_ship, is_active in locations or ()
        },
        channels={
            pk: (code, is_marketplace, priority, region, (safety, why) if capped else None)
            for pk, code, is_marketplace, priority, region, capped, safety, why in channels or ()
        },
    )
    _shared_cache = (text, shared)
    return shared


def _parse_load(skus_text: str, shared_text: str) -> Loaded | None:
    """What _load_many returns, from the load statement's two documents.

    None when a bundle is among the SKUs: bundles need their components' stock too, which
    _load_many reads.
    """
    rows = json.loads(skus_text, parse_float=Decimal)
    if any(row[6] for row in rows):
        return None
    shared = _shared(shared_text)
    places, channels = shared.locations, shared.channels
    sku_ids, views, specs, with_incident = [], {}, defaultdict(list), set()
    for sku_id, code, tags, tier, balances, policy, _, incident, halts, listings in rows:
        sku_ids.append(sku_id)
        if incident:
            with_incident.add(sku_id)
        buckets: dict[int, dict[str, int]] = defaultdict(dict)
        for location_id, bucket, quantity in balances or ():
            buckets[location_id][bucket] = quantity
        views[sku_id] = SkuStock(
            code=code,
            locations=tuple(
                _stock_at(places[location_id], quantities)
                for location_id, quantities in sorted(buckets.items())
            ),
            tags=frozenset(tags or ()),
            tier=tier,
            mode=AllocationMode(policy[0]) if policy else AllocationMode.SHARED,
            velocity_per_day=Decimal(policy[2]) if policy else Decimal(0),
            ring_fence_threshold=policy[1] if policy else 0,
        )
        halts = [(cid, reason) for cid, reason in halts or ()]
        for (pk, channel_id, fulfilment, pack_size, quantity, version, ring_fenced,
             chosen) in listings or ():  # fmt: skip
            channel, is_marketplace, priority, region, cap = channels[channel_id]
            specs[sku_id].append(
                _listing_pair(
                    pk=pk, channel_id=channel_id, fulfilment=fulfilment, pack_size=pack_size,
                    quantity=quantity, version=version, ring_fenced=ring_fenced, channel=channel,
                    is_marketplace=is_marketplace, priority=priority, region=region,
                    chosen=frozenset(places[loc][0] for loc in chosen or ()), halts=halts,
                    cap=cap,
                )
            )  # fmt: skip
    return sku_ids, views, specs, with_incident, shared.rules


def _stock_at(place: tuple[str, bool, str, bool], quantities: dict[str, int]) -> LocationStock:
    code, is_fba, region, can_ship = place
    return LocationStock(
        location=code,
        on_hand=quantities.get("on_hand", 0),
        committed=quantities.get("committed", 0),
        reserved=quantities.get("reserved", 0),
        unsellable=quantities.get("unsellable", 0),
        is_fba=is_fba,
        region=region,
        can_ship=can_ship,
    )


def _location_stock(location: Location, quantities: dict[str, int]) -> LocationStock:
    return LocationStock(
        location=location.code,
        on_hand=quantities.get("on_hand", 0),
        committed=quantities.get("committed", 0),
        reserved=quantities.get("reserved", 0),
        unsellable=quantities.get("unsellable", 0),
        is_fba=location.kind == Location.Kind.FBA,
        region=location.region,
        can_ship=location.can_ship and location.is_active,
    )


def _write_desired(listings: list[ListingState], sku_ids: list[int], now) -> None:
    """Write the listings' new desired state and clear the SKUs' flags (rows in id order)."""
    if connection.vendor != "postgresql":
        Listing.objects.bulk_update(
            [
                Listing(
                    pk=item.pk,
                    desired_quantity=item.desired_quantity,
                    desired_version=item.desired_version,
                    desired_at=now,
                    desired_trace=item.desired_trace,
                    ring_fenced=item.ring_fenced,
                )
                for item in listings
            ],
            ["desired_quantity", "desired_version", "desired_at", "desired_trace", "ring_fenced"],
        )
        # Simpler than PostgreSQL's (the demo's path): the latest change, not the oldest.
        Listing.objects.filter(pk__in=[item.pk for item in listings]).update(
            desired_cause_at=Subquery(
                Sku.objects.filter(pk=OuterRef("sku_id")).values("allocation_dirty_since")[:1]
            )
        )
        Sku.objects.filter(pk__in=sku_ids).update(allocation_dirty_since=None)
        return
    rows = json.dumps(
        [
            {"id": item.pk, "quantity": item.desired_quantity, "version": item.desired_version,
             "trace": item.desired_trace, "ring_fenced": item.ring_fenced}
            for item in listings
        ]
    )  # fmt: skip
    _execute(_WRITE_SQL, [now, rows, sku_ids])


def _mark_bundles_of_dirty_components() -> None:
    """A component's change is its bundles' change: they are recomputed in the same round.

    Bundle rows are locked like any SKU row (id order, skipping rows another planner holds).
    """
    # The join gives a bundle once per dirty component.
    bundle_ids = sorted(
        set(
            lock_ids(
                Sku.objects.filter(
                    allocation_dirty_since__isnull=True,
                    components__component__allocation_dirty_since__isnull=False,
                ),
                skip_locked=True,
            )
        )
    )
    if bundle_ids:
        Sku.objects.filter(pk__in=bundle_ids).update(allocation_dirty_since=timezone.now())
