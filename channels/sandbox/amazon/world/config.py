"""How a sandbox is set up: its LWA application, seller, clock, delays and strictness."""

from __future__ import annotations

from dataclasses import dataclass, field

from channels.sandbox.amazon.clock import Clock, RealClock


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
