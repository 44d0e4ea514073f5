"""The LWA credentials of one selling partner authorisation, checked before any call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from channels.lanes.base import CredentialsError

CREDENTIAL_KEYS = ("refresh_token", "lwa_app_id", "lwa_client_secret")


@dataclass(frozen=True, slots=True)
class AmazonCredentials:
    """LWA credentials of one selling partner authorisation. The repr hides the secrets."""

    refresh_token: str
    lwa_app_id: str
    lwa_client_secret: str

    def __repr__(self) -> str:
        return f"AmazonCredentials(lwa_app_id={self.lwa_app_id!r}, refresh_token=…, secret=…)"

    def as_library_dict(self) -> dict[str, str]:
        return {
            "refresh_token": self.refresh_token,
            "lwa_app_id": self.lwa_app_id,
            "lwa_client_secret": self.lwa_client_secret,
        }


class AmazonCredentialsError(CredentialsError):
    """A channel's credential mapping lacks a key, or a value is not a non-blank string."""


def credentials_from(mapping: Mapping[str, Any] | None) -> AmazonCredentials:
    """Build credentials from a channel's decrypted credential mapping.

    Needs `refresh_token`, `lwa_app_id` and `lwa_client_secret` as non-blank strings; other keys
    are ignored. The error names the bad keys, never their values.
    """
    if not isinstance(mapping, Mapping):
        raise AmazonCredentialsError(
            f"Amazon credentials must be a mapping with {', '.join(CREDENTIAL_KEYS)}"
        )
    missing = [k for k in CREDENTIAL_KEYS if k not in mapping or mapping[k] in (None, "")]
    bad = [
        k
        for k in CREDENTIAL_KEYS
        if k not in missing and (not isinstance(mapping[k], str) or not mapping[k].strip())
    ]
    if missing or bad:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing))
        if bad:
            parts.append("not a non-blank string: " + ", ".join(bad))
        raise AmazonCredentialsError(
            f"Amazon credentials are incomplete ({'; '.join(parts)}); "
            f"expected keys: {', '.join(CREDENTIAL_KEYS)}"
        )
    return AmazonCredentials(
        refresh_token=mapping["refresh_token"].strip(),
        lwa_app_id=mapping["lwa_app_id"].strip(),
        lwa_client_secret=mapping["lwa_client_secret"].strip(),
    )
