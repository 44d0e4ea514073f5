"""System checks for keys the settings cannot validate alone.

`manage.py check` fails on a malformed credentials key (it would otherwise surface as a 500 on
the first webhook); `check --deploy` warns while channel credentials hang on SECRET_KEY.
"""

from __future__ import annotations

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

_GENERATE = "Make one with `python manage.py rotate_credentials --generate-key`."


@register(Tags.security)
def credentials_keys_are_fernet_keys(app_configs, **kwargs) -> list[Error]:
    errors = []
    for position, key in enumerate(settings.CREDENTIALS_KEYS, start=1):
        try:
            Fernet(key)
        except ValueError:
            errors.append(
                Error(
                    f"CREDENTIALS_KEYS entry {position} is not a Fernet key "
                    "(32 url-safe base64-encoded bytes).",
                    hint=_GENERATE,
                    id="inventory_sync.E001",
                )
            )
    return errors


@register(Tags.security, deploy=True)
def credentials_keys_set(app_configs, **kwargs) -> list[Warning]:
    if settings.CREDENTIALS_KEYS:
        return []
    return [
        Warning(
            "CREDENTIALS_KEYS is not set: channel credentials are sealed with a key derived "
            "from SECRET_KEY, so changing SECRET_KEY needs the old one kept in "
            "SECRET_KEY_FALLBACKS until `manage.py rotate_credentials` has run.",
            hint=f"Set CREDENTIALS_KEYS to a key of its own. {_GENERATE}",
            id="inventory_sync.W001",
        )
    ]
