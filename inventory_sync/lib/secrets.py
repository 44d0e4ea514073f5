"""Secrets at rest: channel credentials are stored encrypted (Fernet, AES-128-CBC + HMAC).

Keys come from `CREDENTIALS_KEYS` (comma-separated Fernet keys, newest first, so a key can be
rotated: new writes use the first, reads try each). Without it the key is derived from
SECRET_KEY, which keeps the demo and tests configuration-free; production should set its own.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from .errors import DomainError


class SecretUnreadable(DomainError):
    code = "secret_unreadable"


@cache
def _fernet() -> MultiFernet:
    keys = [key for key in getattr(settings, "CREDENTIALS_KEYS", []) if key]
    if not keys:
        digest = hashlib.sha256(b"inventory-sync credentials:" + settings.SECRET_KEY.encode())
        keys = [base64.urlsafe_b64encode(digest.digest()).decode()]
    return MultiFernet([Fernet(key) for key in keys])


def seal(value: dict) -> str:
    return _fernet().encrypt(json.dumps(value, sort_keys=True).encode()).decode()


def unseal(token: str) -> dict:
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken as error:
        raise SecretUnreadable(
            "Channel credentials cannot be decrypted with the configured CREDENTIALS_KEYS."
        ) from error
