"""The in-memory selling partner accounts: listings, FBA stock, orders, feeds, reports, returns.

Plain Python, no Django. One re-entrant lock guards all state; an SP-API call holds it for its
whole handling, so a request sees and changes the account atomically. Time comes from one clock
(`config.clock`): delayed work (an ACCEPTED patch being applied, a feed moving IN_QUEUE ->
IN_PROGRESS -> DONE, a pending order becoming unshipped, an AFN order shipping itself) sits in a
scheduler and runs when the clock passes its due time: on every API call, on `advance()` with a
ManualClock, and from a ticker thread with the real clock.
"""

from __future__ import annotations

from channels.sandbox.common.errors import NotFound, OutOfStock, SandboxError

from .marketplaces import MARKETPLACES
from .world.buyers import BuyersMixin
from .world.config import SandboxConfig
from .world.controls import ControlsMixin
from .world.documents import DocumentsMixin
from .world.inventory import InventoryMixin
from .world.listings import ListingsMixin
from .world.orders import OrdersMixin
from .world.returns import ReturnsMixin
from .world.sellers import SellersMixin
from .world.shipments import ShipmentsMixin
from .world.submissions import SubmissionsMixin
from .world.subscriptions import SubscriptionsMixin


class AmazonSandbox(
    SellersMixin,
    ListingsMixin,
    SubmissionsMixin,
    InventoryMixin,
    OrdersMixin,
    ShipmentsMixin,
    ReturnsMixin,
    DocumentsMixin,
    SubscriptionsMixin,
    BuyersMixin,
    ControlsMixin,
):
    """The sandbox's state and every simulated action; the HTTP layer is a thin caller."""


__all__ = [
    "MARKETPLACES",
    "AmazonSandbox",
    "NotFound",
    "OutOfStock",
    "SandboxConfig",
    "SandboxError",
]
