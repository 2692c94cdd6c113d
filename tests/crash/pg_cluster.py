"""A private PostgreSQL cluster on loopback for one test: its own data folder, port and socket
folder; started, crashed (an immediate stop, so the next start replays the WAL) and removed."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.processes import free_port

POSTGRES_VERSIONS = Path("/usr/lib/postgresql")  # Debian's layout: <version>/bin/initdb, pg_ctl
OWNER = "postgres"  # initdb refuses to run as root
_TIMEOUT = 120  # seconds for any one initdb or pg_ctl run on a loaded machine

# A commit that does not wait for the disk (`synchronous_commit = off`) stays in PostgreSQL's
# shared memory until the WAL writer writes it out, at most `wal_writer_delay` later (200 ms by
# default); a server crash before then loses it, and a machine crash or power cut loses anything
# not yet flushed, up to three such delays. 10 s, the longest PostgreSQL allows, keeps the window
# open for the whole crash in the test, however the machine schedules it, so a commit that was
# not flushed is lost every time; a commit that waits for the disk survives any setting.
_SETTINGS = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{socket_dir}'
max_connections = 30
shared_buffers = 32MB
fsync = on
synchronous_commit = on
wal_writer_delay = 10s
autovacuum = off            # no background transaction commits while the test waits
"""


def postgres_bin_dir() -> Path | None:
    """The newest installed PostgreSQL's bin folder with initdb and pg_ctl, or None."""
    found = [
        path
        for path in POSTGRES_VERSIONS.glob("*/bin")
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file()
    ]

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in path.parent.name.split(".") if part.isdigit())

    return max(found, key=version, default=None)


def unavailable_reason() -> str | None:
    """Why a private cluster cannot be started here, or None when it can."""
    if postgres_bin_dir() is None:
        return f"no PostgreSQL server binaries under {POSTGRES_VERSIONS}/<version>/bin"
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root and runuser is missing (initdb refuses to run as root)"
        try:
            pwd.getpwnam(OWNER)
        except KeyError:
            return f"running as root and there is no {OWNER!r} user to run initdb as"
    return None


class PrivateCluster:
    """One cluster in a temporary folder, run by the `postgres` user when we are root.

    `url` is for the superuser `postgres` (trust authentication, loopback only).
    """

    def __init__(self, bin_dir: Path, root: Path, port: int) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.port = port
        self.data = root / "data"
        self.socket_dir = root / "socket"
        self.log = root / "postgres.log"
        self._as_owner = ["runuser", "-u", OWNER, "--"] if os.geteuid() == 0 else []

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [*self._as_owner, str(self.bin_dir / tool), *args]
        done = subprocess.run(
            command, cwd=self.root, capture_output=True, text=True, timeout=_TIMEOUT, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{tool} {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
                f"\n--- server log ---\n{self.log_text()}"
            )

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def init(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",  # a throwaway cluster; its own commits still flush (fsync = on)
            "--no-instructions",
        )
        self.socket_dir.mkdir()
        self.give_to_server(self.socket_dir)
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(_SETTINGS.format(port=self.port, socket_dir=self.socket_dir))

    def start(self) -> None:
        """Start the server and wait until it accepts connections (after crash recovery, if
        the last stop was a crash)."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "90", "start")

    def crash(self) -> None:
        """Stop the server the way a crash does: every process quits at once, nothing is
        flushed or checkpointed; the next start runs crash recovery from the WAL."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "60", "stop")

    def stop(self) -> None:
        """Stop the server if it runs; kill its postmaster (by the pid it wrote) if it will not."""
        pid_file = self.data / "postmaster.pid"
        if not pid_file.exists():
            return
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")
        except (RuntimeError, subprocess.TimeoutExpired):
            try:
                pid = int(pid_file.read_text().split()[0])
                os.kill(pid, signal.SIGQUIT)  # the postmaster ends its children itself
            except (OSError, ValueError, IndexError):
                pass

    def give_to_server(self, path: Path) -> None:
        """Make `path` a folder only the server's user can use."""
        if self._as_owner:
            owner = pwd.getpwnam(OWNER)
            os.chown(path, owner.pw_uid, owner.pw_gid)
        path.chmod(0o700)


@contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """A started private cluster; stopped and its folder removed on exit, whatever happened.

    The folder is made directly under the system temp folder: pytest's own temp folders are
    readable by their owner only, and the server runs as another user.
    """
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise RuntimeError(unavailable_reason())
    root = Path(tempfile.mkdtemp(prefix="cardreveal-pg-"))
    cluster = PrivateCluster(bin_dir, root, free_port())
    try:
        cluster.give_to_server(root)
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        try:
            cluster.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)
