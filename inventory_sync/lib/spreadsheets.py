"""What the project writes into CSV files people open in a spreadsheet."""

from __future__ import annotations


def safe_cell(value):
    """A spreadsheet runs a cell that starts with = + - @ as a formula: an order name or a
    SKU code from a channel must stay text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value
