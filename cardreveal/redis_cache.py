"""Django's Redis cache, keeping one client object per connection pool instead of one per call."""

from __future__ import annotations

import threading
from typing import Any

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
