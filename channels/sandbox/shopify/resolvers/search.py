"""Shopify's search syntax, the part clients use, over the sandbox's records."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from channels.sandbox.shopify.shop.records import parse_gid

SEARCH_TERM = re.compile(
    r"""(?P<neg>-)?(?P<field>[A-Za-z_]+):(?P<op><=|>=|<|>)?(?P<value>"[^"]*"|'[^']*'|\S+)"""
)


def parse_search(query: str | None) -> list[tuple[str, str, str, bool]]:
    """Shopify search syntax, the part clients use: `field:value`, `field:>value`, `-field:x`.

    Terms are ANDed; OR, grouping and free text are not modelled and are ignored.
    """
    terms = []
    for match in SEARCH_TERM.finditer(query or ""):
        value = match["value"]
        if value[:1] in "'\"" and value[-1:] == value[:1] and len(value) >= 2:
            value = value[1:-1]
        terms.append((match["field"].lower(), match["op"] or "=", value, bool(match["neg"])))
    return terms


def _parse_time(text: str) -> datetime | None:
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _compare(actual: Any, op: str, wanted: str) -> bool:
    if isinstance(actual, list | tuple | set):
        return any(_compare(a, op, wanted) for a in actual)
    if actual is None:
        return False
    if isinstance(actual, datetime):
        target = _parse_time(wanted)
        if target is None:
            return False
        actual = actual.replace(microsecond=0)
    elif isinstance(actual, bool):
        target = wanted.lower() == "true"
    elif isinstance(actual, int):
        number = parse_gid(wanted) if wanted.startswith("gid://") else None
        if number is None:
            try:
                number = int(wanted)
            except ValueError:
                return False
        target = number
    else:
        actual = str(actual).casefold()
        target = wanted.casefold()
        if op == "=" and target.endswith("*"):
            return actual.startswith(target[:-1])
    return {
        "=": actual == target,
        ">": actual > target,
        ">=": actual >= target,
        "<": actual < target,
        "<=": actual <= target,
    }[op]


def search(items: Iterable[Any], query: str | None, getters: dict[str, Callable]) -> list[Any]:
    terms = [t for t in parse_search(query) if t[0] in getters]
    result = []
    for item in items:
        if all(_compare(getters[f](item), op, v) != neg for f, op, v, neg in terms):
            result.append(item)
    return result
