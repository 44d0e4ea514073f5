"""API throttles: a budget per user and token, and one per address for anonymous calls.

Rates come from API_THROTTLE_RATES (settings, from the environment) and are read on each
request, not frozen when DRF loads the class. Counts live in the Django cache, which is
Redis in production, so every web process shares them.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.authtoken.models import Token
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class _SettingsRate:
    scope: str

    def get_rate(self) -> str | None:
        return settings.API_THROTTLE_RATES.get(self.scope)


class AnonThrottle(_SettingsRate, AnonRateThrottle):
    """Calls without a login, per client address (NUM_PROXIES says which one to believe)."""


class UserThrottle(_SettingsRate, UserRateThrottle):
    """Per user, with a token's calls counted apart from the same person's console session:
    a busy script does not lock its owner out of the browser, nor the other way round."""

    def get_cache_key(self, request, view) -> str | None:
        if not (request.user and request.user.is_authenticated):
            return None  # the anonymous throttle counts these
        via = "token" if isinstance(request.auth, Token) else "session"
        return self.cache_format % {"scope": self.scope, "ident": f"{request.user.pk}:{via}"}
