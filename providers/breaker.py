"""A circuit breaker per binding, its state in the Django cache so every worker shares it (Redis)."""

from __future__ import annotations

import contextlib
import enum
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import BaseCache, caches

from providers.errors import CircuitOpen

logger = logging.getLogger(__name__)

# How many recent call latencies are kept for the admin.
RECENT_LATENCIES = 20
# Counters and stats outlive a quiet day; nothing here needs to live forever.
_STATE_TTL_SECONDS = 24 * 3600
_KEY_PREFIX = "cardreveal:breaker"
_STATE_NAMES = (
    "open_until",
    "failures",
    "trial",
    "last_success",
    "last_failure",
    # A pickled list of numbers, named apart from the keys earlier versions kept (one of them a
    # Redis list, which a plain get cannot read), so old and new workers can run side by side.
    "recent_latency_list",
    "fast_failures",
)


class Outcome(enum.Enum):
    """How one call went, as far as the breaker cares."""

    SUCCESS = "success"  # the provider answered (closes the breaker)
    FAILURE = "failure"  # unreachable, slow or broken (counts towards opening)
    NEUTRAL = "neutral"  # says nothing about the provider's health (a 429, our own bad request)


class State(enum.Enum):
    """Where the breaker stands."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass(frozen=True)
class BreakerPolicy:
    """When to open and for how long; `trial_lease` bounds how long one trial call may hold the
    half-open slot (a crashed worker's trial expires instead of blocking the binding)."""

    threshold: int = 5
    cooldown: float = 30.0
    trial_lease: float = 30.0


@dataclass(frozen=True)
class Permit:
    """Leave to make one call: whether it is the half-open trial, and the failure count it saw."""

    trial: bool
    failures: int


@dataclass(frozen=True)
class BreakerSnapshot:
    """What the admin shows for one binding. Times are Unix timestamps."""

    state: State
    consecutive_failures: int
    open_until: float | None
    last_success: float | None
    last_failure: float | None
    last_failure_code: str
    recent_latencies_ms: tuple[int, ...]
    fast_failures: int = 0  # calls refused without a request since the breaker last opened

    @property
    def median_latency_ms(self) -> int | None:
        """The median of the recent latencies, or None before the first call."""
        if not self.recent_latencies_ms:
            return None
        ordered = sorted(self.recent_latencies_ms)
        return ordered[len(ordered) // 2]


def breaker_policy_from_settings() -> BreakerPolicy:
    """The policy from CARDREVEAL_BREAKER_THRESHOLD and CARDREVEAL_BREAKER_COOLDOWN_SECONDS."""
    return BreakerPolicy(
        threshold=int(settings.CARDREVEAL_BREAKER_THRESHOLD),
        cooldown=float(settings.CARDREVEAL_BREAKER_COOLDOWN_SECONDS),
    )


class CircuitBreaker:
    """Opens after `threshold` consecutive failures, fails fast with `CircuitOpen` while open, lets
    exactly one trial call through once the cool-down has passed, and closes when it succeeds.

    All state lives in a Django cache (`cache_alias`, default settings.CARDREVEAL_BREAKER_CACHE):
    with Redis it is shared by every worker and host. Only atomic operations decide anything:
    `incr` counts failures, `add` takes the half-open trial slot and marks the opening, so two
    workers never both run a trial or both log the same opening. Stats (last success, last
    failure, recent latency) are best-effort. Nothing here ever holds a request or response.
    """

    def __init__(
        self,
        *,
        key: str,
        policy: BreakerPolicy,
        cache: BaseCache | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.key = key
        self.policy = policy
        self._cache = cache
        self.clock = clock

    @property
    def cache(self) -> BaseCache:
        """The cache holding the state, resolved per use so settings overrides apply."""
        if self._cache is not None:
            return self._cache
        return caches[getattr(settings, "CARDREVEAL_BREAKER_CACHE", "default")]

    def _k(self, name: str) -> str:
        return f"{_KEY_PREFIX}:{self.key}:{name}"

    # ------------------------------------------------------------------ the call path

    def before_call(self) -> Permit:
        """Return a permit for one call, or raise `CircuitOpen` (no call may be made).

        One cache round trip while closed. If the cache itself fails (Redis down), the breaker
        steps aside and lets the call through: it must never be the outage.
        """
        try:
            return self._before_call()
        except CircuitOpen:
            raise
        except Exception:
            logger.warning("provider breaker %s: state unavailable, calling without it", self.key)
            return Permit(trial=False, failures=0)

    def _before_call(self) -> Permit:
        state = self.cache.get_many([self._k("open_until"), self._k("failures")])
        failures = int(state.get(self._k("failures")) or 0)
        open_until = state.get(self._k("open_until"))
        if open_until is None:
            return Permit(trial=False, failures=failures)
        now = self.clock()
        if now < float(open_until):
            self._count_fast_failure()
            raise CircuitOpen(
                f"breaker open for {self.key}", retry_after=math.ceil(float(open_until) - now)
            )
        lease = max(1, math.ceil(self.policy.trial_lease))
        if self.cache.add(self._k("trial"), int(now), timeout=lease):
            logger.info("provider breaker %s half-open: letting one trial call through", self.key)
            return Permit(trial=True, failures=failures)
        # Another worker's trial is in flight; keep failing fast until it reports.
        self._count_fast_failure()
        raise CircuitOpen(f"breaker half-open for {self.key}, trial in flight", retry_after=1)

    def record(self, permit: Permit, outcome: Outcome, *, latency_ms: int, code: str = "") -> None:
        """Report how the permitted call went: update the state, log any change, keep stats.

        Never raises: a cache failure is logged and the outcome is lost.
        """
        try:
            self._record(permit, outcome, latency_ms=latency_ms, code=code)
        except Exception:
            logger.warning("provider breaker %s: could not record an outcome", self.key)

    def _record(self, permit: Permit, outcome: Outcome, *, latency_ms: int, code: str) -> None:
        cache = self.cache
        now = self.clock()
        if outcome is Outcome.SUCCESS:
            self._note_stats(latency_ms, last_success=now)
            if permit.trial or permit.failures:
                was_open = cache.delete(self._k("open_until"))
                cache.delete_many([self._k("failures"), self._k("trial")])
                if was_open:
                    logger.warning(
                        "provider breaker %s closed: a %s call succeeded",
                        self.key,
                        "trial" if permit.trial else "late",
                    )
            return
        if outcome is Outcome.NEUTRAL:
            self._note_stats(latency_ms)
            if permit.trial:
                # The provider answered but said nothing about its health: stay half-open and
                # let the next caller try.
                cache.delete(self._k("trial"))
            return
        self._note_stats(latency_ms, last_failure=(now, code))
        if permit.trial:
            cache.set(self._k("open_until"), now + self.policy.cooldown, timeout=_STATE_TTL_SECONDS)
            cache.delete(self._k("trial"))
            logger.warning(
                "provider breaker %s re-opened: the trial call failed (%s); failing fast for %.0f s",
                self.key,
                code,
                self.policy.cooldown,
            )
            return
        cache.add(self._k("failures"), 0, timeout=_STATE_TTL_SECONDS)
        try:
            failures = cache.incr(self._k("failures"))
        except ValueError:  # expired between add and incr
            cache.add(self._k("failures"), 1, timeout=_STATE_TTL_SECONDS)
            failures = 1
        if failures >= self.policy.threshold and cache.add(
            self._k("open_until"), now + self.policy.cooldown, timeout=_STATE_TTL_SECONDS
        ):
            cache.set(self._k("fast_failures"), 0, timeout=_STATE_TTL_SECONDS)
            logger.warning(
                "provider breaker %s opened after %d consecutive failures (last: %s); "
                "failing fast for %.0f s",
                self.key,
                failures,
                code,
                self.policy.cooldown,
            )

    def note_failure(self, code: str) -> None:
        """Record, for the admin, a failure the door could not see: an answer that arrived but
        did not decrypt or made no sense, refused credentials, an unusable configuration. It
        becomes the last failure and counts nothing towards opening (T-MAP-1: failing fast would
        not help). Never raises: a cache failure is logged and the note is lost.
        """
        try:
            self.cache.set(
                self._k("last_failure"), (self.clock(), code), timeout=_STATE_TTL_SECONDS
            )
        except Exception:
            logger.warning("provider breaker %s: could not note a failure", self.key)

    def _count_fast_failure(self) -> None:
        """The metric T-MAP-1 asks for: calls refused without reaching the provider."""
        self.cache.add(self._k("fast_failures"), 0, timeout=_STATE_TTL_SECONDS)
        with contextlib.suppress(ValueError):  # expired in between: a lost count is fine
            self.cache.incr(self._k("fast_failures"))

    def _note_stats(self, latency_ms: int, **stats: object) -> None:
        """Append to the recent latencies and set `stats` (last_success, last_failure): one
        pipelined write on Redis, no read. Best effort: a failure here is logged and never keeps
        the outcome from counting (the callers update the state after this)."""
        try:
            _recent_push(
                self.cache,
                self._k("recent_latency_list"),
                int(latency_ms),
                keep=RECENT_LATENCIES,
                timeout=_STATE_TTL_SECONDS,
                also={self._k(n): v for n, v in stats.items()},
            )
        except Exception:
            logger.warning("provider breaker %s: could not keep the call's stats", self.key)

    # ------------------------------------------------------------------ reading and resetting

    def snapshot(self) -> BreakerSnapshot:
        """The current state and stats, for the admin."""
        values = self.cache.get_many(
            [self._k(n) for n in _STATE_NAMES if n != "recent_latency_list"]
        )

        def get(name: str) -> object:
            return values.get(self._k(name))

        open_until = _number(get("open_until"))
        if open_until is None:
            state = State.CLOSED
        elif self.clock() < open_until:
            state = State.OPEN
        else:
            state = State.HALF_OPEN
        last_failure = get("last_failure")
        failure_at, failure_code = (None, "")
        if isinstance(last_failure, tuple) and len(last_failure) == 2:
            failure_at, failure_code = _number(last_failure[0]), str(last_failure[1])
        latencies = _recent_read(self.cache, self._k("recent_latency_list"))
        return BreakerSnapshot(
            state=state,
            consecutive_failures=int(_number(get("failures")) or 0),
            open_until=open_until,
            last_success=_number(get("last_success")),
            last_failure=failure_at,
            last_failure_code=failure_code,
            recent_latencies_ms=tuple(latencies),
            fast_failures=int(_number(get("fast_failures")) or 0),
        )

    def reset(self) -> None:
        """Close the breaker and forget its stats (an admin who fixed the binding, and tests)."""
        self.cache.delete_many([self._k(n) for n in _STATE_NAMES])
        logger.warning("provider breaker %s reset", self.key)


def _number(value: object) -> float | None:
    """A cached number as a float; None for anything else (a missing or foreign value)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _recent_push(
    cache: BaseCache,
    key: str,
    value: int,
    *,
    keep: int,
    timeout: int,
    also: dict[str, Any] | None = None,
) -> None:
    """Append `value` to the list at `key`, keeping the last `keep`, and set the `also` values.

    Best effort, for stats: of concurrent pushes one may win (read, append, write). Read it back
    with `_recent_read`.
    """
    recent = [*(cache.get(key) or []), int(value)][-keep:]
    cache.set_many({key: recent, **(also or {})}, timeout=timeout)


def _recent_read(cache: BaseCache, key: str) -> list[int]:
    """The values `_recent_push` kept at `key`, oldest first ([] when none)."""
    stored = cache.get(key)
    return [int(v) for v in stored] if isinstance(stored, list) else []
