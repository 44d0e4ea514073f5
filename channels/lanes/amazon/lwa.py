"""Login with Amazon access tokens, through the library's token client aimed at our token URL.

Tokens are cached per (token URL, app, refresh token) until `expires_in` minus a margin. The
library's module-global cache is keyed by the refresh token alone and ignores `expires_in`, so
Amazon and the sandbox would share tokens. A 401/403 from SP-API drops the cached token.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import time
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
from sp_api.auth import AccessTokenClient, AccessTokenResponse
from sp_api.auth.credentials import Credentials
from sp_api.auth.exceptions import AuthorizationError

# An access token is refreshed this long before Amazon says it expires (it lives 3600 s).
TOKEN_MARGIN_SECONDS = 120.0

# Access tokens per (token URL, app id, refresh token): {key: (token, expires at, monotonic)}.
_tokens: dict[str, tuple[str, float]] = {}
_tokens_lock = threading.Lock()


def clear_token_cache() -> None:
    with _tokens_lock:
        _tokens.clear()


def _token_key(token_url: str, client_id: str, refresh_token: str) -> str:
    raw = "\x00".join((token_url, client_id or "", refresh_token or ""))
    return hashlib.sha256(raw.encode()).hexdigest()


class _LwaTokenClient(AccessTokenClient):
    """The library's LWA client aimed at `token_url`, with our timeout and token cache."""

    token_url: ClassVar[str] = "https://api.amazon.com/auth/o2/token"
    timeout: ClassVar[float] = 10.0

    def __init__(
        self,
        refresh_token: str | None = None,
        credentials: Any = None,
        proxies: Any = None,
        verify: bool = True,
    ) -> None:
        # As the library's, minus the transport it would open: _request brings its own.
        self.cred = Credentials(refresh_token, credentials)
        self.proxies = proxies
        self.verify = verify
        # Whether the last token handed out came from the cache, where it may have gone stale
        # (the app re-authorised, the seller revoked it, another process's LWA reset).
        self.served_cached = False

    def _request(self, url: str, data: Mapping[str, Any], headers: Mapping[str, str]) -> dict:
        with httpx.Client(timeout=self.timeout, verify=self.verify) as client:
            response = client.post(url, data=dict(data), headers=dict(headers))
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            body = body if isinstance(body, dict) else {}
            raise AuthorizationError(
                body.get("error") or "invalid_response",
                body.get("error_description") or response.text[:200],
                response.status_code,
            )
        return body

    @property
    def cache_key(self) -> str:
        return _token_key(self.token_url, self.cred.client_id, self.cred.refresh_token)

    def get_auth(self) -> AccessTokenResponse:
        key = self.cache_key
        now = time.monotonic()
        with _tokens_lock:
            cached = _tokens.get(key)
        if cached and cached[1] > now:
            self.served_cached = True
            return AccessTokenResponse(access_token=cached[0], token_type="bearer")
        self.served_cached = False
        body = self._request(self.token_url, self.data, self.headers)
        token = body.get("access_token")
        if not token:
            raise AuthorizationError("invalid_response", "LWA answered without access_token", 200)
        try:
            lifetime = float(body.get("expires_in") or 3600)
        except (TypeError, ValueError):
            lifetime = 3600.0
        with _tokens_lock:
            _tokens[key] = (token, now + max(0.0, lifetime - TOKEN_MARGIN_SECONDS))
        return AccessTokenResponse(**body)

    def forget(self) -> None:
        with _tokens_lock:
            _tokens.pop(self.cache_key, None)


@functools.lru_cache(maxsize=64)
def token_client_class(token_url: str, timeout: float) -> type[_LwaTokenClient]:
    parts = urlsplit(token_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"token_url must be an http(s) URL, got {token_url!r}")
    return type(
        "LwaTokenClient",
        (_LwaTokenClient,),
        {
            # The library builds scheme + host + path; keep them coherent with token_url.
            "scheme": f"{parts.scheme}://",
            "host": parts.netloc,
            "path": parts.path or "/auth/o2/token",
            "token_url": token_url,
            "timeout": timeout,
        },
    )


def drop_token(api: Any) -> bool:
    """Drop the token a library API object authenticates with; True when the refused token had
    come from the cache (where it may have gone stale)."""
    stale = bool(getattr(api._auth, "served_cached", False))
    api._auth.forget()
    return stale
