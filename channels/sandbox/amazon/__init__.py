"""A faithful local fake of Amazon's Selling Partner API for tests, benchmarks and the demo.

Speaks the real wire formats: Login with Amazon's token endpoint, Listings Items 2021-08-01,
Feeds and Reports 2021-06-30 (with presigned document URLs), Orders 2026-01-01 and v0
confirmShipment, FBA Inventory v1; every request validated against Amazon's official models;
per-operation usage plans with 429s; notifications delivered like an EventBridge API
destination (late, duplicated, reordered or dropped on a seeded schedule). Never mounted in
production; imports nothing of ours outside channels.sandbox.
"""

from .clock import ManualClock, RealClock
from .model import AmazonSandbox, NotFound, OutOfStock, SandboxConfig, SandboxError
from .server import SandboxHandle, serve_in_thread
from .spec import operation_for, validate_request, validate_response

__all__ = [
    "AmazonSandbox",
    "ManualClock",
    "NotFound",
    "OutOfStock",
    "RealClock",
    "SandboxConfig",
    "SandboxError",
    "SandboxHandle",
    "operation_for",
    "serve_in_thread",
    "validate_request",
    "validate_response",
]
