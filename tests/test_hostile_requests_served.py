"""Hostile requests over a raw socket to the real server (gunicorn with gunicorn.conf.py and the
production settings, on PostgreSQL and a private Redis): each is answered with a 4xx by gunicorn or
the app, never a 500, and the server keeps serving; and last, the same server through a Redis
outage: 503s where limits protect accounts, pages still served, all back after."""

from __future__ import annotations

import fcntl
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bench.processes import free_port, stop
from tests.redis_server import REDIS_SERVER, RedisServer

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN_URL = os.environ.get(
    "CARDREVEAL_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"
)
START_TIMEOUT = (
    150  # seconds for collectstatic + migrate + gunicorn boot on a loaded 2-core machine
)
# Shared with tests/test_production.py: collected once, again only when static files change.
STATIC_ROOT = ROOT / "var" / "test-serve" / "staticfiles"
LOGIN = "/api/v1/auth/login"


@dataclass
class Server:
    port: int
    stderr: Path
    redis: RedisServer

    def exchange(self, head: str, body: bytes = b"", *, read_timeout: float = 15) -> bytes:
        """Send `head` (request line and headers, without the blank line) and `body` as they are,
        and return what came back until the server closed or went quiet."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=read_timeout) as sock:
            sock.sendall(head.encode("latin-1") + b"\r\n\r\n" + body)
            received = b""
            try:
                while b"\r\n\r\n" not in received or not _complete(received):
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    received += chunk
            except TimeoutError:
                pass
        return received

    def post(self, path: str, body: bytes, *headers: str, length: str | None = None) -> bytes:
        lines = [
            f"POST {path} HTTP/1.1",
            "Host: 127.0.0.1",
            "X-Forwarded-Proto: https",
            "Content-Type: application/json",
            "Connection: close",
            *headers,
        ]
        if length is not None:
            lines.append(f"Content-Length: {length}")
        return self.exchange("\r\n".join(lines), body)


def _complete(received: bytes) -> bool:
    head, _, body = received.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1."), answer[:200]
    return int(answer.split(b" ", 2)[1])


def _postgres_admin():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """gunicorn -c gunicorn.conf.py, production settings, a throwaway PostgreSQL database."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed")
    try:
        _postgres_admin().close()
    except Exception as exc:
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {type(exc).__name__}")
    workdir = tmp_path_factory.mktemp("hostile")
    redis = RedisServer(workdir)
    redis.start()
    database = f"hostile_served_{secrets.token_hex(4)}"
    with _postgres_admin() as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    port = free_port()
    environ = {
        "PATH": os.environ["PATH"],
        "HOME": str(workdir),
        "DJANGO_SETTINGS_MODULE": "cardreveal.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        # Passkeys are made for "localhost" (an IP address is no RP ID); not used by these tests.
        "CARDREVEAL_PASSKEY_RP_ID": "localhost",
        "CARDREVEAL_PASSKEY_ORIGINS": "https://localhost",
        "DATABASE_URL": POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + database,
        "REDIS_URL": redis.url,
        "CARDREVEAL_FIELD_KEYS": Fernet.generate_key().decode(),
        "CARDREVEAL_BANK_CONTACT_NAME": "Example Bank",
        "CARDREVEAL_BANK_CONTACT_PHONE": "+44 20 7946 0000",
        "CARDREVEAL_FRAUD_ALERT_EMAIL": "fraud-team@bank.example",
        "DJANGO_STATIC_ROOT": str(STATIC_ROOT),
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "4",
        "GUNICORN_ACCESS_LOG": "",
    }
    bin_dir = Path(sys.executable).parent
    stderr = workdir / "stderr.log"
    proc = None
    STATIC_ROOT.parent.mkdir(parents=True, exist_ok=True)
    try:
        # The pages need collected static files (production's manifest storage): make's rule for
        # them, under the lock tests/test_production.py takes for the same folder.
        with (STATIC_ROOT.parent / "collect.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            subprocess.run(
                [  # noqa: S607
                    "make",
                    "--no-print-directory",
                    "-o",
                    f"{bin_dir.parent}/.installed",
                    f"VENV={bin_dir.parent}",
                    f"{STATIC_ROOT}/staticfiles.json",
                ],
                cwd=ROOT,
                env=environ,
                check=True,
                timeout=START_TIMEOUT,
            )
        subprocess.run(
            [str(bin_dir / "python"), "manage.py", "migrate", "--noinput", "-v0"],
            cwd=ROOT,
            env=environ,
            check=True,
            timeout=START_TIMEOUT,
        )
        with stderr.open("wb") as err:
            proc = subprocess.Popen(
                [str(bin_dir / "gunicorn"), "-c", "gunicorn.conf.py"],
                cwd=ROOT,
                env=environ,
                stdout=err,
                stderr=err,
                start_new_session=True,
            )
        served = Server(port, stderr, redis)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"gunicorn exited with {proc.returncode}:\n{stderr.read_text()[-3000:]}"
                )
            try:
                if (
                    status_of(
                        served.exchange("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1", read_timeout=2)
                    )
                    == 200
                ):
                    break
            except (OSError, AssertionError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not answer within {START_TIMEOUT} s")
            time.sleep(0.25)
        yield served
    finally:
        if proc is not None:
            stop(proc, timeout=30)
        redis.stop()
        with _postgres_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture(autouse=True)
def _still_serving(server: Server) -> Iterator[None]:
    """After each hostile request the server answers an ordinary one, and logged no server error."""
    yield
    answer = server.exchange("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close")
    assert status_of(answer) == 200
    assert "Internal Server Error" not in server.stderr.read_text()


def test_an_impossible_content_length_is_refused_with_413_without_waiting_for_the_body(server):
    answer = server.post(LOGIN, b"{", length="99999999999")
    assert status_of(answer) == 413
    assert b'"request_too_large"' in answer


def test_a_30_mb_body_is_refused_with_413_before_it_is_read(server):
    answer = server.post(LOGIN, b" " * (1024 * 1024), length=str(30 * 1024 * 1024))
    assert status_of(answer) == 413
    assert b"at most 2.5 MB" in answer


@pytest.mark.parametrize("length", ["-1", "12abc", "0x10", "1, 2"])
def test_a_content_length_that_is_not_a_number_is_a_400(server, length):
    assert status_of(server.post(LOGIN, b"{}", length=length)) == 400


def test_a_chunked_body_is_refused_with_411(server):
    chunked = b"2\r\n{}\r\n0\r\n\r\n"
    answer = server.post(LOGIN, chunked, "Transfer-Encoding: chunked")
    assert status_of(answer) == 411
    assert b'"length_required"' in answer


def test_json_nested_100000_deep_is_a_400(server):
    body = b"[" * 100_000
    answer = server.post(LOGIN, body, length=str(len(body)))
    assert status_of(answer) == 400
    assert b'"json_too_deep"' in answer


def test_fourteen_deep_bodies_in_a_row_at_sign_in_end_in_429s(server):
    body = b"[" * 100_000
    statuses = [status_of(server.post(LOGIN, body, length=str(len(body)))) for _ in range(14)]
    assert set(statuses) <= {400, 429}, statuses
    assert statuses[-1] == 429, statuses


def test_connections_left_open_after_a_refused_huge_body_do_not_hold_the_workers_threads(server):
    # gunicorn drains an unread body for a bounded time (a few seconds) before it closes the
    # connection, so more such connections than threads only delay the next request.
    held = []
    try:
        for _ in range(6):  # more than the worker's 4 threads
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=15)
            head = (
                f"POST {LOGIN} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Proto: https\r\n"
                "Content-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n{"
            )
            sock.sendall(head.encode())
            assert sock.recv(65536).startswith(b"HTTP/1.1 413")
            sock.sendall(b" " * 65536)  # the body keeps coming on a kept-alive connection
            held.append(sock)
        answer = server.exchange("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close")
        assert status_of(answer) == 200
    finally:
        for sock in held:
            sock.close()


def test_a_30_mb_sign_in_form_is_a_413_page(server):
    head = "\r\n".join(
        [
            "POST /accounts/login/ HTTP/1.1",
            "Host: 127.0.0.1",
            "X-Forwarded-Proto: https",
            "Content-Type: application/x-www-form-urlencoded",
            f"Content-Length: {30 * 1024 * 1024}",
            "Connection: close",
        ]
    )
    answer = server.exchange(head, b"username=" + b"a" * 65536)
    assert status_of(answer) == 413
    assert b"text/html" in answer.split(b"\r\n\r\n", 1)[0]
    assert b"That request was too large" in answer


def test_through_the_server_a_redis_outage_is_a_503_at_sign_in_and_pages_still_serve(server):
    # Last in this module: it stops the module's Redis, and starts it again (empty).
    body = b'{"username": "nobody", "password": "wrong", "otp_code": "123456"}'
    server.redis.stop()
    try:
        answer = server.post(LOGIN, body, length=str(len(body)))
        assert status_of(answer) == 503
        assert b"Retry-After: 30" in answer
        assert b'"limits_unavailable"' in answer
        page = server.exchange(
            "GET /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Proto: https\r\n"
            "Connection: close"
        )
        assert status_of(page) == 200
        # Still ready (the one Redis is every host's): the app answers for itself, not the
        # load balancer's page.
        ready = server.exchange("GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close")
        assert status_of(ready) == 200
        assert b'"degraded"' in ready
    finally:
        server.redis.start()
    answer = server.post(LOGIN, body, length=str(len(body)))
    assert status_of(answer) == 400
    assert b'"invalid_credentials"' in answer
