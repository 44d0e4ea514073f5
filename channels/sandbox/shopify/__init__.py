"""A faithful local fake of the Shopify Admin API (2026-04) for tests, benchmarks and the demo.

Speaks the real wire formats: Admin GraphQL validated and executed against Shopify's official
SDL, calculated-cost throttling, the 2026-04 inventory rules (changeFromQuantity, @idempotent),
signed at-least-once webhooks. Never mounted in production; imports nothing of ours outside
channels.sandbox.
"""

from channels.sandbox.common.config import ManualClock

from .model import (
    NotFound,
    OutOfStock,
    SandboxConfig,
    SandboxError,
    ShopifySandbox,
)
from .server import SandboxHandle, serve_in_thread
from .webhooks import sign

__all__ = [
    "ManualClock",
    "NotFound",
    "OutOfStock",
    "SandboxConfig",
    "SandboxError",
    "SandboxHandle",
    "ShopifySandbox",
    "serve_in_thread",
    "sign",
]
