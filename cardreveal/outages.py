"""What an outage of Redis or PostgreSQL means (docs/reliability.md): the errors each raises, the
wait to advise, a session cache that falls back to the database, and a 503 page instead of a 500."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable
from typing import Any

from django.core.cache.backends.redis import RedisCache
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views import defaults
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# What Django's Redis cache raises when Redis is down, unreachable, too slow or restarting.
CACHE_ERRORS: tuple[type[Exception], ...] = (RedisError,)

# What Django raises when the database cannot be reached or its connection breaks (server down,
# restarting or failing over; also a lock or serialisation conflict it asks to retry).
DATABASE_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)

# Either store failing: answered 503 with Retry-After, never 500.
OUTAGE_ERRORS: tuple[type[Exception], ...] = CACHE_ERRORS + DATABASE_ERRORS

# Seconds a refusal for want of Redis tells the client to wait (Retry-After): a restart or a
# failover takes about this long.
OUTAGE_RETRY_AFTER = 30

OUTAGE_MESSAGE = (
    "Part of our system is unavailable for a moment, so this was not done. Try again in a minute."
)


class SessionCopyCache(RedisCache):
    """Django's Redis cache for the copies of sessions that `cached_db` keeps (their database rows
    are the truth): while Redis fails, a read is a miss and a write is skipped, so sessions are read
    from and written to the database alone and nobody is signed out or kept from signing in.

    A failed delete is logged: a copy left in a Redis that was unreachable but kept its data
    outlives the sign-out until it expires (at most the idle timeout, SESSION_COOKIE_AGE).
    """

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        try:
            return super().get(key, default, version)
        except CACHE_ERRORS:
            _warn("read")
            return default

    def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        try:
            return super().get_many(keys, version)
        except CACHE_ERRORS:
            _warn("read")
            return {}

    def has_key(self, key: Any, version: int | None = None) -> bool:
        try:
            return bool(super().has_key(key, version))
        except CACHE_ERRORS:
            _warn("read")
            return False

    def set(self, key: Any, value: Any, timeout: Any = None, version: int | None = None) -> None:
        try:
            super().set(key, value, timeout, version)
        except CACHE_ERRORS:
            _warn("write")

    def add(self, key: Any, value: Any, timeout: Any = None, version: int | None = None) -> bool:
        try:
            return bool(super().add(key, value, timeout, version))
        except CACHE_ERRORS:
            _warn("write")
            return False

    def touch(self, key: Any, timeout: Any = None, version: int | None = None) -> bool:
        try:
            return bool(super().touch(key, timeout, version))
        except CACHE_ERRORS:
            _warn("write")
            return False

    def delete(self, key: Any, version: int | None = None) -> bool:
        try:
            return bool(super().delete(key, version))
        except CACHE_ERRORS:
            logger.error(
                "session copy not deleted from the cache (Redis unavailable): it lapses at its "
                "expiry; the database row is gone"
            )
            return False


def _warn(what: str) -> None:
    logger.warning("session cache %s failed (Redis unavailable): using the database alone", what)


class OutageMiddleware:
    """A page whose view fails because Redis or the database does is a 503 with Retry-After and a
    plain sentence, not a 500 (`outage_response`). (The API's exception handler does the same in
    its own shape, and `server_error` for what fails before any view.)"""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OUTAGE_ERRORS):
            return None
        return outage_response(request, exception)


def outage_store(exception: BaseException) -> str:
    """Which store an OUTAGE_ERRORS exception says is unavailable: "Redis" or "the database"."""
    return "Redis" if isinstance(exception, CACHE_ERRORS) else "the database"


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: Django calls it for an exception no view or middleware answered, still inside
    its `except` block. A store's outage raised where only a middleware was running (a session
    read, the signed-in user's lookup) is the same 503 as anywhere else (`outage_response`); any
    other failure is Django's own 500 page."""
    exception = sys.exc_info()[1]
    if not isinstance(exception, OUTAGE_ERRORS):
        return defaults.server_error(request)
    return outage_response(request, exception)


def outage_response(request: HttpRequest, exception: BaseException) -> HttpResponse:
    """The 503 for a request that failed because a store did, with Retry-After: JSON
    (`temporarily_unavailable`) under /api/ and wherever the page's own script asks for it
    (Accept: application/json), else the page saying so. Logs which store, never the driver's
    words."""
    logger.warning(
        "%s failed: %s unavailable (%s)",
        request.path,
        outage_store(exception),
        type(exception).__name__,
    )
    response: HttpResponse
    if request.path.startswith("/api/") or _wants_json(request):
        response = JsonResponse(
            {
                "error": {
                    "code": "temporarily_unavailable",
                    "message": OUTAGE_MESSAGE,
                    "request_id": str(getattr(request, "request_id", "") or ""),
                }
            },
            status=503,
        )
    else:
        response = HttpResponse(_outage_page(request), status=503)
    response["Retry-After"] = str(OUTAGE_RETRY_AFTER)
    return response


def _outage_page(request: HttpRequest) -> str:
    """The page, with the request's context (the signed-in user's navigation) where the stores
    let it be built, else without it."""
    context = {"message": OUTAGE_MESSAGE}
    try:
        return render_to_string("service_unavailable.html", context, request=request)
    except OUTAGE_ERRORS:
        return render_to_string("service_unavailable.html", context)


def _wants_json(request: HttpRequest) -> bool:
    """The caller asked for JSON first (the reveal page's script does), not a browser's */*."""
    accept = request.headers.get("Accept", "")
    return accept.split(",")[0].split(";")[0].strip() == "application/json"
