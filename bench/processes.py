"""Starting, waiting for and stopping the bench's child processes: every one stops with the run."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
PYTHON = str(VENV_BIN / "python")
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on just now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, *, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    """Return once something accepts connections on `port`; SystemExit when `proc` exits first or
    nothing listens within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"a process exited early ({proc.args!r}); see the logs")
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), 0.5):
            return
        time.sleep(0.2)
    raise SystemExit(f"nothing listened on port {port} within {timeout:.0f} s")


@contextlib.contextmanager
def started(
    argv: list[str], *, env: dict[str, str], log: Path, stdout: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a process in its own session; on exit stop it (TERM, then KILL) and its children."""
    with log.open("wb") as err, (stdout or log).open("ab") as out:
        proc = subprocess.Popen(  # noqa: S603
            argv, cwd=ROOT, env=env, stdout=out, stderr=err, start_new_session=True
        )
    try:
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes], *, timeout: float = 20) -> None:
    """Stop a process started in its own session, and its children: TERM, then KILL."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def run_logged(argv: list[str], *, env: dict[str, str], log: Path, timeout: float) -> None:
    """Run `argv` to its end with its output appended to `log`; SystemExit with the log's tail
    when it fails (subprocess.TimeoutExpired when it runs past `timeout` seconds)."""
    with log.open("ab") as out:
        result = subprocess.run(  # noqa: S603
            argv, cwd=ROOT, env=env, stdout=out, stderr=out, timeout=timeout, check=False
        )
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-2500:]
        raise SystemExit(f"{' '.join(argv[:4])} failed ({result.returncode}):\n{tail}")
