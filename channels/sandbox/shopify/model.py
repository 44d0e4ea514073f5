"""The in-memory shop: catalogue, inventory levels, orders, fulfilment, refunds.

Plain Python, no Django. One re-entrant lock guards all state; the GraphQL layer holds it for a
whole document so a request sees and changes the shop atomically, like one Shopify transaction.
Quantities follow Shopify's names: on_hand = available + committed + reserved + damaged +
safety_stock + quality_control; incoming is outside on_hand.
"""

from __future__ import annotations

from channels.sandbox.common.errors import NotFound, OutOfStock, SandboxError

from .shop.catalogue import CatalogueMixin
from .shop.config import SandboxConfig
from .shop.edits import EditsMixin
from .shop.fulfillments import FulfillmentsMixin
from .shop.inventory import InventoryMixin
from .shop.lookups import LookupsMixin
from .shop.orders import OrdersMixin
from .shop.refunds import RefundsMixin
from .shop.shoppers import ShoppersMixin
from .shop.subscriptions import SubscriptionsMixin
from .shop.views import ViewsMixin


class ShopifySandbox(
    CatalogueMixin,
    LookupsMixin,
    ViewsMixin,
    InventoryMixin,
    OrdersMixin,
    RefundsMixin,
    EditsMixin,
    FulfillmentsMixin,
    SubscriptionsMixin,
    ShoppersMixin,
):
    """One fake shop. Every public method is thread-safe."""


__all__ = [
    "NotFound",
    "OutOfStock",
    "SandboxConfig",
    "SandboxError",
    "ShopifySandbox",
]
