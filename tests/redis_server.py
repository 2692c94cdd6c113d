"""A private redis-server on a free loopback port that a test can stop, pause and start again."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.processes import free_port

REDIS_SERVER = shutil.which("redis-server")


class RedisServer:
    """redis-server on 127.0.0.1:`port`, no persistence; `stop()` kills it, `start()` brings it
    back on the same port (empty: what a restarted Redis without persistence holds)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def cache_settings(self) -> dict[str, object]:
        """A CACHES entry for Django's Redis backend with production's short timeouts."""
        return {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": self.url,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }

    def start(self) -> None:
        assert REDIS_SERVER is not None
        argv = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "no", "--dir", str(self.workdir)]
        log = (self.workdir / "redis.log").open("ab")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 1),
            ):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(
            f"redis-server did not start: {(self.workdir / 'redis.log').read_text()}"
        )

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections hang until the client's timeout, as across a
        partition, and it keeps its data for `resume()`."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a paused one too
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A running private Redis, killed after the test; skips when redis-server is not installed."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
