"""Reveal quotas: successful reveals per user per clock hour and per card per UTC day.

Counters live in the default cache (Redis in production, so every worker shares them) under keys
named for the window, and change only with the cache's atomic `incr`/`decr`. A reveal takes one
unit of both quotas before its code is checked (so a full quota refuses without using the code)
and gives it back if the code or the provider then fails, so the quotas count successful reveals
only. Counters hold numbers, never anything about a card. `reveal_quotas_used_up` reads them (for the
pages and the API to say so before a code is spent) without taking anything.

While the cache fails (Redis down) the quotas cannot be counted, so no reveal is allowed: reserving
raises RevealQuotaUnavailable (a 503 to the cardholder), the read says so, and a unit that cannot
be given back stays taken (docs/security.md, "Redis outage").
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from cardreveal.accounts.lockout import utc_clock
from cardreveal.cache_counters import cache_count
from cardreveal.outages import CACHE_ERRORS, OUTAGE_RETRY_AFTER

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from cardreveal.cards.models import Card

logger = logging.getLogger(__name__)

_PREFIX = "cardreveal:reveal-quota"

QUOTAS_UNAVAILABLE_MESSAGE = (
    "Showing security codes is paused for a moment: the limits that protect your card cannot be "
    "checked right now. Try again in a minute."
)


class RevealQuotaUnavailable(Exception):
    """The quotas cannot be counted (the cache fails): no reveal may go ahead. Wait
    `retry_after` seconds."""

    retry_after = OUTAGE_RETRY_AFTER


class RevealQuotaExceeded(Exception):
    """A quota is used up: a stable `code`, a user-facing `message`, seconds until it refills
    (`retry_after`) and the moment it does (`until`)."""

    def __init__(self, code: str, message: str, retry_after: int, until: datetime) -> None:
        super().__init__(code)
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.until = until


@dataclass(frozen=True)
class _Window:
    code: str
    key: str
    limit: int
    ends_at: float  # epoch seconds

    def exceeded(self, now: float) -> RevealQuotaExceeded:
        retry_after = max(1, math.ceil(self.ends_at - now))
        until = datetime.fromtimestamp(self.ends_at, tz=UTC)
        again = utc_clock(until)
        if self.code == "quota_user_hour":
            message = (
                f"You have seen {self.limit} security codes this hour, the most allowed. "
                f"You can see more from {again}."
            )
        else:
            message = (
                f"This card's security code has been shown {self.limit} times today, the most "
                f"allowed. You can see it again from {again}."
            )
        return RevealQuotaExceeded(self.code, message, retry_after, until)


@dataclass(frozen=True)
class QuotaReservation:
    """The units one reveal took; hand back to `reveal_quota_release` if the reveal fails."""

    keys: tuple[str, ...]


def _user_window(*, user: User, now: float) -> _Window:
    hour = int(now // 3600)
    return _Window(
        "quota_user_hour",
        f"{_PREFIX}:user:{user.pk}:hour:{hour}",
        settings.CARDREVEAL_REVEALS_PER_USER_HOUR,
        (hour + 1) * 3600.0,
    )


def _card_window(*, card: Card, now: float) -> _Window:
    day = int(now // 86400)
    return _Window(
        "quota_card_day",
        f"{_PREFIX}:card:{card.pk}:day:{day}",
        settings.CARDREVEAL_REVEALS_PER_CARD_DAY,
        (day + 1) * 86400.0,
    )


def _windows(*, user: User, card: Card, now: float) -> list[_Window]:
    return [_user_window(user=user, now=now), _card_window(card=card, now=now)]


@dataclass(frozen=True)
class QuotasUsedUp:
    """The quotas that are used up now: the user's hourly one (or None), and each card's daily
    one by card id (cards whose quota has room are absent)."""

    user_hour: RevealQuotaExceeded | None
    card_day: dict[object, RevealQuotaExceeded]
    # The counters could not be read (the cache fails): a reveal would be refused for that.
    unavailable: bool = False


def reveal_quotas_used_up(*, user: User, cards: Sequence[Card]) -> QuotasUsedUp:
    """Which quotas would refuse a reveal now, for `user` and each of `cards` (theirs): one cache
    read for them all, taking nothing. Units held by reveals under way count as taken."""
    now = timezone.now().timestamp()
    user_window = _user_window(user=user, now=now)
    card_windows = {card.pk: _card_window(card=card, now=now) for card in cards}
    keys = [user_window.key, *(w.key for w in card_windows.values())]
    try:
        counts = cache.get_many(keys)
    except CACHE_ERRORS:
        logger.warning("reveal quotas unreadable (Redis unavailable)")
        return QuotasUsedUp(user_hour=None, card_day={}, unavailable=True)

    def used_up(window: _Window) -> bool:
        return int(counts.get(window.key) or 0) >= window.limit

    return QuotasUsedUp(
        user_hour=user_window.exceeded(now) if used_up(user_window) else None,
        card_day={pk: w.exceeded(now) for pk, w in card_windows.items() if used_up(w)},
    )


def reveal_quota_reserve(*, user: User, card: Card) -> QuotaReservation:
    """Take one unit of each quota (each counted atomically); raise
    RevealQuotaExceeded (taking nothing) when either is used up, RevealQuotaUnavailable when the
    cache fails. Concurrent reserves never take more than the limit."""
    now = timezone.now().timestamp()
    windows = _windows(user=user, card=card, now=now)
    reservation = QuotaReservation(tuple(w.key for w in windows))
    counts: list[int] = []
    for window in windows:
        try:
            counts.append(cache_count(window.key, timeout=math.ceil(window.ends_at - now) + 60))
        except CACHE_ERRORS:
            logger.warning("reveal quotas cannot be counted (Redis unavailable): refusing")
            # Give back what was counted before the failure (best effort).
            reveal_quota_release(QuotaReservation(reservation.keys[: len(counts)]))
            raise RevealQuotaUnavailable() from None
    for window, count in zip(windows, counts, strict=True):
        if count > window.limit:
            reveal_quota_release(reservation)
            raise window.exceeded(now)
    return reservation


def reveal_quota_release(reservation: QuotaReservation) -> None:
    """Give back the units of a reveal that did not happen. While the cache fails they stay taken
    (counted against the cardholder, never in their favour), with a warning."""
    for key in reservation.keys:
        try:
            cache.decr(key)
        except ValueError:  # the window ended and its counter expired
            continue
        except CACHE_ERRORS:
            logger.warning("reveal quota unit not given back (Redis unavailable)")
            return
