"""Request rates per user and per client address (DRF throttles); rates live in REST_FRAMEWORK settings.

Scopes and their default rates are listed in docs/api.md. The client address is REMOTE_ADDR
(`NUM_PROXIES = 0`), the same address the audit trail records. The counts live in the cache
(Redis): while it fails, the limits that protect accounts refuse with 503 (`limits_unavailable`),
the others let requests through (docs/security.md, "Redis outage").
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from cardreveal.errors import ServiceError
from cardreveal.outages import CACHE_ERRORS, OUTAGE_RETRY_AFTER

logger = logging.getLogger(__name__)


class LimitsUnavailable(ServiceError):
    """A limit that protects accounts could not be counted (Redis down): 503, try again soon."""

    def __init__(self, doing: str) -> None:
        super().__init__(
            "limits_unavailable",
            f"{doing} is paused for a moment: the limits that protect your account cannot be "
            "checked right now. Try again in a minute.",
            503,
            retry_after=OUTAGE_RETRY_AFTER,
        )


class _ScopedThrottle(SimpleRateThrottle):
    """A throttle whose rate is read from settings when it runs, so a settings change applies."""

    scope: str
    # What the limit guards, for the 503 when it cannot be counted; None: it lets requests through
    # then (it guards capacity, not an account).
    closed_for: str | None = None
    # Set by SimpleRateThrottle (its __init__ and allow_request); declared here for the types.
    num_requests: int | None
    duration: int | None
    history: list[float]
    now: float

    def get_rate(self) -> str | None:
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        return None if rate is None else str(rate)

    def allow_request(self, request: Request, view: Any) -> bool:
        """DRF's count; when the cache fails, refuse (LimitsUnavailable, 503) if the limit
        protects accounts (`closed_for`), else let the request through with a warning."""
        try:
            return bool(super().allow_request(request, view))
        except CACHE_ERRORS:
            if self.closed_for is not None:
                logger.warning("throttle %s unavailable (Redis): refusing with 503", self.scope)
                raise LimitsUnavailable(self.closed_for) from None
            logger.warning("throttle %s unavailable (Redis): not counting", self.scope)
            return True

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
    closed_for = "Showing security codes"


class RevealIpThrottle(PerIpThrottle):
    """Reveal calls per client address (scope `reveal_ip`)."""

    scope = "reveal_ip"
    closed_for = "Showing security codes"


class LoginIpThrottle(PerIpThrottle):
    """Sign-in attempts per client address (scope `login_ip`)."""

    scope = "login_ip"
    closed_for = "Signing in"


class LoginUsernameThrottle(_ScopedThrottle):
    """Sign-in attempts per username tried, from any address (scope `login_username`).

    The username is hashed into the cache key: no user input goes into cache keys as is. It
    reads the body, so `ApiView.check_throttles` runs it last, and not at all for a request
    another throttle refused (`reads_body`).
    """

    scope = "login_username"
    closed_for = "Signing in"
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
    closed_for = "Setting up an authenticator"
