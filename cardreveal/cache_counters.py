"""Counters in the shared cache for fixed windows: one atomic count, made on first use."""

from __future__ import annotations

from django.core.cache import cache


def cache_count(key: str, *, timeout: int) -> int:
    """Add one to the counter at `key` and return its new value; a missing counter starts at 0
    and expires `timeout` seconds later (counting does not move that). Atomic: concurrent callers
    never see the same value. The cache's own errors are left to the caller (what an outage means
    is its decision)."""
    for _ in range(3):
        try:  # the counter usually exists already: one call
            return int(cache.incr(key))
        except ValueError:  # missing (first count of the window, or expired): make it, count again
            cache.add(key, 0, timeout=timeout)
    raise RuntimeError(f"could not count {key}")
