"""Django's Redis cache, keeping one client object per connection pool instead of one per call;
expiring counters counted in one round trip (`counters_incr`, which works on any cache), and a
short list of recent numbers kept in one round trip (`recent_push`, `recent_read`: the provider
breaker's stats, which fall back to plain cache calls elsewhere)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class _ReusingClient(RedisCacheClient):
    """Django builds a new `redis.Redis` for every cache call (about 0.1 ms each, its response
    callback table); a reveal makes ten or so calls. redis-py clients are thread-safe, so one per
    pool is kept and shared by the worker's threads."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}
        self._clients_lock = threading.Lock()

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
        client = self._clients.get(id(pool))
        if client is None:
            with self._clients_lock:
                made = self._client(connection_pool=pool)  # type: ignore[attr-defined]
                client = self._clients.setdefault(id(pool), made)
        return client


class ReusingRedisCache(RedisCache):
    """`django.core.cache.backends.redis.RedisCache` with `_ReusingClient`; same options."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _ReusingClient

    def counters_incr(self, counts: Sequence[tuple[str, int]]) -> list[int]:
        """`counters_incr` in one transaction and one round trip: SET NX EX then INCR per key."""
        pipe = self._cache.get_client(write=True).pipeline(transaction=True)
        for key, timeout in counts:
            name = self.make_and_validate_key(key)
            pipe.set(name, 0, ex=max(1, timeout), nx=True)
            pipe.incr(name)
        return [int(value) for value in pipe.execute()[1::2]]

    def recent_push(
        self, key: str, value: int, *, keep: int, timeout: int, also: dict[str, Any]
    ) -> None:
        """`recent_push` in one round trip: a Redis list (RPUSH, LTRIM) and the `also` values."""
        client = self._cache.get_client(write=True)
        pipe = client.pipeline(transaction=False)
        name = self.make_and_validate_key(key)
        pipe.rpush(name, int(value))
        pipe.ltrim(name, -keep, -1)
        pipe.expire(name, timeout)
        for other, other_value in also.items():
            pipe.set(
                self.make_and_validate_key(other),
                self._cache._serializer.dumps(other_value),  # type: ignore[attr-defined]
                ex=timeout,
            )
        pipe.execute()

    def recent_read(self, key: str) -> list[int]:
        """The list `recent_push` keeps, oldest first."""
        client = self._cache.get_client(key)
        return [int(v) for v in client.lrange(self.make_and_validate_key(key), 0, -1)]


def counters_incr(cache: BaseCache, counts: Sequence[tuple[str, int]]) -> list[int]:
    """Add one to each counter `(key, timeout)` and return the new values, in order.

    A missing counter starts at 0 and expires `timeout` seconds later; counting does not move
    that. Atomic per counter, so concurrent callers never see the same value. One round trip on
    `ReusingRedisCache` (Django's `add` plus `incr` take three per counter there); any other cache
    takes the portable path.
    """
    fast = getattr(cache, "counters_incr", None)
    if fast is not None:
        return list(fast(counts))
    values = []
    for key, timeout in counts:
        for _ in range(3):
            cache.add(key, 0, timeout=timeout)
            try:
                values.append(int(cache.incr(key)))
                break
            except ValueError:  # expired between add and incr; make it again
                continue
        else:
            raise RuntimeError(f"could not count {key}")
    return values
