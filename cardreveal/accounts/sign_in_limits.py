"""Failed sign-ins per client address and per username, one limit for the web, admin and API doors.

Every wrong password (Django's `user_login_failed`, whichever door sent it) and every wrong code
at sign-in (`otp_failed` in the sign-in context) adds one to two counters: one for the client
address and one for the username tried (casefolded, hashed into the key: no user input goes into a
cache key as is). The counters live in the default cache (Redis in production, so every worker and
every host shares them) under keys named for a fixed window, and change only with the cache's
atomic `incr`. Each door asks `sign_in_refusal` before it checks a password: once either counter
has reached its limit, sign-in from that address, or for that username, is refused until the
window ends, whatever the password, and whether or not the username exists (the refusal is no
username oracle). The counters age out with their window; a username's is also cleared by that
account's successful sign-in and by an admin lifting its lock (so its owner gets in at once). An
address's is never cleared early: an attacker signing in to an account of their own must not
wipe the count of their failures on others.

When the cache itself fails (Redis down), the limits fail closed: `sign_in_refusal` lets the
cache's error out, and each door answers it with a 503 and Retry-After (the web's and admin's
through `cardreveal.outages.OutageMiddleware`, the API's through its exception
handler), before any password is checked. These limits protect cardholders from guessing spread
over many accounts, which the per-account lockout alone does not stop (docs/security.md, "Redis
outage"). A failure that cannot be counted, or a count that cannot be cleared, is logged.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from cardreveal.accounts.lockout import utc_clock
from cardreveal.cache_counters import cache_count

logger = logging.getLogger(__name__)

_PREFIX = "cardreveal:sign-in-failures"


@dataclass(frozen=True)
class SignInRefusal:
    """Sign-in is refused until `until` (`retry_after` seconds from now): too many failures from
    this address or for this username. `message` says so and when to try again."""

    until: datetime
    retry_after: int

    @property
    def message(self) -> str:
        minutes = math.ceil(self.retry_after / 60)
        unit = "minute" if minutes == 1 else "minutes"
        return (
            "Too many failed sign-ins from this network or for this username: sign-in is paused. "
            f"Try again after {utc_clock(self.until)} (in about {minutes} {unit})."
        )


@dataclass(frozen=True)
class _Window:
    ends_at: float  # epoch seconds
    keys: dict[str, int]  # cache key -> its limit


def _window_index(now: float) -> tuple[int, float]:
    """The number of the limit window `now` falls in, and when it ends (epoch seconds)."""
    length = settings.CARDREVEAL_SIGN_IN_LIMIT_WINDOW_SECONDS
    index = int(now // length)
    return index, (index + 1) * float(length)


def _window(*, address: str | None, username: str | None, now: float) -> _Window:
    index, ends_at = _window_index(now)
    keys: dict[str, int] = {}
    if address:
        keys[f"{_PREFIX}:address:{_digest(address)}:{index}"] = (
            settings.CARDREVEAL_SIGN_IN_FAILURES_PER_ADDRESS
        )
    name = (username or "").strip().casefold()
    if name:
        keys[f"{_PREFIX}:username:{_digest(name)}:{index}"] = (
            settings.CARDREVEAL_SIGN_IN_FAILURES_PER_USERNAME
        )
    return _Window(ends_at=ends_at, keys=keys)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def sign_in_refusal(*, address: str | None, username: str | None) -> SignInRefusal | None:
    """Why a sign-in from `address` for `username` must be refused now, or None when it may be
    tried. One cache read; counts nothing. Raises the cache's error when the cache cannot be read
    (the caller's door answers 503: the limits fail closed)."""
    now = timezone.now().timestamp()
    window = _window(address=address, username=username, now=now)
    if not window.keys:
        return None
    counts = cache.get_many(list(window.keys))
    reached = [key for key, limit in window.keys.items() if int(counts.get(key) or 0) >= limit]
    if not reached:
        return None
    logger.warning(
        "sign-in refused: too many failed sign-ins for this %s",
        " and ".join(key.split(":")[-3] for key in reached),  # "address", "username"
    )
    return SignInRefusal(
        until=datetime.fromtimestamp(window.ends_at, tz=UTC),
        retry_after=max(1, math.ceil(window.ends_at - now)),
    )


def sign_in_failure_count(*, address: str | None, username: str | None) -> None:
    """Count one failed sign-in from `address` for `username` (either may be unknown)."""
    now = timezone.now().timestamp()
    window = _window(address=address, username=username, now=now)
    timeout = math.ceil(window.ends_at - now) + 60
    try:
        for key in window.keys:
            cache_count(key, timeout=timeout)
    except Exception:
        logger.warning("sign-in limits: the cache cannot be written; this failure is not counted")


def sign_in_username_failures_clear(*, username: str) -> None:
    """Forget the failed sign-ins counted for `username` in the current window."""
    now = timezone.now().timestamp()
    try:
        cache.delete_many(list(_window(address=None, username=username, now=now).keys))
    except Exception:
        logger.warning("sign-in limits: the cache cannot be written; a count was not cleared")


def open_challenge_refusal(*, address: str | None) -> SignInRefusal | None:
    """Count one passkey challenge made for nobody yet (passwordless or admin sign-in) from
    `address`, and say why it must be refused once CARDREVEAL_PASSKEY_OPEN_CHALLENGES_PER_ADDRESS
    were made in this window, or None. Each is a stored row until it expires: the cap keeps one
    address from filling the table. Raises the cache's error when the cache fails (closed, like
    the sign-in limits)."""
    if not address:
        return None
    now = timezone.now().timestamp()
    index, ends_at = _window_index(now)
    key = f"{_PREFIX}:open-challenges:{_digest(address)}:{index}"
    made = cache_count(key, timeout=math.ceil(ends_at - now) + 60)
    if made <= settings.CARDREVEAL_PASSKEY_OPEN_CHALLENGES_PER_ADDRESS:
        return None
    logger.warning("passkey challenge refused: too many made for nobody from this address")
    return SignInRefusal(
        until=datetime.fromtimestamp(ends_at, tz=UTC),
        retry_after=max(1, math.ceil(ends_at - now)),
    )
