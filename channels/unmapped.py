"""The words a quarantined order line is kept with, and reading them back.

An order line naming a variant (Shopify) or seller SKU (Amazon) that no listing and no SKU of
ours explains is quarantined with this sentence. The quarantine page reads the channel's ids
back out of it to offer the fix in place (`channels.quarantine`); both directions live here so
they cannot drift apart.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

NO_VARIANT = "(none)"


@dataclass(frozen=True, slots=True)
class Unmapped:
    """What a channel calls an item we do not know: its listing id and its SKU, either may be
    blank (Shopify sends a null variant for a deleted product; a custom line has no SKU)."""

    variant: str
    sku: str

    @property
    def label(self) -> str:
        return self.sku or self.variant


def describe(order: str, line: str, variant: str, sku: str) -> str:
    if sku:
        return (
            f"Order {order} line {line}: no listing for variant {variant or NO_VARIANT} and no "
            f"SKU {json.dumps(sku)}."
        )
    return f"Order {order} line {line}: variant {variant} is not mapped to a SKU."


_SENTENCE = re.compile(
    r"no listing for variant (?P<variant>\S+) and no SKU (?P<sku>\"(?:[^\"\\]|\\.)*\")"
    r"|variant (?P<bare>\S+) is not mapped to a SKU"
)


def parse(detail: str) -> list[Unmapped]:
    """Every unmapped item a quarantine outcome names, in order, without repeats."""
    found: dict[Unmapped, None] = {}
    for match in _SENTENCE.finditer(detail or ""):
        if match.group("bare"):
            item = Unmapped(variant=match.group("bare"), sku="")
        else:
            variant = match.group("variant")
            item = Unmapped(
                variant="" if variant == NO_VARIANT else variant,
                sku=json.loads(match.group("sku")),
            )
        found[item] = None
    return list(found)
