"""What every resolver module shares: the request context, the registry of resolvers, the
top-level error and the value formats of Shopify's scalars."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo

from channels.sandbox.shopify.model import ShopifySandbox

MAX_PAGE = 250
MAX_INPUT_SIZE = 250


@dataclass
class RequestContext:
    sandbox: ShopifySandbox
    variables: dict[str, Any]
    lost_write: bool = False
    actual_cost: int = 0
    notes: list[str] = field(default_factory=list)


Resolver = Callable[..., Any]
RESOLVERS: dict[tuple[str, str], Resolver] = {}


def resolves(type_name: str, field_name: str) -> Callable[[Resolver], Resolver]:
    def register(fn: Resolver) -> Resolver:
        RESOLVERS[(type_name, field_name)] = fn
        return fn

    return register


def bad_request(message: str, code: str = "BAD_REQUEST", **extensions: Any) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code, **extensions})


def sandbox_of(info: GraphQLResolveInfo) -> ShopifySandbox:
    return info.context.sandbox


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def money_bag(amount: Decimal, currency: str = "USD") -> dict:
    money = {"amount": f"{amount:.2f}", "currencyCode": currency}
    return {"shopMoney": dict(money), "presentmentMoney": dict(money)}
