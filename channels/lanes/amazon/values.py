"""What the Amazon client returns: plain frozen values, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from channels.lanes.calls import CallRecord

MFN_CHANNEL = "DEFAULT"  # fulfillment_channel_code of merchant-fulfilled stock
FEED_STATUSES_FINISHED = frozenset({"DONE", "CANCELLED", "FATAL"})


@dataclass(frozen=True, slots=True)
class ListingSubmission:
    """patchListingsItem's answer. ACCEPTED means queued, not applied (invariant I6)."""

    sku: str
    status: str  # ACCEPTED | INVALID (VALID only in VALIDATION_PREVIEW mode)
    submission_id: str
    issues: list[dict[str, Any]]
    call: CallRecord | None = field(default=None, compare=False)

    @property
    def accepted(self) -> bool:
        return self.status == "ACCEPTED"

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [i for i in self.issues if i.get("severity") == "ERROR"]


@dataclass(frozen=True, slots=True)
class Document:
    """A feed or report document: a presigned URL, maybe GZIP-compressed."""

    document_id: str
    url: str
    compression_algorithm: str | None = None


@dataclass(frozen=True, slots=True)
class FeedStatus:
    feed_id: str
    feed_type: str | None
    processing_status: str  # IN_QUEUE | IN_PROGRESS | DONE | CANCELLED | FATAL
    result_feed_document_id: str | None
    created_time: str | None
    processing_end_time: str | None
    raw: dict[str, Any] = field(compare=False, repr=False)

    @property
    def finished(self) -> bool:
        return self.processing_status in FEED_STATUSES_FINISHED

    @property
    def done(self) -> bool:
        return self.processing_status == "DONE"


@dataclass(frozen=True, slots=True)
class FeedIssue:
    message_id: int | None  # our messageId (1-based position in the submitted quantities)
    sku: str | None
    code: str | None
    severity: str  # ERROR | WARNING | INFO
    message: str
    attribute_name: str | None = None


@dataclass(frozen=True, slots=True)
class FeedReport:
    """A JSON_LISTINGS_FEED processing report (schema v2)."""

    feed_id: str | None
    messages_processed: int
    messages_accepted: int
    messages_invalid: int
    errors: int
    warnings: int
    issues: tuple[FeedIssue, ...]
    raw: dict[str, Any] = field(compare=False, repr=False)

    def issues_for(self, sku: str) -> list[FeedIssue]:
        return [i for i in self.issues if i.sku == sku]

    @property
    def rejected_skus(self) -> set[str]:
        """SKUs with at least one ERROR: their message was not applied."""
        return {i.sku for i in self.issues if i.severity == "ERROR" and i.sku}

    @property
    def rejected_message_ids(self) -> set[int]:
        return {i.message_id for i in self.issues if i.severity == "ERROR" and i.message_id}


@dataclass(frozen=True, slots=True)
class OrdersPage:
    orders: list[dict[str, Any]]
    next_token: str | None
    last_updated_before: str | None  # Amazon's end of the searched window, when it says


@dataclass(frozen=True, slots=True)
class ListingSummary:
    """What a mapping import needs from one listings item."""

    sku: str
    asin: str | None
    fulfillment_channel: str | None  # MFN | AFN | None (no fulfillment availability)
    quantity: int | None  # MFN quantity (DEFAULT channel); None for AFN or when absent
    product_type: str | None
    status: tuple[str, ...]  # BUYABLE, DISCOVERABLE
    item_name: str | None


@dataclass(frozen=True, slots=True)
class ListingLevel:
    quantity: int | None  # the merchant (DEFAULT) quantity shown; None: no MFN offer
    errors: tuple[str, ...] = ()  # ERROR issues on fulfillment_availability
