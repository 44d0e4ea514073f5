"""The one field resolver graphql-core calls for every field, and the actual query cost."""

from __future__ import annotations

from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLUnionType,
    OperationType,
    get_named_type,
)

from channels.sandbox.shopify.cost import MUTATION_FIELD_COST

from .base import RESOLVERS, RequestContext, iso
from .pagination import empty_connection


def field_resolver(source: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    if info.operation.operation == OperationType.MUTATION and info.path.prev is None:
        # A mutation costs its 10 points even when it is refused with a top-level error.
        info.context.actual_cost += MUTATION_FIELD_COST
    custom = RESOLVERS.get((info.parent_type.name, info.field_name))
    if custom is not None:
        value = custom(source, info, **args)
    elif isinstance(source, dict) and info.field_name in source:
        value = source[info.field_name]
    else:
        value = zero_value(info.return_type, info.context)
    _count(info, value)
    return value


def _count(info: GraphQLResolveInfo, value: Any) -> None:
    context: RequestContext = info.context
    if info.operation.operation == OperationType.MUTATION:
        return
    if value is None:
        return
    named = get_named_type(info.return_type)
    if not isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType):
        return
    if named.name.endswith("Connection"):
        context.actual_cost += 2
    elif named.name.endswith("Edge") or named.name == "PageInfo":
        return
    elif isinstance(value, list):
        context.actual_cost += sum(1 for v in value if v is not None)
    else:
        context.actual_cost += 1


SCALAR_ZERO: dict[str, Any] = {
    "String": "",
    "ID": "",
    "Int": 0,
    "Float": 0.0,
    "Boolean": False,
    "Decimal": "0.0",
    "Money": "0.0",
    "UnsignedInt64": "0",
    "BigInt": "0",
    "URL": "https://sandbox.invalid/",
    "JSON": {},
    "HTML": "",
    "FormattedString": "",
    "Color": "#000000",
    "UtcOffset": "+00:00",
}


def zero_value(type_: Any, context: RequestContext) -> Any:
    """What an unmodelled field answers: null when allowed, else the emptiest valid value."""
    if not isinstance(type_, GraphQLNonNull):
        return None
    inner = type_.of_type
    if isinstance(inner, GraphQLList):
        return []
    if isinstance(inner, GraphQLEnumType):
        if inner.name == "CurrencyCode":
            return context.sandbox.config.currency
        return next(iter(inner.values))
    if isinstance(inner, GraphQLScalarType):
        if inner.name == "DateTime":
            return iso(context.sandbox.now())
        if inner.name == "Date":
            return context.sandbox.now().date().isoformat()
        return SCALAR_ZERO.get(inner.name, "")
    if isinstance(inner, GraphQLObjectType):
        if inner.name.endswith("Connection"):
            return empty_connection()
        return {"__typename": inner.name}
    # A non-null interface or union the sandbox does not model: let GraphQL report it.
    return None
