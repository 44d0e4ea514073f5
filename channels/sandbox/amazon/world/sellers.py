"""Selling partners who authorised the app, and Login with Amazon's access tokens."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from channels.sandbox.common.errors import NotFound

from .base import WorldBase
from .records import Seller


class SellersMixin(WorldBase):
    def add_seller(
        self,
        seller_id: str | None = None,
        *,
        marketplace_ids: Iterable[str] | None = None,
        refresh_token: str | None = None,
        name: str | None = None,
    ) -> dict:
        """A selling partner who authorised the app: its refresh token gets it access tokens."""
        with self.lock:
            seller_id = seller_id or f"A{uuid.uuid4().hex[:12].upper()}"
            markets = list(marketplace_ids or [self.config.default_marketplace_id])
            for marketplace_id in markets:
                self._marketplace(marketplace_id)
            seller = Seller(
                seller_id=seller_id,
                refresh_token=refresh_token or f"Atzr|sandbox-refresh-{seller_id}",
                marketplace_ids=markets,
                name=name or seller_id,
            )
            self.sellers[seller_id] = seller
            return seller.as_json()

    def seller(self, seller_id: str | None = None) -> Seller:
        seller_id = seller_id or self.config.default_seller_id
        seller = self.sellers.get(seller_id)
        if seller is None:
            raise NotFound(f"no seller {seller_id!r}")
        return seller

    def issue_access_token(
        self, *, client_id: str, client_secret: str, refresh_token: str
    ) -> tuple[int, dict]:
        """LWA `grant_type=refresh_token`: (status, body) as api.amazon.com answers."""
        with self.lock:
            if client_id != self.config.client_id or client_secret != self.config.client_secret:
                return 401, {
                    "error": "invalid_client",
                    "error_description": "Client authentication failed",
                }
            seller = next(
                (s for s in self.sellers.values() if s.refresh_token == refresh_token), None
            )
            if seller is None:
                return 400, {
                    "error": "invalid_grant",
                    "error_description": "The request has an invalid grant parameter : refresh_token",
                }
            token = f"Atza|sandbox-{uuid.uuid4().hex}"
            self.access_tokens[token] = (
                seller.seller_id,
                self.config.clock() + self.config.access_token_ttl,
            )
            return 200, {
                "access_token": token,
                "refresh_token": seller.refresh_token,
                "token_type": "bearer",
                "expires_in": int(self.config.access_token_ttl),
            }

    def seller_for_token(self, token: str | None) -> str | None:
        if not token:
            return None
        with self.lock:
            entry = self.access_tokens.get(token)
            if entry is None or entry[1] <= self.config.clock():
                return None
            return entry[0] if entry[0] in self.sellers else None

    def revoke_tokens(self, seller_id: str | None = None) -> int:
        """Invalidate access tokens (all, or one seller's): the next call answers 403."""
        with self.lock:
            doomed = [t for t, (s, _) in self.access_tokens.items() if seller_id in (None, s)]
            for token in doomed:
                del self.access_tokens[token]
            return len(doomed)
