"""Resolvers that answer Admin API documents from the in-memory shop.

The official schema has no resolvers; one field resolver serves every field. It looks for a
registered resolver for (type, field), then for the key in a view dict, and otherwise returns a
harmless zero value of the declared type, so any valid document executes and non-null fields
the sandbox does not model never null out their parents.

While resolving it also counts the actual query cost: 1 per object returned, 2 per connection,
10 per mutation field (the mutation's payload is included in those 10).
"""

from __future__ import annotations

# The resolver modules register themselves with `base.RESOLVERS` when imported.
from . import mutations, objects, queries  # noqa: F401
from .base import RESOLVERS, RequestContext
from .execution import field_resolver

__all__ = ["RESOLVERS", "RequestContext", "field_resolver"]
