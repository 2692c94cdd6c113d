"""Fixtures of the crash tests: a private PostgreSQL cluster, the provider sandbox with its answers
held until the test releases them, and the app as a real server process on that cluster."""

from __future__ import annotations

import http.client
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from bench.processes import free_port, stop
from providers.sandbox.core import SandboxRequest, SandboxResponse
from providers.sandbox.mastercard import MastercardEmulator
from providers.sandbox.server import start_sandbox
from tests.crash.pg_cluster import PrivateCluster, private_cluster, unavailable_reason

ROOT = Path(__file__).resolve().parents[2]
SERVER_SETTINGS = "tests.crash.server_settings"
START_TIMEOUT = 90  # seconds for migrate + seed + server start on a loaded 2-core machine
HOLD_LIMIT = 60  # a held provider answer goes out after this long even if never released


@pytest.fixture
def pg_cluster() -> Iterator[PrivateCluster]:
    """A private PostgreSQL cluster for this test alone; skipped where none can be started."""
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"needs a private PostgreSQL cluster: {reason}")
    with private_cluster() as cluster:
        yield cluster


class HeldProvider(MastercardEmulator):
    """The Mastercard emulator behind a gate: every request is counted (`requests_received`), and its answer waits
    until the test calls `release()`. `arrived` is set when the first request comes in."""

    def __init__(self, keys_dir: Path) -> None:
        super().__init__(keys_dir)
        self.keys_dir = keys_dir  # the seeding process reads the emulator's keys from here
        self.base_url = ""
        self.arrived = threading.Event()
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._requests = 0

    @property
    def requests_received(self) -> int:
        with self._lock:
            return self._requests

    def release(self) -> None:
        self._released.set()

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        with self._lock:
            self._requests += 1
        self.arrived.set()
        self._released.wait(HOLD_LIMIT)
        return super().handle(request)


@pytest.fixture
def held_provider(tmp_path: Path) -> Iterator[HeldProvider]:
    """The Mastercard sandbox on a free loopback port in this process, its answers held."""
    held = HeldProvider(tmp_path / "sandbox")
    running = start_sandbox(emulators=[held])
    held.base_url = running.base_url
    try:
        yield held
    finally:
        held.release()  # a request still held must not keep the server from stopping
        running.stop()


@dataclass
class Answer:
    status: int
    body: dict[str, Any]

    @property
    def error_code(self) -> str | None:
        error = self.body.get("error")
        return error.get("code") if isinstance(error, dict) else None


@dataclass
class AppServer:
    """The app serving on `port` from a process of its own, on the private cluster."""

    port: int
    card_id: str
    token: str
    totp_key: bytes
    environ: dict[str, str]
    log: Path

    def post(
        self, path: str, body: dict[str, Any], *, token: str = "", request_id: str = ""
    ) -> Answer:
        headers = {"Content-Type": "application/json", "Host": "127.0.0.1"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if request_id:
            headers["X-Request-ID"] = request_id
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=HOLD_LIMIT + 30)
        try:
            conn.request("POST", path, body=json.dumps(body), headers=headers)
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            parsed = {"unparsed": raw[:500].decode("utf-8", "replace")}
        return Answer(response.status, parsed if isinstance(parsed, dict) else {"body": parsed})

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a manage.py command against the same database and settings."""
        return _run([sys.executable, "manage.py", *args], self.environ)

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def _run(command: list[str], environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        command,
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(command[1:])} failed:\n{done.stdout}\n{done.stderr}")
    return done


def _wait_until_serving(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the app server exited ({proc.returncode}):\n{log.read_text()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/v1/cards", headers={"Host": "127.0.0.1"})
            status = conn.getresponse().status
            conn.close()
            if status == 401:  # routed, and asking for a token
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the app server did not start in {START_TIMEOUT} s:\n{log.read_text()}")


@pytest.fixture
def app_server(
    pg_cluster: PrivateCluster, held_provider: HeldProvider, tmp_path: Path
) -> Iterator[AppServer]:
    """Migrate the private cluster, seed a signed-in cardholder with an authenticator and a card on
    the held provider, and serve the app (runserver, test settings) on a free port; the process
    is ended after the test."""
    environ = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "PYTHONDONTWRITEBYTECODE": "1",
        "DJANGO_SETTINGS_MODULE": SERVER_SETTINGS,
        "DATABASE_URL": pg_cluster.url,
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "CARDREVEAL_FIELD_KEYS": Fernet.generate_key().decode(),
    }
    totp_key = secrets.token_bytes(20)
    _run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], environ)
    seeded = _run(
        [
            sys.executable,
            "-m",
            "tests.crash.seed",
            "--sandbox-state",
            str(held_provider.keys_dir),
            "--sandbox-url",
            held_provider.base_url,
            "--username",
            "carol",
            "--totp-key",
            totp_key.hex(),
        ],
        environ,
    )
    seed = json.loads(seeded.stdout.strip().splitlines()[-1])
    port = free_port()
    log = tmp_path / "app-server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_serving(proc, port, log)
        yield AppServer(port, seed["card_id"], seed["token"], totp_key, environ, log)
    finally:
        stop(proc)
