"""Password reset by email: the hourly limits per email address and per client address, counted in
Django's cache before any account is looked up (so the limit says nothing about who exists)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone

from cardreveal.cache_counters import cache_count
from cardreveal.client_info import ClientInfo

_WINDOW_SECONDS = 3600
_COUNTER_SECONDS = _WINDOW_SECONDS + 60  # kept a little past its hour


def password_reset_throttle(*, email: str, client: ClientInfo) -> datetime | None:
    """Count one reset request for `email` from `client`; return None when it is within both hourly
    limits (CARDREVEAL_PASSWORD_RESET_PER_EMAIL_HOUR, _PER_ADDRESS_HOUR), else when the next one
    will be accepted. Counts whether or not the address belongs to an account."""
    now = timezone.now()
    window = int(now.timestamp()) // _WINDOW_SECONDS
    window_end = datetime.fromtimestamp((window + 1) * _WINDOW_SECONDS, tz=UTC)
    email_key = hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()
    counts = [
        (
            cache_count(f"cardreveal:pwreset:email:{email_key}:{window}", timeout=_COUNTER_SECONDS),
            settings.CARDREVEAL_PASSWORD_RESET_PER_EMAIL_HOUR,
        ),
    ]
    if client.ip:
        counts.append(
            (
                cache_count(
                    f"cardreveal:pwreset:ip:{client.ip}:{window}", timeout=_COUNTER_SECONDS
                ),
                settings.CARDREVEAL_PASSWORD_RESET_PER_ADDRESS_HOUR,
            )
        )
    if any(count > limit for count, limit in counts):
        return window_end
    return None


def reset_link_minutes() -> int:
    """How long a reset link works, in whole minutes (Django's PASSWORD_RESET_TIMEOUT)."""
    return int(timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT).total_seconds() // 60)
