"""Secrets at rest: channel credentials are stored encrypted (Fernet, AES-128-CBC + HMAC).

New seals use the first key of `CREDENTIALS_KEYS` (comma-separated Fernet keys, newest first);
without it, a key derived from SECRET_KEY, which keeps the demo and tests configuration-free.
Reads try every key: the configured ones, then those derived from SECRET_KEY and from each
of SECRET_KEY_FALLBACKS. So neither a new credentials key nor a new SECRET_KEY (with the old
one kept in SECRET_KEY_FALLBACKS) locks the channels out; `manage.py rotate_credentials`
re-seals everything under the first key, after which the old key can go (README,
"Rotating keys").
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.signals import setting_changed
from django.db.models import QuerySet
from django.dispatch import receiver

from .errors import DomainError

_KEY_SETTINGS = {"CREDENTIALS_KEYS", "SECRET_KEY", "SECRET_KEY_FALLBACKS"}

UNREADABLE = (
    "Channel credentials cannot be decrypted with any configured key (CREDENTIALS_KEYS, or "
    "the keys derived from SECRET_KEY and SECRET_KEY_FALLBACKS). If SECRET_KEY was changed, "
    "put the previous one in SECRET_KEY_FALLBACKS; if CREDENTIALS_KEYS was changed, put the "
    "previous key back after the new one. Then run `manage.py rotate_credentials`."
)


class SecretUnreadable(DomainError):
    code = "secret_unreadable"
    # Nothing the caller sent is wrong: this installation lost a key.
    http_status = 503


def derived_key(secret_key: str) -> str:
    """The Fernet key a SECRET_KEY stands for when CREDENTIALS_KEYS does not name one."""
    digest = hashlib.sha256(b"inventory-sync credentials:" + secret_key.encode())
    return base64.urlsafe_b64encode(digest.digest()).decode()


def configured_keys() -> list[str]:
    """Every key that may open a seal, the one new seals use first."""
    keys = [key for key in getattr(settings, "CREDENTIALS_KEYS", []) if key]
    secret_keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    keys += [derived_key(secret) for secret in secret_keys if secret]
    return list(dict.fromkeys(keys))


@cache
def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in configured_keys()])


@cache
def _sealing() -> Fernet:
    return Fernet(configured_keys()[0])


@receiver(setting_changed)
def _forget_keys(*, setting: str, **kwargs) -> None:
    if setting in _KEY_SETTINGS:
        _fernet.cache_clear()
        _sealing.cache_clear()


def seal(value: dict) -> str:
    return _fernet().encrypt(json.dumps(value, sort_keys=True).encode()).decode()


def unseal(token: str) -> dict:
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken as error:
        raise SecretUnreadable(UNREADABLE) from error


def reseal(token: str) -> str | None:
    """The same secret sealed under the first key, or None when it already is."""
    try:
        _sealing().decrypt(token.encode())
    except InvalidToken:
        pass
    else:
        return None
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken as error:
        raise SecretUnreadable(UNREADABLE) from error


@dataclass
class ResealReport:
    resealed: int = 0
    current: int = 0
    unreadable: list = field(default_factory=list)


def reseal_rows(rows: QuerySet, column: str) -> ResealReport:
    """Re-seal `column` of every row under the first key.

    Each row is written only if it still holds what was read (compare-and-set): a row whose
    secret someone replaced meanwhile was sealed under the first key by that write. Rows no key
    opens are listed by primary key and left as they are.
    """
    report = ResealReport()
    pending = rows.exclude(**{column: ""}).order_by("pk").values_list("pk", column)
    for pk, token in pending.iterator():
        try:
            fresh = reseal(token)
        except SecretUnreadable:
            report.unreadable.append(pk)
            continue
        if fresh is None:
            report.current += 1
        elif rows.model._default_manager.filter(pk=pk, **{column: token}).update(**{column: fresh}):
            report.resealed += 1
        else:
            report.current += 1
    return report
