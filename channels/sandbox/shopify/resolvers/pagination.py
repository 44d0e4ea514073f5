"""Connections: keyset pagination on (sort value, id) with Shopify's cursors."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from .base import MAX_PAGE, bad_request, iso


def empty_connection() -> dict:
    return {
        "nodes": [],
        "edges": [],
        "pageInfo": {
            "hasNextPage": False,
            "hasPreviousPage": False,
            "startCursor": None,
            "endCursor": None,
        },
    }


def _encode_cursor(key: tuple) -> str:
    raw = json.dumps({"last_id": key[1], "last_value": key[0]}, separators=(",", ":"))
    return base64.b64encode(raw.encode()).decode()


def _decode_cursor(cursor: str) -> tuple:
    try:
        data = json.loads(base64.b64decode(cursor.encode(), validate=True))
        return (data["last_value"], data["last_id"])
    except (ValueError, KeyError, TypeError) as exc:
        raise bad_request(f"Invalid cursor for current pagination sort: {cursor!r}") from exc


def paginate(
    items: Iterable[Any],
    args: dict,
    *,
    view: Callable[[Any], dict],
    sort_value: Callable[[Any], Any] = lambda item: 0,
) -> dict:
    """Keyset pagination on (sort value, id), Shopify's cursor model."""
    first, last = args.get("first"), args.get("last")
    if first is None and last is None:
        raise bad_request("you must provide one of first or last")
    for name, size in (("first", first), ("last", last)):
        if size is not None and not 0 <= size <= MAX_PAGE:
            raise bad_request(f"The value of `{name}` must be between 0 and {MAX_PAGE}.")
    reverse = bool(args.get("reverse"))
    keyed = sorted(((_sortable(sort_value(item)), item.id), item) for item in items)
    if reverse:
        keyed.reverse()

    def beyond(key: tuple, cursor: tuple) -> bool:
        return key < cursor if reverse else key > cursor

    if args.get("after"):
        cursor = _decode_cursor(args["after"])
        keyed = [(k, item) for k, item in keyed if beyond(k, cursor)]
    if args.get("before"):
        cursor = _decode_cursor(args["before"])
        keyed = [(k, item) for k, item in keyed if beyond(cursor, k)]
    has_next = bool(args.get("before"))
    has_previous = bool(args.get("after"))
    if first is not None:
        has_next = has_next or len(keyed) > first
        keyed = keyed[:first]
    if last is not None:
        has_previous = has_previous or len(keyed) > last
        keyed = keyed[-last:] if last else []
    nodes = [view(item) for _, item in keyed]
    cursors = [_encode_cursor(k) for k, _ in keyed]
    return {
        "nodes": nodes,
        "edges": [{"cursor": c, "node": n} for c, n in zip(cursors, nodes, strict=True)],
        "pageInfo": {
            "hasNextPage": has_next,
            "hasPreviousPage": has_previous,
            "startCursor": cursors[0] if cursors else None,
            "endCursor": cursors[-1] if cursors else None,
        },
    }


def _sortable(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if value is None:
        return ""
    return value
