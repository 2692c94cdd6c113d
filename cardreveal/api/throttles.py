"""Request rates per user and per client address (DRF throttles); rates live in REST_FRAMEWORK settings.

Scopes and their default rates are listed in docs/api.md. The client address is REMOTE_ADDR
(`NUM_PROXIES = 0`), the same address the audit trail records.
"""

from __future__ import annotations

import hashlib
from typing import Any

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


class _ScopedThrottle(SimpleRateThrottle):
    """A throttle whose rate is read from settings when it runs, so a settings change applies."""

    scope: str
    # Set by SimpleRateThrottle (its __init__ and allow_request); declared here for the types.
    num_requests: int | None
    duration: int | None
    history: list[float]
    now: float

    def get_rate(self) -> str | None:
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        return None if rate is None else str(rate)

    def wait(self) -> float | None:
        """Seconds until this scope lets a request through again, never None once it refused
        one, so every 429 carries Retry-After.

        DRF gives up (None) when the counted requests outnumber the rate, as after the rate was
        lowered while the counts in the cache were kept; then the wait is until enough of them
        have aged out of the window.
        """
        wait: float | None = super().wait()
        if wait is not None:
            return wait
        if self.num_requests is None or self.duration is None:  # pragma: no cover - never refuses
            return None
        if self.num_requests <= 0 or not self.history:
            return float(self.duration)
        newest_in_the_way = self.history[self.num_requests - 1]  # newest first
        return max(1.0, self.duration - (self.now - newest_in_the_way))


class PerUserThrottle(_ScopedThrottle):
    """Every API call, per signed-in user (scope `user`)."""

    scope = "user"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if not (request.user and request.user.is_authenticated):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class PerIpThrottle(_ScopedThrottle):
    """Every API call, per client address (scope `ip`)."""

    scope = "ip"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class RevealUserThrottle(PerUserThrottle):
    """Reveal calls per user (scope `reveal_user`), on top of the quotas of the reveal service."""

    scope = "reveal_user"


class RevealIpThrottle(PerIpThrottle):
    """Reveal calls per client address (scope `reveal_ip`)."""

    scope = "reveal_ip"


class LoginIpThrottle(PerIpThrottle):
    """Sign-in attempts per client address (scope `login_ip`)."""

    scope = "login_ip"


class LoginUsernameThrottle(_ScopedThrottle):
    """Sign-in attempts per username tried, from any address (scope `login_username`).

    The username is hashed into the cache key: no user input goes into cache keys as is. It
    reads the body, so `ApiView.check_throttles` runs it last, and not at all for a request
    another throttle refused (`reads_body`).
    """

    scope = "login_username"
    reads_body = True

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        data = request.data
        username = data.get("username") if isinstance(data, dict) else None
        if not isinstance(username, str) or not username.strip():
            return None
        ident = hashlib.sha256(username.strip().casefold().encode()).hexdigest()[:32]
        return self.cache_format % {"scope": self.scope, "ident": ident}


class OtpDeviceThrottle(PerUserThrottle):
    """Authenticator enrolment and confirmation per user (scope `otp_user`)."""

    scope = "otp_user"
