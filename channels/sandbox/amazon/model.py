"""The in-memory selling partner accounts: listings, FBA stock, orders, feeds, reports, returns.

Plain Python, no Django. One re-entrant lock guards all state; an SP-API call holds it for its
whole handling, so a request sees and changes the account atomically. Time comes from one clock
(`config.clock`): delayed work (an ACCEPTED patch being applied, a feed moving IN_QUEUE ->
IN_PROGRESS -> DONE, a pending order becoming unshipped, an AFN order shipping itself) sits in a
scheduler and runs when the clock passes its due time: on every API call, on `advance()` with a
ManualClock, and from a ticker thread with the real clock.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from channels.sandbox.common.config import override
from channels.sandbox.common.errors import NotFound, OutOfStock, SandboxError

from . import feeds, payloads, reports
from . import spec as spec_module
from .clock import Clock, ManualClock, RealClock, iso, wall_time
from .faults import FaultBook, RequestLog
from .marketplaces import MARKETPLACES
from .notifications import Destination, Dispatcher
from .ratelimit import RateLimiter

MFN_CHANNEL = "DEFAULT"
# What a quantity submission rejected after ACCEPTED leaves on its listing (`reject_patches`).
LATE_AVAILABILITY_ISSUE = payloads.issue(
    "8572",
    "The merchant quantity could not be updated: the offer is not available for this "
    "fulfillment channel in this marketplace.",
    ["fulfillment_availability"],
    "INVALID_ATTRIBUTE",
)
RETURN_DISPOSITIONS = (
    "SELLABLE",
    "DEFECTIVE",
    "CUSTOMER_DAMAGED",
    "DISTRIBUTOR_DAMAGED",
    "CARRIER_DAMAGED",
    "DAMAGED",
    "EXPIRED",
)
# Where a returned unit lands in FBA stock (None: Amazon takes ownership and reimburses).
RETURN_BUCKET = {
    "SELLABLE": "fulfillable",
    "DEFECTIVE": "defective",
    "CUSTOMER_DAMAGED": "customer_damaged",
    "DISTRIBUTOR_DAMAGED": "distributor_damaged",
    "CARRIER_DAMAGED": None,
    "DAMAGED": None,
    "EXPIRED": "expired",
}
FBA_BUCKETS = (
    "fulfillable",
    "inbound_working",
    "inbound_shipped",
    "inbound_receiving",
    "pending_customer_order",
    "pending_transshipment",
    "fc_processing",
    "researching_short_term",
    "researching_mid_term",
    "researching_long_term",
    "customer_damaged",
    "warehouse_damaged",
    "distributor_damaged",
    "carrier_damaged",
    "defective",
    "expired",
    "future_supply_buyable",
)
INBOUND_STAGES = ("inbound_working", "inbound_shipped", "inbound_receiving", "fulfillable")


def is_afn(channel_code: str | None) -> bool:
    return bool(channel_code) and channel_code != MFN_CHANNEL


@dataclass
class SandboxConfig:
    # LWA application (one app, several sellers who authorised it).
    client_id: str = "amzn1.application-oa2-client.sandbox"
    client_secret: str = "sandbox-client-secret"
    application_id: str = "amzn1.sellerapps.app.sandbox-0000-0000"
    access_token_ttl: float = 3600.0
    # The seller that exists after a reset; `add_seller` adds more.
    default_seller_id: str = "A1SANDBOXSELLER"
    default_marketplace_id: str = "ATVPDKIKX0DER"
    # EventBridge partner bus coordinates (the `account` and `region` of delivered events).
    aws_account_id: str = "123456789012"
    aws_region: str = "us-east-1"
    # Usage plans: the official rates times `rate_scale`; off altogether with rate_limits=False.
    rate_limits: bool = True
    rate_scale: float = 1.0
    clock: Clock = field(default_factory=RealClock)
    seed: int = 0
    # Asynchronous processing, in sandbox-clock seconds.
    patch_apply_delay: float = 2.0
    feed_queue_seconds: float = 1.0
    feed_processing_seconds: float = 2.0
    report_queue_seconds: float = 1.0
    report_processing_seconds: float = 2.0
    order_pending_seconds: float = 1.0
    afn_ship_seconds: float = 30.0
    # Documents (feed results, reports) are served gzip-compressed with compressionAlgorithm.
    gzip_documents: bool = False
    # Answer requests that break the official model with 400 InvalidInput.
    validate_requests: bool = True
    # Check every answer against the declared response and record problems in the request log.
    validate_responses: bool = True
    # A DEFAULT (merchant) quantity sent to an AFN listing: "convert" does what Amazon documents
    # (accepted; the offer switches to merchant-fulfilled and the FBA stock is stranded);
    # "reject" answers INVALID instead.
    afn_merchant_quantity: str = "convert"
    # Page tokens: FBA inventory tokens expire after 30 s, Orders 2026 tokens after 24 h.
    inventory_token_ttl: float = 30.0
    orders_token_ttl: float = 86_400.0
    currency_default_price: str = "25.00"
    # Run due work from a thread (default: only with the real clock).
    auto_tick: bool | None = None

    def __post_init__(self) -> None:
        if self.afn_merchant_quantity not in ("convert", "reject"):
            raise ValueError("afn_merchant_quantity must be 'convert' or 'reject'")


@dataclass
class Seller:
    seller_id: str
    refresh_token: str
    marketplace_ids: list[str]
    name: str

    def as_json(self) -> dict:
        return {
            "seller_id": self.seller_id,
            "refresh_token": self.refresh_token,
            "marketplace_ids": list(self.marketplace_ids),
            "name": self.name,
        }


@dataclass
class Listing:
    seller_id: str
    sku: str
    marketplace_id: str
    asin: str | None
    product_type: str
    item_name: str | None
    fulfillment_channel_code: str
    quantity: int | None  # merchant (DEFAULT) quantity; None for AFN listings
    price: Decimal | None
    created: datetime
    updated: datetime
    fn_sku: str | None = None
    lead_time_to_ship_max_days: int | None = None
    restock_date: str | None = None
    condition_type: str = "new_new"
    attributes: dict[str, list] = field(default_factory=dict)  # other top-level attributes
    # Set when a merchant quantity converted an FBA listing (Amazon's documented behaviour).
    converted_from: str | None = None
    incomplete: bool = False  # created by a patch of an unknown SKU: offer data only
    # Issues Amazon found after answering ACCEPTED (the submission was then not applied).
    late_issues: list[dict] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.seller_id, self.sku, self.marketplace_id)

    @property
    def afn(self) -> bool:
        return is_afn(self.fulfillment_channel_code)


@dataclass
class FbaStock:
    seller_id: str
    sku: str
    marketplace_id: str
    asin: str | None
    fn_sku: str
    product_name: str
    updated: datetime
    buckets: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FBA_BUCKETS, 0))

    def __getitem__(self, bucket: str) -> int:
        return self.buckets[bucket]

    @property
    def reserved(self) -> int:
        b = self.buckets
        return b["pending_customer_order"] + b["pending_transshipment"] + b["fc_processing"]

    @property
    def researching(self) -> int:
        b = self.buckets
        return b["researching_short_term"] + b["researching_mid_term"] + b["researching_long_term"]

    @property
    def unfulfillable(self) -> int:
        b = self.buckets
        return sum(
            b[k]
            for k in (
                "customer_damaged",
                "warehouse_damaged",
                "distributor_damaged",
                "carrier_damaged",
                "defective",
                "expired",
            )
        )

    @property
    def total(self) -> int:
        b = self.buckets
        inbound = b["inbound_working"] + b["inbound_shipped"] + b["inbound_receiving"]
        return b["fulfillable"] + inbound + self.reserved + self.researching + self.unfulfillable


@dataclass
class OrderItem:
    order_item_id: str
    sku: str
    asin: str | None
    title: str | None
    quantity: int
    unit_price: Decimal
    shipped: int = 0
    cancel_requested: bool = False
    cancel_reason: str | None = None


@dataclass
class Package:
    package_reference_id: str
    carrier: str
    tracking_number: str
    shipping_method: str | None
    ship_time: datetime
    items: list[tuple[str, int]]


@dataclass
class Order:
    order_id: str
    seller_id: str
    marketplace_id: str
    fulfilled_by: str  # AMAZON | MERCHANT
    status: str  # FulfillmentStatus of the 2026-01-01 model
    created: datetime
    updated: datetime
    items: list[OrderItem]
    currency: str
    postal_code: str
    buyer_name: str
    buyer_email: str
    city: str
    packages: list[Package] = field(default_factory=list)
    cancel_reason: str | None = None

    @property
    def afn(self) -> bool:
        return self.fulfilled_by == "AMAZON"

    def item(self, order_item_id: str) -> OrderItem | None:
        return next((i for i in self.items if i.order_item_id == order_item_id), None)


@dataclass
class Document:
    document_id: str
    token: str  # the unguessable part of its URL
    kind: str  # feed_input | feed_result | report
    seller_id: str
    content_type: str
    created: datetime
    content: bytes | None = None
    gzip: bool = False


@dataclass
class Feed:
    feed_id: str
    seller_id: str
    feed_type: str
    marketplace_ids: list[str]
    input_document_id: str
    created: datetime
    status: str = "IN_QUEUE"
    started: datetime | None = None
    ended: datetime | None = None
    result_document_id: str | None = None
    options: dict | None = None
    fatal: bool = False


@dataclass
class Report:
    report_id: str
    seller_id: str
    report_type: str
    marketplace_ids: list[str]
    created: datetime
    data_start: datetime | None
    data_end: datetime | None
    options: dict | None = None
    status: str = "IN_QUEUE"
    started: datetime | None = None
    ended: datetime | None = None
    document_id: str | None = None


@dataclass
class ReturnRow:
    seller_id: str
    marketplace_id: str
    return_date: datetime
    order_id: str
    sku: str
    asin: str | None
    fn_sku: str
    product_name: str
    quantity: int
    fulfillment_center_id: str
    disposition: str
    reason: str
    status: str
    license_plate_number: str
    customer_comments: str


@dataclass
class MerchantReturn:
    """A buyer's return request on a merchant-fulfilled (MFN) order: a row of the
    GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE report. The unit comes back to the seller, who
    grades it; Amazon's inventory is not involved."""

    seller_id: str
    marketplace_id: str
    order_id: str
    order_date: datetime
    request_date: datetime
    status: str
    rma_id: str
    asin: str
    sku: str
    item_name: str
    quantity: int
    reason: str
    resolution: str


@dataclass(order=True)
class _Task:
    due: float
    seq: int
    name: str = field(compare=False)
    run: Callable[[], None] = field(compare=False)


class Scheduler:
    """Delayed work on the sandbox clock; `run_due` is called with the sandbox lock held."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._heap: list[_Task] = []
        self._seq = itertools.count()

    def at(self, delay: float, name: str, run: Callable[[], None]) -> None:
        heapq.heappush(
            self._heap, _Task(self._clock() + max(0.0, delay), next(self._seq), name, run)
        )

    def run_due(self) -> int:
        ran = 0
        while self._heap and self._heap[0].due <= self._clock():
            task = heapq.heappop(self._heap)
            task.run()
            ran += 1
        return ran

    def next_due(self) -> float | None:
        return self._heap[0].due if self._heap else None

    def pending(self) -> list[dict]:
        now = self._clock()
        return [{"name": t.name, "due_in": round(t.due - now, 3)} for t in sorted(self._heap)]

    def clear(self) -> None:
        self._heap = []


class AmazonSandbox:
    """The sandbox's state and every simulated action; the HTTP layer is a thin caller."""

    def __init__(self, config: SandboxConfig | None = None, **overrides: Any) -> None:
        config = override(config or SandboxConfig(), overrides)
        config.__post_init__()
        self.config = config
        self.lock = threading.RLock()
        self.spec = spec_module.spec()
        self.faults = FaultBook()
        self.request_log = RequestLog()
        self.rate_limiter = RateLimiter(
            config.clock, scale=config.rate_scale, enabled=config.rate_limits
        )
        self.notifications = Dispatcher(
            config.clock,
            application_id=config.application_id,
            aws_account_id=config.aws_account_id,
            aws_region=config.aws_region,
            seed=config.seed,
        )
        self.scheduler = Scheduler(config.clock)
        self.buyers: Any = None
        # Ids keep counting across resets: the app under test dedupes on them in a database
        # that outlives a sandbox reset.
        self._ids = itertools.count(1)
        self._ticker_stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._reset_state()
        auto_tick = config.auto_tick
        if auto_tick is None:
            auto_tick = not isinstance(config.clock, ManualClock)
        if auto_tick:
            self._ticker = threading.Thread(
                target=self._tick_loop, name="amazon-sandbox-tick", daemon=True
            )
            self._ticker.start()

    # lifecycle --------------------------------------------------------------------------------
    def _reset_state(self) -> None:
        self.rng = random.Random(self.config.seed)
        self.sellers: dict[str, Seller] = {}
        self.access_tokens: dict[str, tuple[str, float]] = {}
        self.listings: dict[tuple[str, str, str], Listing] = {}
        self.fba: dict[tuple[str, str, str], FbaStock] = {}
        self.orders: dict[str, Order] = {}
        self.documents: dict[str, Document] = {}
        self.documents_by_token: dict[str, Document] = {}
        self.feeds: dict[str, Feed] = {}
        self.reports: dict[str, Report] = {}
        self.returns: list[ReturnRow] = []
        self.merchant_returns: list[MerchantReturn] = []
        self.submissions: list[dict] = []
        self.page_tokens: dict[str, dict] = {}
        self.channel_switches: list[dict] = []
        self.scheduler.clear()
        self.add_seller(self.config.default_seller_id, name="Sandbox seller")

    def reset(self) -> None:
        """Forget all state, faults, logs, subscriptions and buckets; keep the configuration."""
        self.stop_buyers()
        with self.lock:
            self._reset_state()
            self.faults.clear()
            self.request_log.clear()
            self.rate_limiter.reset()
            self.rate_limiter.configure(
                scale=self.config.rate_scale, enabled=self.config.rate_limits
            )
            self.notifications.clear(seed=self.config.seed)

    def close(self) -> None:
        self.stop_buyers()
        self._ticker_stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
        self.notifications.stop()

    def _tick_loop(self) -> None:
        while not self._ticker_stop.wait(0.05):
            self.tick()

    # time -------------------------------------------------------------------------------------
    def now(self) -> datetime:
        # Whole seconds, like Amazon's timestamps: two changes within one second share a time.
        return wall_time(self.config.clock).replace(microsecond=0)

    def tick(self) -> int:
        """Run the delayed work that is due on the sandbox clock."""
        with self.lock:
            return self.scheduler.run_due()

    def advance(self, seconds: float) -> int:
        """Move a ManualClock forward and run what became due (feeds, patches, AFN shipments)."""
        clock = self.config.clock
        if not isinstance(clock, ManualClock):
            raise SandboxError("the sandbox runs on the real clock; start it with a ManualClock")
        ran = 0
        # Step through due times so that work scheduled by work (IN_PROGRESS -> DONE) runs too.
        target = clock() + seconds
        with self.lock:
            while True:
                upcoming = self.scheduler.next_due()
                if upcoming is not None and upcoming > target:
                    upcoming = None
                step_to = upcoming if upcoming is not None else target
                if step_to > clock():
                    clock.advance(step_to - clock())
                ran += self.scheduler.run_due()
                if upcoming is None:
                    break
        return ran

    # ids --------------------------------------------------------------------------------------
    def _number(self) -> int:
        return next(self._ids)

    def _order_id(self) -> str:
        n = self._number()
        return f"{111 + n % 800:03d}-{self.rng.randrange(10**7):07d}-{(n * 7919) % 10**7:07d}"

    def _order_item_id(self) -> str:
        # Unique across resets (the counter) but realistic-looking: 14 digits.
        return f"{self.rng.randrange(10**4, 10**5)}{self._number():09d}"

    def _asin(self, sku: str) -> str:
        return "B0" + uuid.uuid5(uuid.NAMESPACE_URL, f"asin:{sku}").hex[:8].upper()

    def _fn_sku(self, sku: str) -> str:
        return "X00" + uuid.uuid5(uuid.NAMESPACE_URL, f"fnsku:{sku}").hex[:7].upper()

    # sellers and LWA --------------------------------------------------------------------------
    def add_seller(
        self,
        seller_id: str | None = None,
        *,
        marketplace_ids: Iterable[str] | None = None,
        refresh_token: str | None = None,
        name: str | None = None,
    ) -> dict:
        """A selling partner who authorised the app: its refresh token gets it access tokens."""
        with self.lock:
            seller_id = seller_id or f"A{uuid.uuid4().hex[:12].upper()}"
            markets = list(marketplace_ids or [self.config.default_marketplace_id])
            for marketplace_id in markets:
                self._marketplace(marketplace_id)
            seller = Seller(
                seller_id=seller_id,
                refresh_token=refresh_token or f"Atzr|sandbox-refresh-{seller_id}",
                marketplace_ids=markets,
                name=name or seller_id,
            )
            self.sellers[seller_id] = seller
            return seller.as_json()

    def seller(self, seller_id: str | None = None) -> Seller:
        seller_id = seller_id or self.config.default_seller_id
        seller = self.sellers.get(seller_id)
        if seller is None:
            raise NotFound(f"no seller {seller_id!r}")
        return seller

    def _marketplace(self, marketplace_id: str) -> tuple[str, str, str, str, str]:
        info = MARKETPLACES.get(marketplace_id)
        if info is None:
            raise SandboxError(f"unknown marketplace {marketplace_id!r}")
        return info

    def issue_access_token(
        self, *, client_id: str, client_secret: str, refresh_token: str
    ) -> tuple[int, dict]:
        """LWA `grant_type=refresh_token`: (status, body) as api.amazon.com answers."""
        with self.lock:
            if client_id != self.config.client_id or client_secret != self.config.client_secret:
                return 401, {
                    "error": "invalid_client",
                    "error_description": "Client authentication failed",
                }
            seller = next(
                (s for s in self.sellers.values() if s.refresh_token == refresh_token), None
            )
            if seller is None:
                return 400, {
                    "error": "invalid_grant",
                    "error_description": "The request has an invalid grant parameter : refresh_token",
                }
            token = f"Atza|sandbox-{uuid.uuid4().hex}"
            self.access_tokens[token] = (
                seller.seller_id,
                self.config.clock() + self.config.access_token_ttl,
            )
            return 200, {
                "access_token": token,
                "refresh_token": seller.refresh_token,
                "token_type": "bearer",
                "expires_in": int(self.config.access_token_ttl),
            }

    def seller_for_token(self, token: str | None) -> str | None:
        if not token:
            return None
        with self.lock:
            entry = self.access_tokens.get(token)
            if entry is None or entry[1] <= self.config.clock():
                return None
            return entry[0] if entry[0] in self.sellers else None

    def revoke_tokens(self, seller_id: str | None = None) -> int:
        """Invalidate access tokens (all, or one seller's): the next call answers 403."""
        with self.lock:
            doomed = [t for t, (s, _) in self.access_tokens.items() if seller_id in (None, s)]
            for token in doomed:
                del self.access_tokens[token]
            return len(doomed)

    # listings ---------------------------------------------------------------------------------
    def add_listing(
        self,
        sku: str,
        *,
        seller_id: str | None = None,
        marketplace_id: str | None = None,
        channel: str = MFN_CHANNEL,
        quantity: int | None = None,
        asin: str | None = None,
        product_type: str = "PRODUCT",
        title: str | None = None,
        price: str | Decimal | None = None,
        fba: dict[str, int] | None = None,
        lead_time_to_ship_max_days: int | None = None,
    ) -> dict:
        """A complete, buyable listing. `channel` is "DEFAULT" (MFN, `quantity` merchant units)
        or an AFN code ("AMAZON_NA", "AMAZON_EU", ...; "AFN" picks the marketplace's code), whose
        stock is FBA buckets (`fba={"fulfillable": 20, ...}`)."""
        with self.lock:
            seller = self.seller(seller_id)
            marketplace_id = marketplace_id or seller.marketplace_ids[0]
            info = self._marketplace(marketplace_id)
            if channel.upper() in ("AFN", "FBA", "AMAZON"):
                channel = info[4]
            channel = channel.upper()
            now = self.now()
            listing = Listing(
                seller_id=seller.seller_id,
                sku=sku,
                marketplace_id=marketplace_id,
                asin=asin or self._asin(sku),
                product_type=product_type,
                item_name=title or f"Sandbox item {sku}",
                fulfillment_channel_code=channel,
                quantity=None if is_afn(channel) else int(quantity or 0),
                price=Decimal(str(price or self.config.currency_default_price)),
                created=now,
                updated=now,
                fn_sku=self._fn_sku(sku) if is_afn(channel) else None,
                lead_time_to_ship_max_days=lead_time_to_ship_max_days,
            )
            self.listings[listing.key] = listing
            if listing.afn or fba:
                stock = self._fba_stock(listing)
                for bucket, value in (fba or {}).items():
                    self._check_bucket(bucket)
                    stock.buckets[bucket] = int(value)
                if not fba and quantity:
                    stock.buckets["fulfillable"] = int(quantity)
            return self.listing_json(listing)

    def find_listing(
        self, sku: str, *, seller_id: str | None = None, marketplace_id: str | None = None
    ) -> Listing:
        seller = self.seller(seller_id)
        if marketplace_id is None:
            for key, listing in self.listings.items():
                if key[0] == seller.seller_id and key[1] == sku:
                    return listing
            raise NotFound(f"no listing {sku!r} for seller {seller.seller_id}")
        listing = self.listings.get((seller.seller_id, sku, marketplace_id))
        if listing is None:
            raise NotFound(f"no listing {sku!r} in {marketplace_id} for seller {seller.seller_id}")
        return listing

    def listing(self, sku: str, **where: Any) -> dict:
        with self.lock:
            return self.listing_json(self.find_listing(sku, **where))

    def listing_json(self, listing: Listing) -> dict:
        stock = self.fba.get(listing.key)
        return {
            "seller_id": listing.seller_id,
            "sku": listing.sku,
            "marketplace_id": listing.marketplace_id,
            "asin": listing.asin,
            "fn_sku": listing.fn_sku,
            "product_type": listing.product_type,
            "item_name": listing.item_name,
            "fulfillment_channel_code": listing.fulfillment_channel_code,
            "afn": listing.afn,
            "quantity": listing.quantity,
            "buyable": self.buyable_quantity(listing),
            "price": str(listing.price) if listing.price is not None else None,
            "lead_time_to_ship_max_days": listing.lead_time_to_ship_max_days,
            "converted_from": listing.converted_from,
            "incomplete": listing.incomplete,
            "fba": dict(stock.buckets) if stock else None,
            "updated": iso(listing.updated),
        }

    def listings_json(self, seller_id: str | None = None) -> list[dict]:
        with self.lock:
            return [
                self.listing_json(listing)
                for listing in self.listings.values()
                if seller_id in (None, listing.seller_id)
            ]

    def buyable_quantity(self, listing: Listing) -> int:
        if listing.incomplete or listing.asin is None:
            return 0
        if listing.afn:
            stock = self.fba.get(listing.key)
            return stock["fulfillable"] if stock else 0
        return listing.quantity or 0

    def set_mfn_quantity(
        self,
        sku: str,
        quantity: int,
        *,
        seller_id: str | None = None,
        marketplace_id: str | None = None,
    ) -> dict:
        """A seller editing the quantity in Seller Central (not through the API): drift."""
        with self.lock:
            listing = self.find_listing(sku, seller_id=seller_id, marketplace_id=marketplace_id)
            if listing.afn:
                raise SandboxError(f"{sku!r} is fulfilled by Amazon; use set_fba")
            self._set_listing_quantity(listing, int(quantity))
            return self.listing_json(listing)

    def _set_listing_quantity(self, listing: Listing, quantity: int) -> None:
        before = listing.quantity
        listing.quantity = quantity
        listing.updated = self.now()
        if before != quantity:
            self._publish(
                "LISTINGS_ITEM_MFN_QUANTITY_CHANGE",
                {
                    "SellerId": listing.seller_id,
                    "FulfillmentChannelCode": MFN_CHANNEL,
                    "Sku": listing.sku,
                    "Quantity": quantity,
                },
            )

    # listings: submissions (patchListingsItem and JSON_LISTINGS_FEED messages) ----------------
    def plan_patches(
        self, seller_id: str, sku: str, marketplace_ids: list[str], patches: list[dict]
    ) -> tuple[list[dict], list[Callable[[], None]]]:
        """Check a list of JSON Patch operations against the listing. Returns Amazon-style issues
        (any ERROR makes the submission INVALID) and the changes to apply once accepted."""
        issues: list[dict] = []
        changes: list[Callable[[], None]] = []
        for marketplace_id in marketplace_ids:
            listing = self.listings.get((seller_id, sku, marketplace_id))
            for index, patch in enumerate(patches):
                path = patch.get("path", "")
                name = path.removeprefix("/attributes/")
                if not path.startswith("/attributes/") or "/" in name or not name:
                    issues.append(
                        payloads.issue(
                            "4000001",
                            f"The patch path '{path}' at index {index} is invalid: only "
                            "top-level attributes can be patched.",
                            [name or path],
                            "INVALID_ATTRIBUTE",
                        )
                    )
                    continue
                if name == "fulfillment_availability":
                    self._plan_availability(
                        seller_id, sku, marketplace_id, listing, patch, issues, changes
                    )
                else:
                    changes.append(
                        _generic_change(self, seller_id, sku, marketplace_id, name, patch)
                    )
        return issues, changes

    def _plan_availability(self, seller_id, sku, marketplace_id, listing, patch, issues, changes):
        op = patch.get("op")
        values = patch.get("value") or []
        if op == "delete":
            # Deleting the attribute takes the merchant offer off sale; FBA stock is Amazon's.
            if listing is None or not listing.afn:
                changes.append(
                    _availability_change(self, seller_id, sku, marketplace_id, "replace", 0, None)
                )
            return
        if not values:
            issues.append(
                payloads.issue(
                    "99022",
                    "The field 'fulfillment_channel_code' for the attribute "
                    "'fulfillment_availability' does not have enough values. The required "
                    "minimum is '1' value(s).",
                    ["fulfillment_availability"],
                    "MISSING_ATTRIBUTE",
                )
            )
            return
        for value in values:
            code = value.get("fulfillment_channel_code")
            if not isinstance(code, str) or not code:
                issues.append(
                    payloads.issue(
                        "99022",
                        "The field 'fulfillment_channel_code' for the attribute "
                        "'fulfillment_availability' does not have enough values. The required "
                        "minimum is '1' value(s).",
                        ["fulfillment_availability"],
                        "MISSING_ATTRIBUTE",
                    )
                )
                continue
            quantity = value.get("quantity")
            if quantity is not None and (
                not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0
            ):
                issues.append(
                    payloads.issue(
                        "4000001",
                        "The provided value for 'Quantity' is invalid.",
                        ["fulfillment_availability"],
                        "INVALID_ATTRIBUTE",
                    )
                )
                continue
            lead = value.get("lead_time_to_ship_max_days")
            if is_afn(code):
                if quantity is not None:
                    # Amazon owns FBA quantity (seen as INVALID 4000003 in the wild).
                    issues.append(
                        payloads.issue(
                            "4000003",
                            f"Quantity cannot be provided for the Amazon fulfillment channel "
                            f"'{code}'. Amazon manages the quantity of Amazon-fulfilled offers.",
                            ["fulfillment_availability"],
                            "INVALID_ATTRIBUTE",
                        )
                    )
                continue
            if quantity is None and op == "merge":
                continue  # a merge only touches the fields it names
            afn_listing = listing is not None and listing.afn
            if (
                afn_listing
                and quantity is not None
                and self.config.afn_merchant_quantity == "reject"
            ):
                # Sandbox option: Amazon itself accepts and converts (see _convert_to_mfn).
                issues.append(
                    payloads.issue(
                        "90000900",
                        f"The SKU '{sku}' is fulfilled by Amazon "
                        f"({listing.fulfillment_channel_code}); a merchant (DEFAULT) quantity "
                        "would switch it to merchant-fulfilled.",
                        ["fulfillment_availability"],
                        "INVALID_ATTRIBUTE",
                    )
                )
                continue
            changes.append(
                _availability_change(self, seller_id, sku, marketplace_id, op, quantity, lead)
            )

    def submit_patches(
        self,
        seller_id: str,
        sku: str,
        marketplace_ids: list[str],
        product_type: str,
        patches: list[dict],
        *,
        preview: bool = False,
        source: str = "patchListingsItem",
        delay: float | None = None,
    ) -> dict:
        """patchListingsItem: ACCEPTED (queued, applied after `patch_apply_delay`) or INVALID.
        A patch of an unknown SKU is ACCEPTED, as Amazon does: it creates an offer-only listing
        that is not buyable (selling-partner-api-docs#3748)."""
        issues, changes = self.plan_patches(seller_id, sku, marketplace_ids, patches)
        submission_id = uuid.uuid4().hex
        errors = [i for i in issues if i["severity"] == "ERROR"]
        if errors:
            status = "INVALID"
        elif preview:
            status = "VALID"
        else:
            status = "ACCEPTED"
        record = {
            "submission_id": submission_id,
            "source": source,
            "seller_id": seller_id,
            "sku": sku,
            "marketplace_ids": list(marketplace_ids),
            "product_type": product_type,
            "patches": patches,
            "status": status,
            "issues": issues,
            "applied": False,
            "lost": False,
            "accepted_at": iso(self.now()),
        }
        self.submissions.append(record)
        if status == "ACCEPTED":
            if self.faults.take_one("lost_patch", ("patchListingsItem", source, sku)):
                record["lost"] = True  # answers ACCEPTED, never applies
            elif self.faults.take_one("rejected_patch", ("patchListingsItem", source, sku)):
                record["lost"] = True

                def reject(record: dict = record) -> None:
                    # Found in processing: the listing carries the issue, the value is not set.
                    record["rejected_at"] = iso(self.now())
                    self._set_late_issues(
                        seller_id, sku, marketplace_ids, [LATE_AVAILABILITY_ISSUE]
                    )

                self.scheduler.at(
                    self.config.patch_apply_delay if delay is None else delay,
                    f"reject patch {sku}",
                    reject,
                )
            else:
                for marketplace_id in marketplace_ids:
                    if (seller_id, sku, marketplace_id) not in self.listings:
                        changes.insert(
                            0,
                            _create_incomplete(self, seller_id, sku, marketplace_id, product_type),
                        )

                def apply(record: dict = record, changes: list = changes) -> None:
                    for change in changes:
                        change()
                    # What an applied submission resolves.
                    self._set_late_issues(seller_id, sku, marketplace_ids, [])
                    record["applied"] = True
                    record["applied_at"] = iso(self.now())

                if delay is None:
                    delay = self.config.patch_apply_delay
                if delay <= 0:
                    apply()
                else:
                    self.scheduler.at(delay, f"patch {sku}", apply)
        return {"submission_id": submission_id, "status": status, "issues": issues}

    def _set_late_issues(
        self, seller_id: str, sku: str, marketplace_ids: list[str], issues: list[dict]
    ) -> None:
        for marketplace_id in marketplace_ids:
            listing = self.listings.get((seller_id, sku, marketplace_id))
            if listing is not None and listing.late_issues != issues:
                listing.late_issues = list(issues)
                listing.updated = self.now()

    def _convert_to_mfn(self, listing: Listing) -> None:
        # https://developer-docs.amazon.com/sp-api/changelog/clarification-on-how-to-use-the-inventory-feed-type-quantity-attribute
        # A merchant quantity on an FBA offer switches it to merchant-fulfilled; the units at
        # the fulfilment centre can no longer be sold (stranded inventory).
        self.channel_switches.append(
            {
                "seller_id": listing.seller_id,
                "sku": listing.sku,
                "marketplace_id": listing.marketplace_id,
                "from": listing.fulfillment_channel_code,
                "to": MFN_CHANNEL,
                "at": iso(self.now()),
            }
        )
        listing.converted_from = listing.fulfillment_channel_code
        listing.fulfillment_channel_code = MFN_CHANNEL
        listing.quantity = 0

    # FBA inventory ----------------------------------------------------------------------------
    def _check_bucket(self, bucket: str) -> None:
        if bucket not in FBA_BUCKETS:
            raise SandboxError(f"unknown FBA bucket {bucket!r}; known: {', '.join(FBA_BUCKETS)}")

    def _fba_stock(self, listing: Listing) -> FbaStock:
        stock = self.fba.get(listing.key)
        if stock is None:
            stock = FbaStock(
                seller_id=listing.seller_id,
                sku=listing.sku,
                marketplace_id=listing.marketplace_id,
                asin=listing.asin,
                fn_sku=listing.fn_sku or self._fn_sku(listing.sku),
                product_name=listing.item_name or listing.sku,
                updated=self.now(),
            )
            listing.fn_sku = stock.fn_sku
            self.fba[listing.key] = stock
        return stock

    def set_fba(
        self,
        sku: str,
        *,
        seller_id: str | None = None,
        marketplace_id: str | None = None,
        **buckets: int,
    ) -> dict:
        """Set FBA buckets (absolute): fulfillable, inbound_working/shipped/receiving,
        pending_customer_order, fc_processing, researching_*_term, customer_damaged, ..."""
        with self.lock:
            listing = self.find_listing(sku, seller_id=seller_id, marketplace_id=marketplace_id)
            stock = self._fba_stock(listing)
            before = dict(stock.buckets)
            for bucket, value in buckets.items():
                self._check_bucket(bucket)
                if int(value) < 0:
                    raise SandboxError(f"{bucket} cannot be negative")
                stock.buckets[bucket] = int(value)
            changed = {b for b in FBA_BUCKETS if before[b] != stock.buckets[b]}
            self._fba_changed(stock, detected=bool(changed - set(INBOUND_STAGES[:3])))
            return dict(stock.buckets)

    def move_inbound(
        self,
        sku: str,
        quantity: int,
        *,
        to: str = "fulfillable",
        source: str | None = None,
        seller_id: str | None = None,
        marketplace_id: str | None = None,
    ) -> dict:
        """Move units along working -> shipped -> receiving -> fulfillable (the FC receiving a
        shipment). `source` defaults to the stage before `to`."""
        with self.lock:
            if to not in INBOUND_STAGES[1:]:
                raise SandboxError(f"'to' must be one of {INBOUND_STAGES[1:]}")
            source = source or INBOUND_STAGES[INBOUND_STAGES.index(to) - 1]
            if source not in INBOUND_STAGES[:-1]:
                raise SandboxError(f"'source' must be one of {INBOUND_STAGES[:-1]}")
            listing = self.find_listing(sku, seller_id=seller_id, marketplace_id=marketplace_id)
            stock = self._fba_stock(listing)
            if stock[source] < quantity:
                raise SandboxError(f"only {stock[source]} units in {source}")
            stock.buckets[source] -= quantity
            stock.buckets[to] += quantity
            self._fba_changed(stock, detected=to == "fulfillable")
            return dict(stock.buckets)

    def _fba_changed(self, stock: FbaStock, *, detected: bool = True) -> None:
        # getInventorySummaries' startDateTime "does not detect" inbound quantity changes, so
        # those leave lastUpdatedTime alone; the notification still goes out.
        if detected:
            stock.updated = self.now()
        b = stock.buckets
        listing = self.listings.get((stock.seller_id, stock.sku, stock.marketplace_id))
        self._publish(
            "FBA_INVENTORY_AVAILABILITY_CHANGES",
            {
                "SellerId": stock.seller_id,
                "FNSKU": stock.fn_sku,
                "ASIN": stock.asin or "",
                "SKU": stock.sku,
                "FulfillmentInventoryByMarketplace": [
                    {
                        "MarketplaceId": stock.marketplace_id,
                        "ItemName": (listing.item_name if listing else None) or stock.product_name,
                        "FulfillmentInventory": {
                            "InboundQuantityBreakdown": {
                                "Working": b["inbound_working"],
                                "Shipped": b["inbound_shipped"],
                                "Receiving": b["inbound_receiving"],
                            },
                            "Fulfillable": b["fulfillable"],
                            "Unfulfillable": stock.unfulfillable,
                            "Researching": stock.researching,
                            "ReservedQuantityBreakdown": {
                                "WarehouseProcessing": b["fc_processing"],
                                "WarehouseTransfer": b["pending_transshipment"],
                                "PendingCustomerOrder": b["pending_customer_order"],
                            },
                            "FutureSupplyBuyable": b["future_supply_buyable"],
                            "PendingCustomerOrderInTransit": 0,
                        },
                        "Stores": [],
                    }
                ],
            },
        )

    def fba_json(self, seller_id: str | None = None) -> list[dict]:
        with self.lock:
            return [
                {
                    "seller_id": s.seller_id,
                    "sku": s.sku,
                    "marketplace_id": s.marketplace_id,
                    "fn_sku": s.fn_sku,
                    "total": s.total,
                    **s.buckets,
                }
                for s in self.fba.values()
                if seller_id in (None, s.seller_id)
            ]

    # orders -----------------------------------------------------------------------------------
    def place_order(
        self,
        sku: str | None = None,
        quantity: int = 1,
        *,
        lines: list[tuple[str, int]] | None = None,
        seller_id: str | None = None,
        marketplace_id: str | None = None,
        pending_seconds: float | None = None,
    ) -> dict:
        """A buyer checks out. MFN lines take the listing's merchant quantity, AFN lines take FBA
        fulfillable units (reserved as pending customer orders until the order ships). All lines
        must share one fulfillment channel, as Amazon splits mixed carts into separate orders.
        Raises OutOfStock (nothing changes) when any line is not buyable for its quantity."""
        if lines is None:
            if sku is None:
                raise SandboxError("give a sku or lines")
            lines = [(sku, quantity)]
        with self.lock:
            seller = self.seller(seller_id)
            marketplace_id = marketplace_id or seller.marketplace_ids[0]
            info = self._marketplace(marketplace_id)
            resolved: list[tuple[Listing, int]] = []
            for line_sku, line_quantity in lines:
                if int(line_quantity) < 1:
                    raise SandboxError("quantities must be positive")
                listing = self.listings.get((seller.seller_id, line_sku, marketplace_id))
                if listing is None:
                    raise NotFound(f"no listing {line_sku!r} in {marketplace_id}")
                if self.buyable_quantity(listing) < int(line_quantity):
                    raise OutOfStock(
                        f"{line_sku!r} has {self.buyable_quantity(listing)} buyable unit(s)",
                        sku=line_sku,
                    )
                resolved.append((listing, int(line_quantity)))
            if len({listing.afn for listing, _ in resolved}) > 1:
                raise SandboxError("an order is either all AFN or all MFN; place two orders")
            afn = resolved[0][0].afn
            now = self.now()
            order = Order(
                order_id=self._order_id(),
                seller_id=seller.seller_id,
                marketplace_id=marketplace_id,
                fulfilled_by="AMAZON" if afn else "MERCHANT",
                status="PENDING",
                created=now,
                updated=now,
                items=[
                    OrderItem(
                        order_item_id=self._order_item_id(),
                        sku=listing.sku,
                        asin=listing.asin,
                        title=listing.item_name,
                        quantity=line_quantity,
                        unit_price=listing.price or Decimal(self.config.currency_default_price),
                    )
                    for listing, line_quantity in resolved
                ],
                currency=info[3],
                postal_code=f"{self.rng.randrange(10000, 99999)}",
                buyer_name=f"Buyer {self._number()}",
                buyer_email=f"buyer-{uuid.uuid4().hex[:10]}@marketplace.amazon.com",
                city="Seattle",
            )
            self.orders[order.order_id] = order
            for listing, line_quantity in resolved:
                if afn:
                    stock = self._fba_stock(listing)
                    stock.buckets["fulfillable"] -= line_quantity
                    stock.buckets["pending_customer_order"] += line_quantity
                    self._fba_changed(stock)
                else:
                    self._set_listing_quantity(listing, (listing.quantity or 0) - line_quantity)
            self._order_changed(order, "OrderStatusChange", "NewOrder")
            delay = (
                self.config.order_pending_seconds if pending_seconds is None else pending_seconds
            )

            def release(order_id: str = order.order_id) -> None:
                self._release_pending(order_id)

            if delay <= 0:
                release()
            else:
                self.scheduler.at(delay, f"release {order.order_id}", release)
            return self.order_json(order)

    def _release_pending(self, order_id: str) -> None:
        order = self.orders[order_id]
        if order.status != "PENDING":
            return
        order.status = "UNSHIPPED"
        self._touch(order)
        self._order_changed(order, "OrderStatusChange", "PaymentAuthorized")
        if order.afn:

            def ship(order_id: str = order_id) -> None:
                self._ship_afn(order_id)

            self.scheduler.at(self.config.afn_ship_seconds, f"ship {order_id}", ship)

    def _ship_afn(self, order_id: str) -> None:
        order = self.orders[order_id]
        if order.status not in ("UNSHIPPED", "PARTIALLY_SHIPPED"):
            return
        for item in order.items:
            remaining = item.quantity - item.shipped
            listing = self.listings.get((order.seller_id, item.sku, order.marketplace_id))
            if listing is not None and remaining:
                stock = self._fba_stock(listing)
                stock.buckets["pending_customer_order"] = max(
                    0, stock.buckets["pending_customer_order"] - remaining
                )
                self._fba_changed(stock)
            item.shipped = item.quantity
        order.status = "SHIPPED"
        self._touch(order)
        self._order_changed(order, "OrderStatusChange", "OrderShipped")

    def ship_order(self, order_id: str) -> dict:
        """Amazon ships an AFN order now (instead of after `afn_ship_seconds`)."""
        with self.lock:
            order = self._order(order_id)
            if not order.afn:
                raise SandboxError("merchant orders ship through confirmShipment")
            if order.status == "PENDING":
                self._release_pending(order_id)
            self._ship_afn(order_id)
            return self.order_json(order)

    def release_order(self, order_id: str) -> dict:
        """End the Pending period now (payment authorised): the order becomes UNSHIPPED."""
        with self.lock:
            self._release_pending(self._order(order_id).order_id)
            return self.order_json(self._order(order_id))

    def cancel_order(
        self,
        order_id: str,
        *,
        reason: str = "Buyer canceled",
        request_only: bool = False,
        restock: bool = True,
    ) -> dict:
        """Cancel an unshipped order (buyer or Amazon), giving the units back: MFN quantity to
        the listing, AFN units from pending-customer-order to fulfillable.

        `request_only` models a buyer asking to cancel an MFN order that is no longer pending:
        the items carry the request (BuyerRequestedChange) and the seller has to act."""
        with self.lock:
            order = self._order(order_id)
            if order.status in ("SHIPPED", "CANCELLED"):
                raise SandboxError(f"order {order_id} is {order.status} and cannot be cancelled")
            if request_only:
                for item in order.items:
                    item.cancel_requested = True
                    item.cancel_reason = reason
                self._touch(order)
                self._order_changed(order, "BuyerRequestedChange", "Buyer Requested Cancel")
                return self.order_json(order)
            for item in order.items:
                remaining = item.quantity - item.shipped
                listing = self.listings.get((order.seller_id, item.sku, order.marketplace_id))
                if listing is None or not remaining:
                    continue
                if order.afn:
                    stock = self._fba_stock(listing)
                    stock.buckets["pending_customer_order"] -= remaining
                    if restock:
                        stock.buckets["fulfillable"] += remaining
                    self._fba_changed(stock)
                elif restock and not listing.afn:
                    self._set_listing_quantity(listing, (listing.quantity or 0) + remaining)
            order.status = "CANCELLED"
            order.cancel_reason = reason
            self._touch(order)
            self._order_changed(order, "OrderStatusChange", "OrderCanceled")
            return self.order_json(order)

    def confirm_shipment(
        self, seller_id: str, order_id: str, body: dict
    ) -> tuple[int, dict | None]:
        """v0 confirmShipment: 204 with no body, or an ErrorList status."""
        order = self.orders.get(order_id)
        if order is None or order.seller_id != seller_id:
            return 404, payloads.errors("NotFound", f"Order {order_id} was not found.")
        if body.get("marketplaceId") != order.marketplace_id:
            return 400, payloads.errors(
                "InvalidInput", "The marketplaceId does not match the order."
            )
        if order.afn:
            return 400, payloads.errors(
                "InvalidInput",
                "Shipment confirmation is not supported for Amazon-fulfilled orders.",
            )
        if order.status not in ("UNSHIPPED", "PARTIALLY_SHIPPED"):
            return 400, payloads.errors(
                "InvalidInput", f"The order is {order.status} and cannot be confirmed as shipped."
            )
        detail = body["packageDetail"]
        if detail["carrierCode"] == "Other" and not detail.get("carrierName"):
            return 400, payloads.errors(
                "InvalidInput", 'carrierName is required when carrierCode is "Other".'
            )
        reference = str(detail["packageReferenceId"])
        if not reference.isdigit() or int(reference) < 1:
            return 400, payloads.errors(
                "InvalidInput", "packageReferenceId must be a positive numeric string."
            )
        lines: list[tuple[OrderItem, int]] = []
        for line in detail["orderItems"]:
            item = order.item(line["orderItemId"])
            if item is None:
                return 400, payloads.errors(
                    "InvalidInput", f"Unknown orderItemId {line['orderItemId']}."
                )
            if line["quantity"] < 1 or item.shipped + line["quantity"] > item.quantity:
                return 400, payloads.errors(
                    "InvalidInput",
                    f"Quantity {line['quantity']} exceeds the unshipped quantity of "
                    f"{item.quantity - item.shipped} for orderItemId {item.order_item_id}.",
                )
            lines.append((item, line["quantity"]))
        if any(p.package_reference_id == detail["packageReferenceId"] for p in order.packages):
            return 400, payloads.errors("InvalidInput", "The packageReferenceId was already used.")
        for item, quantity in lines:
            item.shipped += quantity
        order.packages.append(
            Package(
                package_reference_id=detail["packageReferenceId"],
                carrier=detail.get("carrierName") or detail["carrierCode"],
                tracking_number=detail["trackingNumber"],
                shipping_method=detail.get("shippingMethod"),
                ship_time=self.now(),
                items=[(item.order_item_id, quantity) for item, quantity in lines],
            )
        )
        shipped_all = all(i.shipped == i.quantity for i in order.items)
        order.status = "SHIPPED" if shipped_all else "PARTIALLY_SHIPPED"
        self._touch(order)
        self._order_changed(order, "OrderStatusChange", "OrderShipped")
        return 204, None

    def _order(self, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise NotFound(f"no order {order_id!r}")
        return order

    def _touch(self, order: Order) -> None:
        order.updated = self.now()

    def _order_changed(self, order: Order, change_type: str, reason: str) -> None:
        payload = payloads.order_change_payload(order, change_type, reason, self.now())
        self._publish("ORDER_CHANGE", payload)

    def order_json(self, order: Order | str, included: Iterable[str] | None = None) -> dict:
        """An order in the Orders 2026-01-01 shape, with every dataset unless `included` says."""
        all_data = ("BUYER", "RECIPIENT", "PROCEEDS", "FULFILLMENT", "PACKAGES", "CANCELLATION")
        with self.lock:
            if isinstance(order, str):
                order = self._order(order)
            return payloads.order_2026(order, set(all_data if included is None else included))

    def orders_json(self, seller_id: str | None = None) -> list[dict]:
        with self.lock:
            return [
                self.order_json(o) for o in self.orders.values() if seller_id in (None, o.seller_id)
            ]

    # returns ----------------------------------------------------------------------------------
    def add_return(
        self,
        sku: str,
        quantity: int = 1,
        *,
        disposition: str = "SELLABLE",
        reason: str = "UNWANTED_ITEM",
        order_id: str | None = None,
        status: str | None = None,
        return_date: datetime | None = None,
        license_plate_number: str | None = None,
        fulfillment_center_id: str = "PHX7",
        customer_comments: str = "",
        seller_id: str | None = None,
        marketplace_id: str | None = None,
        apply_to_inventory: bool = True,
    ) -> dict:
        """A customer return processed by an FBA fulfilment centre: a row of the
        GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA report and, unless told otherwise, the unit
        landing in its FBA bucket (SELLABLE -> fulfillable, damaged/defective/expired ->
        unfulfillable, CARRIER_DAMAGED/DAMAGED -> Amazon's, reimbursed)."""
        if disposition not in RETURN_DISPOSITIONS:
            raise SandboxError(f"disposition must be one of {RETURN_DISPOSITIONS}")
        with self.lock:
            listing = self.find_listing(sku, seller_id=seller_id, marketplace_id=marketplace_id)
            stock = self._fba_stock(listing)
            row = ReturnRow(
                seller_id=listing.seller_id,
                marketplace_id=listing.marketplace_id,
                return_date=return_date or self.now(),
                order_id=order_id or self._order_id(),
                sku=sku,
                asin=listing.asin,
                fn_sku=stock.fn_sku,
                product_name=listing.item_name or sku,
                quantity=int(quantity),
                fulfillment_center_id=fulfillment_center_id,
                disposition=disposition,
                reason=reason,
                status=status
                or (
                    "Reimbursed"
                    if RETURN_BUCKET[disposition] is None
                    else "Unit returned to inventory"
                ),
                license_plate_number=license_plate_number
                or f"LPNRR{self.rng.randrange(10**9):09d}",
                customer_comments=customer_comments,
            )
            self.returns.append(row)
            bucket = RETURN_BUCKET[disposition]
            if apply_to_inventory and bucket is not None:
                stock.buckets[bucket] += row.quantity
                self._fba_changed(stock)
            return _return_json(row)

    def add_merchant_return(
        self,
        order_id: str,
        sku: str,
        quantity: int = 1,
        *,
        reason: str = "NO_REASON_GIVEN",
        status: str = "Approved",
        resolution: str = "StandardRefund",
        request_date: datetime | None = None,
    ) -> dict:
        """A buyer asks to return units of a merchant-fulfilled order (the seller receives and
        grades them)."""
        with self.lock:
            order = self.orders.get(order_id)
            if order is None:
                raise NotFound(f"no order {order_id!r}")
            listing = self.find_listing(sku, seller_id=order.seller_id)
            entry = MerchantReturn(
                seller_id=order.seller_id,
                marketplace_id=order.marketplace_id,
                order_id=order_id,
                order_date=order.created,
                request_date=request_date or self.now(),
                status=status,
                rma_id=f"D{self._number():09d}",
                asin=listing.asin,
                sku=sku,
                item_name=listing.item_name,
                quantity=int(quantity),
                reason=reason,
                resolution=resolution,
            )
            self.merchant_returns.append(entry)
            return {"rma_id": entry.rma_id, "order_id": order_id, "sku": sku}

    def returns_json(self) -> list[dict]:
        with self.lock:
            return [_return_json(r) for r in self.returns]

    # documents --------------------------------------------------------------------------------
    def new_document(
        self, seller_id: str, kind: str, content_type: str, content: bytes | None = None
    ) -> Document:
        prefix = "amzn1.tortuga.4.na" if kind != "report" else "amzn1.spdoc.1.4.na"
        document = Document(
            document_id=f"{prefix}.{uuid.uuid4()}.T{uuid.uuid4().hex[:12].upper()}",
            token=uuid.uuid4().hex,
            kind=kind,
            seller_id=seller_id,
            content_type=content_type,
            created=self.now(),
            content=content,
            gzip=self.config.gzip_documents and kind != "feed_input",
        )
        self.documents[document.document_id] = document
        self.documents_by_token[document.token] = document
        return document

    # feeds and reports ------------------------------------------------------------------------
    def create_feed(self, seller_id: str, body: dict) -> tuple[int, dict]:
        return feeds.create_feed(self, seller_id, body)

    def create_report(self, seller_id: str, body: dict) -> tuple[int, dict]:
        return reports.create_report(self, seller_id, body)

    # notifications ----------------------------------------------------------------------------
    def subscribe_notifications(self, url: str, **options: Any) -> dict:
        """Deliver notifications to `url` the way an EventBridge API destination would.
        Options: envelope ("eventbridge" | "raw"), api_key_header, api_key,
        notification_types, delay_s, late_rate, late_delay_s, duplicate_rate, reorder_rate,
        drop_rate, max_retries, retry_base_s, timeout_s, seed, replace (default True)."""
        seed = options.pop("seed", None)
        replace = options.pop("replace", True)
        types = options.pop("notification_types", None)
        for key in ("delay_s", "late_delay_s"):
            if key in options:
                options[key] = tuple(options[key])
        destination = Destination(
            url=url,
            notification_types=frozenset(types) if types is not None else None,
            **options,
        )
        self.notifications.subscribe(destination, replace=replace, seed=seed)
        return destination.as_json()

    def _publish(self, notification_type: str, payload: dict) -> None:
        drop = self.faults.take_one("drop_notification", (notification_type,)) is not None
        self.notifications.publish(
            notification_type, payload, moment=wall_time(self.config.clock), drop=drop
        )

    def flush(self, timeout: float = 10.0, *, everything: bool = False) -> dict:
        """Run due work, then deliver every notification due now and wait (see Dispatcher)."""
        self.tick()
        return self.notifications.flush(timeout, everything=everything)

    # buyers -----------------------------------------------------------------------------------
    def start_buyers(self, rate_per_second: float, **options: Any) -> dict:
        """Simulated buyers placing orders in a thread (see buyers.BuyerLoop for options)."""
        from .buyers import BuyerLoop  # buyers imports this module

        self.stop_buyers()
        with self.lock:
            seed = options.pop("seed", None)
            loop = BuyerLoop(
                self,
                rate_per_second=rate_per_second,
                rng=random.Random(self.config.seed if seed is None else seed),
                **options,
            )
            self.buyers = loop
        loop.start()
        return loop.as_json()

    def stop_buyers(self) -> dict | None:
        loop = self.buyers
        if loop is None:
            return None
        loop.stop()
        self.buyers = None
        return loop.as_json()

    # faults (Python conveniences over the fault book) -----------------------------------------
    def add_fault(self, kind: str, count: int = 1, **options: Any) -> dict:
        return self.faults.add(kind, count, **options).as_json()

    def throttle(self, operation: str | None = None, count: int = 1) -> dict:
        """The next `count` calls of `operation` answer 429 QuotaExceeded (a 429 storm)."""
        return self.add_fault("throttle", count, match=operation)

    def fail(self, operation: str | None = None, status: int = 500, count: int = 1) -> dict:
        kind = {500: "http_500", 503: "http_503", 504: "http_504"}.get(status)
        if kind is None:
            raise SandboxError("status must be 500, 503 or 504")
        return self.add_fault(kind, count, match=operation)

    def slow(
        self, operation: str | None = None, seconds: float = 5.0, count: int = 1, apply: bool = True
    ) -> dict:
        return self.add_fault("slow", count, match=operation, seconds=seconds, apply=apply)

    def reject_patches(self, count: int = 1, sku: str | None = None) -> dict:
        """The next accepted quantity submission(s) answer ACCEPTED, are not applied, and leave
        an ERROR issue on the listing (what getListingsItem/searchListingsItems `issues` and
        LISTINGS_ITEM_ISSUES_CHANGE then show)."""
        return self.add_fault("rejected_patch", count, match=sku)

    def lose_patches(self, count: int = 1, sku: str | None = None) -> dict:
        """The next accepted quantity submission(s) answer ACCEPTED but never apply."""
        return self.add_fault("lost_patch", count, match=sku)

    def fail_feeds(self, count: int = 1) -> dict:
        """The next createFeed(s) are accepted and then end FATAL."""
        return self.add_fault("feed_fatal", count)

    def drop_notifications(self, count: int = 1, notification_type: str | None = None) -> dict:
        return self.add_fault("drop_notification", count, match=notification_type)

    def clear_faults(self) -> None:
        self.faults.clear()

    # rate limits ------------------------------------------------------------------------------
    def set_rate_limits(
        self,
        *,
        enabled: bool | None = None,
        scale: float | None = None,
        operation: str | None = None,
        rate: float | None = None,
        burst: int | None = None,
    ) -> None:
        key = self.spec.find(operation).key if operation else None
        if enabled is not None:
            self.config.rate_limits = bool(enabled)
        if scale is not None:
            self.config.rate_scale = float(scale)
        self.rate_limiter.configure(
            scale=scale, enabled=enabled, operation=key, rate=rate, burst=burst
        )

    # request log ------------------------------------------------------------------------------
    def requests(self, operation: str | None = None) -> list[dict]:
        return self.request_log.entries(operation=operation)

    def invalid_requests(self) -> list[dict]:
        return self.request_log.invalid()


# helpers ---------------------------------------------------------------------------------------
def _availability_change(
    sandbox: AmazonSandbox,
    seller_id: str,
    sku: str,
    marketplace_id: str,
    op: str,
    quantity: int | None,
    lead: int | None,
) -> Callable[[], None]:
    def apply() -> None:
        listing = sandbox.listings.get((seller_id, sku, marketplace_id))
        if listing is None:
            return
        if listing.afn and quantity is not None:
            sandbox._convert_to_mfn(listing)
        if op == "replace":
            # replace swaps the whole value: fields not sent are dropped.
            listing.lead_time_to_ship_max_days = lead
            listing.restock_date = None
        elif lead is not None:
            listing.lead_time_to_ship_max_days = lead
        if quantity is not None:
            sandbox._set_listing_quantity(listing, quantity)
        listing.updated = sandbox.now()

    return apply


def _generic_change(
    sandbox: AmazonSandbox, seller_id: str, sku: str, marketplace_id: str, name: str, patch: dict
) -> Callable[[], None]:
    def apply() -> None:
        listing = sandbox.listings.get((seller_id, sku, marketplace_id))
        if listing is None:
            return
        if patch.get("op") == "delete":
            listing.attributes.pop(name, None)
        else:
            listing.attributes[name] = list(patch.get("value") or [])
            if name == "item_name" and patch.get("value"):
                listing.item_name = str(patch["value"][0].get("value", listing.item_name))
        listing.updated = sandbox.now()

    return apply


def _create_incomplete(
    sandbox: AmazonSandbox, seller_id: str, sku: str, marketplace_id: str, product_type: str
) -> Callable[[], None]:
    def apply() -> None:
        if (seller_id, sku, marketplace_id) in sandbox.listings:
            return
        now = sandbox.now()
        listing = Listing(
            seller_id=seller_id,
            sku=sku,
            marketplace_id=marketplace_id,
            asin=None,
            product_type=product_type,
            item_name=None,
            fulfillment_channel_code=MFN_CHANNEL,
            quantity=None,
            price=None,
            created=now,
            updated=now,
            incomplete=True,
        )
        sandbox.listings[listing.key] = listing

    return apply


def _return_json(row: ReturnRow) -> dict:
    return {
        "return-date": iso(row.return_date).replace("Z", "+00:00"),
        "order-id": row.order_id,
        "sku": row.sku,
        "asin": row.asin or "",
        "fnsku": row.fn_sku,
        "product-name": row.product_name,
        "quantity": row.quantity,
        "fulfillment-center-id": row.fulfillment_center_id,
        "detailed-disposition": row.disposition,
        "reason": row.reason,
        "status": row.status,
        "license-plate-number": row.license_plate_number,
        "customer-comments": row.customer_comments,
        "seller_id": row.seller_id,
        "marketplace_id": row.marketplace_id,
    }


__all__ = [
    "MARKETPLACES",
    "AmazonSandbox",
    "NotFound",
    "OutOfStock",
    "SandboxConfig",
    "SandboxError",
]
