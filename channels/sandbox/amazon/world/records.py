"""The records of a selling partner account: sellers, listings, FBA stock, orders, documents,
feeds, reports and returns, with the names Amazon gives their states and buckets."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

MFN_CHANNEL = "DEFAULT"
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
    # The recipient's state and phone, the order's programs (PRIME...) and the shipping
    # speed the buyer picked (fulfillmentServiceLevel).
    state_or_region: str = ""
    phone: str | None = None
    programs: list[str] = field(default_factory=list)
    service_level: str = "STANDARD"
    cancel_reason: str | None = None
    # Who executed the cancel when the order says so (MERCHANT: the seller's acknowledgement
    # feed); None for the control API's buyer and Amazon cancels, as before.
    cancelled_by: str | None = None

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
    """One item of a buyer's return request on a merchant-fulfilled (MFN) order: a row of the
    GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE report. A request (one Amazon RMA ID) has a row
    per item. The unit comes back to the seller on Amazon's prepaid label, and the seller grades
    it; Amazon's inventory is not involved."""

    seller_id: str
    marketplace_id: str
    order_id: str
    order_item_id: str
    order_date: datetime
    request_date: datetime
    status: str
    rma_id: str
    asin: str | None
    sku: str
    item_name: str | None
    quantity: int
    reason: str
    resolution: str
    order_quantity: int
    order_amount: Decimal
    currency: str
    label_cost: Decimal
    carrier: str
    tracking_id: str
