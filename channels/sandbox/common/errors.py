"""The errors a sandbox refuses a simulated action with (the control API answers `status`)."""

from __future__ import annotations

from typing import Any


class SandboxError(Exception):
    """A refused simulated action (the control API answers it with `status`)."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def as_json(self) -> dict:
        return {"error": self.code, "message": self.message, **self.details}


class NotFound(SandboxError):
    status = 404
    code = "not_found"


class OutOfStock(SandboxError):
    """What a shopper or buyer meets when the item is not buyable for the quantity asked (a
    sold-out variant at a Shopify checkout, an Amazon listing without the units)."""

    status = 409
    code = "out_of_stock"
