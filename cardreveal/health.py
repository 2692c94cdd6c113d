"""Liveness (/healthz) and readiness (/readyz) answers for load balancers and orchestrators.

A middleware answers both paths before sessions, host validation and authentication run, so a
probe that sends the instance address as its Host, over plain HTTP, with no cookie, gets an answer.
It sits right after SecurityMiddleware, which lets the paths through on plain HTTP because
production lists them in SECURE_REDIRECT_EXEMPT.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from django.core.cache import cache
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
# Probes usually give up after 1-5 s; answer well inside that even when a dependency hangs.
CHECK_TIMEOUT_SECONDS = 2.0


def _check_database() -> None:
    """Run `SELECT 1` on a connection of this thread, then close it (the thread is a pool's)."""
    connection = connections["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        connection.close()


def _check_cache() -> None:
    """Write a random value under a probe key and read it back."""
    key = "cardreveal:readyz"
    value = secrets.token_hex(8)
    cache.set(key, value, timeout=30)
    if cache.get(key) != value:
        raise RuntimeError("cache did not return the value just written")


CHECKS: dict[str, Callable[[], None]] = {"database": _check_database, "cache": _check_cache}

_pool = ThreadPoolExecutor(max_workers=len(CHECKS), thread_name_prefix="readyz")
_in_flight: dict[str, Future[None]] = {}
_in_flight_lock = threading.Lock()


def readiness(*, timeout: float = CHECK_TIMEOUT_SECONDS) -> dict[str, str]:
    """Run every dependency check at once, each bounded by `timeout` seconds.

    Returns {name: "ok" | "error" | "timeout"}. A check still hanging from an earlier probe is not
    started again (it reports "timeout"), so a dead dependency cannot pile up threads.
    Failures are logged with the exception type only: driver messages can name hosts and users.
    """
    futures: dict[str, Future[None]] = {}
    with _in_flight_lock:
        for name, check in CHECKS.items():
            running = _in_flight.get(name)
            if running is not None and not running.done():
                futures[name] = running
            else:
                futures[name] = _in_flight[name] = _pool.submit(check)
    results: dict[str, str] = {}
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
        except FutureTimeout:
            results[name] = "timeout"
        except Exception as exc:
            results[name] = "error"
            logger.warning("readiness check %s failed: %s", name, type(exc).__name__)
        else:
            results[name] = "ok"
    return results


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def healthz() -> HttpResponse:
    """200 while the process can answer at all; touches no dependency."""
    return _no_store(JsonResponse({"status": "ok"}))


# What a host cannot serve anything without. The cache is checked and reported but does not take
# the host out: Redis is one store shared by every host, so failing readiness for it would take
# every host out at once, and the load balancer's page would replace the app's own answers (card
# lists still served; reveals and sign-in refused with a 503 that says why: docs/reliability.md).
REQUIRED_CHECKS = frozenset({"database"})


def readyz() -> HttpResponse:
    """200 when the database answers in time ("ok", or "degraded" naming a cache that did not);
    503 "unavailable" when the database did not."""
    checks = readiness()
    if all(result == "ok" for result in checks.values()):
        status, code = "ok", 200
    elif all(checks[name] == "ok" for name in REQUIRED_CHECKS):
        status, code = "degraded", 200
    else:
        status, code = "unavailable", 503
    return _no_store(JsonResponse({"status": status, "checks": checks}, status=code))


class HealthCheckMiddleware:
    """Answers GET/HEAD on /healthz and /readyz; every other request passes through untouched."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == HEALTH_PATH or request.path_info == READY_PATH:
            if request.method not in ("GET", "HEAD"):
                response = HttpResponse(status=405)
                response["Allow"] = "GET, HEAD"
                return _no_store(response)
            return healthz() if request.path_info == HEALTH_PATH else readyz()
        return self.get_response(request)
