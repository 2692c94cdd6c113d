"""The sign-in limits live in Redis: failures counted by another host count here, and a Redis
outage closes every sign-in door with a 503 (the limits cannot be counted) before any password is
checked."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.test import Client

from cardreveal.accounts.models import AccountSecurity

REPO = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/9"  # this suite's own database number for these tests
ATTACKER = "198.51.100.7"

_OTHER_HOST = """
import sys
import django
from django.conf import settings
settings.CACHES = {"default": {
    "BACKEND": "django.core.cache.backends.redis.RedisCache",
    "LOCATION": sys.argv[1],
    "KEY_PREFIX": sys.argv[2],
}}
django.setup()
from cardreveal.accounts.sign_in_limits import sign_in_failure_count
for n in range(20):
    sign_in_failure_count(address="198.51.100.7", username=f"user{n}")
"""


def _redis_reachable() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except Exception:
        return False


def _redis_cache(url: str, prefix: str = "") -> dict[str, object]:
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": prefix,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }


def _clear_of_a_window_end(settings) -> None:
    """Wait out the last seconds of a limits window, so the other host's count and this check
    fall in the same one."""
    length = settings.CARDREVEAL_SIGN_IN_LIMIT_WINDOW_SECONDS
    left = length - time.time() % length
    if left < 10:
        time.sleep(left + 0.1)


@pytest.mark.skipif(not _redis_reachable(), reason=f"Redis is not reachable at {REDIS_URL}")
def test_failures_counted_by_another_host_pause_this_ones_door(alice, settings):
    prefix = f"test-{uuid.uuid4().hex}"  # this run's keys only: nothing else in Redis is touched
    settings.CACHES = _redis_cache(REDIS_URL, prefix)
    _clear_of_a_window_end(settings)
    try:
        other = subprocess.run(
            [sys.executable, "-c", _OTHER_HOST, REDIS_URL, prefix],
            cwd=REPO,
            env={
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "cardreveal.settings.test",
                "REDIS_URL": REDIS_URL,
                "PYTHONPATH": str(REPO),
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert other.returncode == 0, other.stderr
        here = Client(REMOTE_ADDR=ATTACKER)
        response = here.post("/accounts/login/", {"username": "alice", "password": alice.password})
        assert response.status_code == 429
        assert int(response["Retry-After"]) > 0
        elsewhere = Client(REMOTE_ADDR="203.0.113.20")
        assert (
            elsewhere.post(
                "/accounts/login/", {"username": "alice", "password": alice.password}
            ).status_code
            == 302
        )
    finally:  # this run's keys only (Django's cache.clear() would empty the whole database)
        import redis

        store = redis.Redis.from_url(REDIS_URL)
        for key in store.scan_iter(f"{prefix}:*"):
            store.delete(key)


def test_a_redis_outage_pauses_every_sign_in_door_with_a_503_before_any_password_is_checked(
    alice, settings
):
    with socket.socket() as probe:  # a port nothing listens on: Redis is down
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CACHES = _redis_cache(f"redis://127.0.0.1:{port}/0")
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"
    web = Client(REMOTE_ADDR=ATTACKER).post(
        "/accounts/login/", {"username": "alice", "password": alice.password}
    )
    admin = Client(REMOTE_ADDR=ATTACKER).post(
        "/admin/login/", {"username": "alice", "password": "guess", "code": "123456"}
    )
    api = Client(REMOTE_ADDR=ATTACKER).post(
        "/api/v1/auth/login",
        {"username": "alice", "password": "guess", "code": "123456"},
        content_type="application/json",
    )
    for response in (web, admin, api):
        assert response.status_code == 503, response.content[:300]
        assert response["Retry-After"] == "30"
    assert b"Try again in a minute" in web.content
    assert api.json()["error"]["code"] in {"temporarily_unavailable", "limits_unavailable"}
    # no password was checked, so no failure was counted against the account
    assert not AccountSecurity.objects.filter(user=alice.user, failed_attempts__gt=0).exists()
