"""Production mode: `make serve` runs gunicorn on PostgreSQL and Redis and answers health checks;
the health and readiness answers; JSON log lines."""

from __future__ import annotations

import fcntl
import gzip
import http.client
import json
import logging
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.db.utils import OperationalError

from bench.processes import free_port, stop
from cardreveal import health
from cardreveal.logging import JsonFormatter

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN_URL = os.environ.get(
    "CARDREVEAL_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"
)
REDIS_TEST_URL = os.environ.get("CARDREVEAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/12")
START_TIMEOUT = 150  # seconds for collectstatic + migrate + gunicorn boot on a slow CI machine
LOAD_BALANCER_HOST = "10.0.0.7:8000"  # a probe's Host: the instance address, not a site name
STATIC_ROOT = ROOT / "var" / "test-serve" / "staticfiles"


# ---------------------------------------------------------------------------------- the real server


@dataclass
class Served:
    port: int
    stdout: Path
    stderr: Path

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, headers={"Host": "127.0.0.1", **(headers or {})})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def access_lines(self) -> list[dict[str, object]]:
        # make echoes its recipe lines on stdout; everything else there is gunicorn's JSON.
        lines = self.stdout.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def error_lines(self) -> list[dict[str, object]]:
        # Every line on stderr must be JSON: json.loads fails the test on any other line.
        return [json.loads(line) for line in self.stderr.read_text().splitlines() if line.strip()]


def _postgres_admin():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)


def _require_postgres_and_redis() -> None:
    try:
        _postgres_admin().close()
    except Exception as exc:
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {type(exc).__name__}")
    _require_redis()


def _require_redis() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=3).ping()
    except Exception as exc:
        pytest.skip(f"Redis is not reachable at {REDIS_TEST_URL}: {type(exc).__name__}")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`make serve` with production settings on a throwaway PostgreSQL database and a free port."""
    _require_postgres_and_redis()
    database = f"cardreveal_serve_{secrets.token_hex(4)}"
    with _postgres_admin() as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    workdir = tmp_path_factory.mktemp("serve")
    port = free_port()
    environ = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(workdir)),
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        # Passkeys are made for "localhost" (an IP address is no RP ID); not used by these tests.
        "CARDREVEAL_PASSKEY_RP_ID": "localhost",
        "CARDREVEAL_PASSKEY_ORIGINS": "https://localhost",
        "DATABASE_URL": POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + database,
        "REDIS_URL": REDIS_TEST_URL,
        "CACHE_KEY_PREFIX": f"serve-test-{secrets.token_hex(4)}",
        "CARDREVEAL_FIELD_KEYS": Fernet.generate_key().decode(),
        "CARDREVEAL_BANK_CONTACT_NAME": "Example Bank",
        "CARDREVEAL_BANK_CONTACT_PHONE": "+44 20 7946 0000",
        "CARDREVEAL_FRAUD_ALERT_EMAIL": "fraud-team@bank.example",
        # Kept between runs: `make serve` collects again only when static files change.
        "DJANGO_STATIC_ROOT": str(STATIC_ROOT),
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "4",
    }
    stdout, stderr = workdir / "stdout.log", workdir / "stderr.log"
    venv = Path(sys.executable).parent.parent
    STATIC_ROOT.parent.mkdir(parents=True, exist_ok=True)
    # Two suites at once (a developer and CI) must not collect into the same folder together.
    stack_lock = (STATIC_ROOT.parent / "collect.lock").open("w")
    fcntl.flock(stack_lock, fcntl.LOCK_EX)
    with stdout.open("wb") as out, stderr.open("wb") as err:
        # -o: never reinstall the virtualenv from inside a test; the suite already runs in it.
        proc = subprocess.Popen(
            ["make", "--no-print-directory", "-o", f"{venv}/.installed", f"VENV={venv}", "serve"],  # noqa: S607
            cwd=ROOT,
            env=environ,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    server = Served(port, stdout, stderr)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"make serve exited with {proc.returncode}:\n{stderr.read_text()[-3000:]}"
                )
            try:
                if server.request("GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"make serve did not answer within {START_TIMEOUT} s")
            time.sleep(0.25)
        stack_lock.close()  # collected; the next suite may go
        yield server
    finally:
        stack_lock.close()
        stop(proc, timeout=30)
        with _postgres_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def test_make_serve_answers_healthz_over_plain_http_for_any_host(served: Served) -> None:
    status, headers, body = served.request("GET", "/healthz", {"Host": LOAD_BALANCER_HOST})
    assert status == 200
    assert json.loads(body) == {"status": "ok"}
    assert headers["Cache-Control"] == "no-store"


def test_make_serve_is_ready_when_postgresql_and_redis_answer(served: Served) -> None:
    status, _, body = served.request("GET", "/readyz", {"Host": LOAD_BALANCER_HOST})
    assert status == 200
    assert json.loads(body) == {"status": "ok", "checks": {"database": "ok", "cache": "ok"}}


def test_make_serve_redirects_pages_to_https_but_not_the_probes(served: Served) -> None:
    status, headers, _ = served.request("GET", "/accounts/login/")
    assert status == 301
    assert headers["Location"] == "https://127.0.0.1/accounts/login/"


def test_make_serve_serves_pages_behind_a_tls_proxy_with_compressed_hashed_static_files(
    served: Served,
) -> None:
    status, headers, body = served.request(
        "GET", "/accounts/login/", {"X-Forwarded-Proto": "https"}
    )
    assert status == 200
    assert "max-age=63072000" in headers["Strict-Transport-Security"]
    assert "gunicorn/" not in headers.get("Server", "")  # no version banner
    stylesheet = re.search(rb'href="(/static/css/app\.[0-9a-f]{12}\.css)"', body)
    assert stylesheet is not None, "collectstatic's hashed name should be in the page"
    status, headers, css = served.request(
        "GET",
        stylesheet.group(1).decode(),
        {"X-Forwarded-Proto": "https", "Accept-Encoding": "gzip"},
    )
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert "immutable" in headers["Cache-Control"]
    assert gzip.decompress(css).strip()


def test_make_serve_writes_json_access_lines_without_query_strings(served: Served) -> None:
    # A path no other test of this module requests from the same server, so the line is ours.
    served.request("GET", "/cards/?next=/cards/&token=do-not-log-me")
    deadline = time.monotonic() + 10
    while '"/cards/"' not in served.stdout.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)  # gunicorn writes the access line after the response
    lines = served.access_lines()
    ours = [line for line in lines if line.get("path") == "/cards/"]
    assert len(ours) == 1, lines
    assert ours[0]["status_code"] == 301  # plain HTTP is redirected before anything else
    assert ours[0]["method"] == "GET"
    assert "do-not-log-me" not in served.stdout.read_text() + served.stderr.read_text()
    # Probes that succeed stay out of the access log.
    assert not [line for line in lines if line.get("path") == "/healthz"]


def test_make_serve_error_log_is_json_lines(served: Served) -> None:
    # collectstatic and migrate run first and print nothing at -v0; everything after is gunicorn's.
    lines = served.error_lines()
    assert any("Booting worker" in str(line["message"]) for line in lines)
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)


# ---------------------------------------------------------------------------------- in process


@pytest.mark.django_db
def test_healthz_touches_no_dependency(client, django_assert_num_queries) -> None:
    with django_assert_num_queries(0):
        response = client.get("/healthz", HTTP_HOST="10.0.0.7")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_200_when_database_and_cache_answer(client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "cache": "ok"}


@pytest.mark.django_db
def test_readyz_stays_200_but_names_the_cache_degraded_when_redis_is_down(client, settings) -> None:
    # Redis is shared by every host: failing readiness for it would take them all out at once.
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{dead}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "degraded",
        "checks": {"database": "ok", "cache": "error"},
    }
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_readyz_is_503_and_names_the_database_without_echoing_its_error(
    client, monkeypatch, caplog
) -> None:
    def broken() -> None:
        raise OperationalError('connection to server at "db.internal" failed: password=hunter2')

    monkeypatch.setitem(health.CHECKS, "database", broken)
    monkeypatch.setattr(health, "_in_flight", {})
    with caplog.at_level(logging.WARNING, logger="cardreveal.health"):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "error", "cache": "ok"}
    assert "hunter2" not in response.content.decode() + caplog.text
    assert "db.internal" not in response.content.decode() + caplog.text
    assert "OperationalError" in caplog.text


def test_readiness_bounds_a_hanging_check_and_does_not_pile_up_threads(monkeypatch) -> None:
    release = threading.Event()
    calls: list[int] = []

    def hangs() -> None:
        calls.append(1)
        release.wait(30)

    monkeypatch.setattr(health, "CHECKS", {"database": hangs})
    monkeypatch.setattr(health, "_in_flight", {})
    try:
        assert health.readiness(timeout=0.05) == {"database": "timeout"}
        assert health.readiness(timeout=0.05) == {"database": "timeout"}
        assert len(calls) == 1
    finally:
        release.set()


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_only_get_and_head(client, path) -> None:
    response = client.post(path)
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"


def test_probes_skip_the_https_redirect_that_pages_get(client, settings) -> None:
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    assert client.get("/healthz", HTTP_HOST="10.0.0.7").status_code == 200
    page = client.get("/accounts/login/")
    assert page.status_code == 301
    assert page["Location"].startswith("https://")


# ---------------------------------------------------------------------------------- JSON log lines


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("cardreveal.test", logging.ERROR, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


def test_json_formatter_writes_one_line_with_the_listed_fields_only() -> None:
    class Request:
        def __repr__(self) -> str:
            return "<request Cookie: __Host-sessionid=secret-session>"

    record = _record(
        "Internal Server Error: %s\nforged line", "/cards/", request=Request(), status_code=500
    )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    payload = json.loads(line)
    assert payload["message"] == "Internal Server Error: /cards/\nforged line"
    assert payload["status_code"] == 500
    assert payload["level"] == "ERROR"
    assert payload["logger"] == "cardreveal.test"
    assert payload["time"].endswith("+00:00")
    assert "request" not in payload
    assert "secret-session" not in line


def test_json_formatter_includes_the_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = _record("failed")
        record.exc_info = sys.exc_info()
    payload = json.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in payload["exception"]


# ---------------------------------------------------------------------------------- Redis cache


@pytest.fixture(params=["locmem", "redis"])
def counter_cache(request):
    """A local-memory cache and Django's Redis cache, as the embedded default and production
    use them."""
    from django.core.cache.backends.locmem import LocMemCache
    from django.core.cache.backends.redis import RedisCache

    if request.param == "locmem":
        yield LocMemCache(f"counters-{secrets.token_hex(4)}", {})
        return
    _require_redis()
    cache = RedisCache(REDIS_TEST_URL, {"KEY_PREFIX": f"counters-{secrets.token_hex(4)}"})
    yield cache
    cache.clear()


def test_concurrent_reveals_never_take_more_than_the_quota(
    counter_cache, monkeypatch, settings
) -> None:
    from concurrent.futures import ThreadPoolExecutor
    from types import SimpleNamespace

    from cardreveal.cards import quotas

    monkeypatch.setattr(quotas, "cache", counter_cache)
    settings.CARDREVEAL_REVEALS_PER_CARD_DAY = 7
    settings.CARDREVEAL_REVEALS_PER_USER_HOUR = 1000
    card = SimpleNamespace(pk="card-1")

    def reserve(user_id: int) -> bool:
        try:
            quotas.reveal_quota_reserve(user=SimpleNamespace(pk=user_id), card=card)
        except quotas.RevealQuotaExceeded:
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        taken = list(pool.map(reserve, range(60)))
    assert taken.count(True) == 7


def test_breaker_stats_read_back_the_same_on_redis_as_on_any_cache(counter_cache) -> None:
    # The admin's snapshot reads back what the breaker recorded, on Redis as on local memory.
    from providers.breaker import BreakerPolicy, CircuitBreaker, Outcome

    now = [1_000.0]
    breaker = CircuitBreaker(
        key=f"stats-{secrets.token_hex(4)}",
        policy=BreakerPolicy(threshold=3, cooldown=30),
        cache=counter_cache,
        clock=lambda: now[0],
    )
    try:
        assert breaker.snapshot().recent_latencies_ms == ()
        breaker.record(breaker.before_call(), Outcome.SUCCESS, latency_ms=40)
        now[0] += 5
        breaker.record(breaker.before_call(), Outcome.FAILURE, latency_ms=900, code="timeout")
        health = breaker.snapshot()
        assert health.recent_latencies_ms == (40, 900)
        assert (health.last_success, health.last_failure) == (1_000.0, 1_005.0)
        assert (health.last_failure_code, health.consecutive_failures) == ("timeout", 1)
        for ms in range(30):
            breaker.record(breaker.before_call(), Outcome.SUCCESS, latency_ms=ms)
        assert breaker.snapshot().recent_latencies_ms == tuple(range(10, 30))  # the last 20
        breaker.reset()
        assert breaker.snapshot().recent_latencies_ms == ()
        assert breaker.snapshot().last_success is None
    finally:
        breaker.reset()
