"""The stack `make bench` measures, started and stopped in one place: database, Redis, sink, sandbox, gunicorns."""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet

from bench.app_client import App, wait_ready
from bench.processes import (
    LOOPBACK,
    PYTHON,
    ROOT,
    VENV_BIN,
    free_port,
    run_logged,
    started,
    wait_for_port,
)
from bench.smtp_sink import SmtpSink


@dataclass(frozen=True)
class Server:
    """A gunicorn the load runs aim at: its port, its process ids (for the CPU meter), its log."""

    port: int
    pids: set[int]
    access_log: Path


@dataclass(frozen=True)
class Stack:
    """Everything a started stack offers the measurements."""

    workdir: Path  # var/bench/<run>/: logs and results
    env: dict[str, str]  # the environment every bench process runs with
    app: App  # the app's own gunicorn
    servers: dict[str, Server]  # "app", and "floors" when the floor server runs
    sandbox_pid: int
    sink: SmtpSink
    users_file: Path  # the seeded cardholders (bench/seed.py)

    @property
    def sessions_file(self) -> Path:
        return self.workdir / "sessions.json"

    def cpu_roots(self, server: str = "app") -> dict[str, set[int]]:
        """The process groups the CPU meter follows, the app's being `server`'s."""
        return {"app": self.servers[server].pids, "sandbox": {self.sandbox_pid}}


def check_services(pg_url: str, redis_url: str) -> None:
    """SystemExit naming the service when PostgreSQL or Redis does not answer."""
    import psycopg
    import redis

    try:
        psycopg.connect(pg_url, connect_timeout=3).close()
    except Exception as exc:
        raise SystemExit(f"PostgreSQL is not reachable at {pg_url}: {exc}") from None
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except Exception as exc:
        raise SystemExit(f"Redis is not reachable at {redis_url}: {exc}") from None


def bench_env(
    args: argparse.Namespace, *, workdir: Path, database: str, prefix: str, ports: dict[str, int]
) -> dict[str, str]:
    """The environment of every process the bench starts: production settings on the throwaway
    database and the run's Redis prefix, fresh secrets, mail to the sink."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(workdir)),
        "PYTHONDONTWRITEBYTECODE": "1",
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": f"{LOOPBACK},localhost",
        # The load test authorises reveals with codes; passkeys need a name, not an address.
        "CARDREVEAL_PASSKEY_RP_ID": "localhost",
        "CARDREVEAL_PASSKEY_ORIGINS": "https://localhost",
        "DATABASE_URL": args.postgres_url.rsplit("/", 1)[0] + "/" + database,
        "REDIS_URL": args.redis_url,
        "CACHE_KEY_PREFIX": prefix,
        "CARDREVEAL_FIELD_KEYS": Fernet.generate_key().decode(),
        "CARDREVEAL_BANK_CONTACT_NAME": "Example Bank",
        "CARDREVEAL_BANK_CONTACT_PHONE": "+44 20 7946 0000",
        "CARDREVEAL_FRAUD_ALERT_EMAIL": "fraud-team@bank.example",
        "DJANGO_STATIC_ROOT": str(args.static_root.resolve()),
        "EMAIL_HOST": LOOPBACK,
        "EMAIL_PORT": str(ports["smtp"]),
        # Quotas stay on (their counters are updated on every reveal) but above what the run
        # needs: each simulated cardholder reveals once a second.
        "CARDREVEAL_REVEALS_PER_USER_HOUR": "1000000",
        "CARDREVEAL_REVEALS_PER_CARD_DAY": "1000000",
        "PORT": str(ports["app"]),
        "WEB_CONCURRENCY": str(args.workers),
        "GUNICORN_THREADS": str(args.threads),
        "GUNICORN_ACCESS_LOG": str(workdir / "access.log"),
        "CARDREVEAL_RECEIPTS_SENDER": args.receipts_sender,
    }


def _throwaway_database(cleanup: contextlib.ExitStack, postgres_url: str, database: str) -> None:
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')

    def drop_database() -> None:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    cleanup.callback(drop_database)


def _delete_redis_keys(redis_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=3)
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.delete(key)


def _start_sink(cleanup: contextlib.ExitStack, port: int) -> SmtpSink:
    sink = SmtpSink(port)
    sink.start()
    sink.ready.wait(10)
    cleanup.callback(sink.stop)
    return sink


def _start_sandbox(
    cleanup: contextlib.ExitStack,
    env: dict[str, str],
    workdir: Path,
    *,
    port: int,
    latency: float,
    cards: int,
) -> int:
    print(f"bench: sandbox with {latency:g} ms latency", flush=True)
    argv = [PYTHON, "-m", "bench.sandbox_latency", "--port", str(port), "--cards", str(cards)]
    argv += ["--state", str(workdir / "sandbox"), "--latency-ms", str(latency)]
    sandbox = cleanup.enter_context(started(argv, env=env, log=workdir / "sandbox.log"))
    wait_for_port(port, timeout=60, proc=sandbox)
    return sandbox.pid


def _seed(
    env: dict[str, str], workdir: Path, *, sandbox_port: int, users: int, background: int
) -> Path:
    users_file = workdir / "users.json"
    argv = [PYTHON, "-m", "bench.seed", "--sandbox-url", f"http://{LOOPBACK}:{sandbox_port}"]
    argv += ["--state", str(workdir / "sandbox"), "--users", str(users), "--out", str(users_file)]
    if background:
        argv += ["--background-cardholders", str(background)]
        argv += ["--plans", str(workdir / "plans.txt")]
    run_logged(argv, env=env, log=workdir / "seed.log", timeout=1800)
    return users_file


def _collected_is_fresh(manifest: Path) -> bool:
    """True when collectstatic's manifest is newer than every static source and the packages."""
    if not manifest.exists():
        return False
    sources = [p for p in (ROOT / "static").rglob("*") if p.is_file()]
    sources += list(VENV_BIN.parent.glob(".*installed"))
    # Its modification time changes when a package is installed, upgraded or removed.
    sources.append(Path(sysconfig.get_paths()["purelib"]))
    newest = max((p.stat().st_mtime for p in sources if p.exists()), default=0.0)
    return manifest.stat().st_mtime > newest


def _collect_static(env: dict[str, str], workdir: Path) -> None:
    if _collected_is_fresh(Path(env["DJANGO_STATIC_ROOT"]) / "staticfiles.json"):
        print("bench: reusing collected static files", flush=True)
        return
    print("bench: collectstatic", flush=True)
    argv = [PYTHON, "manage.py", "collectstatic", "--noinput", "-v0"]
    run_logged(argv, env=env, log=workdir / "collectstatic.log", timeout=900)


def _start_app(
    cleanup: contextlib.ExitStack, env: dict[str, str], workdir: Path, args: argparse.Namespace
) -> Server:
    """The app's gunicorn, and the receipt sender process when receipts are sent by one."""
    print(f"bench: gunicorn, {args.workers} workers x {args.threads} threads", flush=True)
    argv = [str(VENV_BIN / "gunicorn"), "-c", "gunicorn.conf.py"]
    gunicorn = cleanup.enter_context(started(argv, env=env, log=workdir / "gunicorn.log"))
    port = int(env["PORT"])
    wait_for_port(port, timeout=60, proc=gunicorn)
    pids = {gunicorn.pid}
    if args.receipts_sender == "process":
        print("bench: receipt sender process (send_receipts --follow)", flush=True)
        argv = [PYTHON, "manage.py", "send_receipts", "--follow", "--poll-ms", "250"]
        sender = cleanup.enter_context(started(argv, env=env, log=workdir / "receipts.log"))
        pids.add(sender.pid)
    return Server(port, pids, workdir / "access.log")


def _start_floor_server(
    cleanup: contextlib.ExitStack, env: dict[str, str], workdir: Path, *, port: int
) -> Server:
    print("bench: the floor server (bench/floors.py), the same gunicorn settings", flush=True)
    access_log = workdir / "floors-access.log"
    argv = [str(VENV_BIN / "gunicorn"), "-c", "gunicorn.conf.py", "bench.floors:application"]
    floor_env = env | {
        "PORT": str(port),
        "GUNICORN_ACCESS_LOG": str(access_log),
        "CARDREVEAL_BENCH_URLCONF": "1",
    }
    floors = cleanup.enter_context(started(argv, env=floor_env, log=workdir / "floors.log"))
    wait_for_port(port, timeout=60, proc=floors)
    wait_ready(App(port))
    return Server(port, {floors.pid}, access_log)


def start_stack(cleanup: contextlib.ExitStack, args: argparse.Namespace, workdir: Path) -> Stack:
    """Start the whole stack for `args`; `cleanup` stops every part of it and drops the database
    and the Redis keys, in the reverse order."""
    database = f"cardreveal_bench_{secrets.token_hex(4)}"
    prefix = f"bench-{workdir.name}"
    ports = {name: free_port() for name in ("app", "floors", "sandbox", "smtp")}
    env = bench_env(args, workdir=workdir, database=database, prefix=prefix, ports=ports)
    _throwaway_database(cleanup, args.postgres_url, database)
    cleanup.callback(_delete_redis_keys, args.redis_url, prefix)
    sink = _start_sink(cleanup, ports["smtp"])
    seeded = max(args.users, args.overload_users, args.list_users)
    sandbox_pid = _start_sandbox(
        cleanup, env, workdir, port=ports["sandbox"], latency=args.latency_ms, cards=seeded
    )
    background = args.background_cardholders
    print(
        f"bench: migrate and seed {seeded} cardholders"
        + (f" and {background} background cardholders" if background else ""),
        flush=True,
    )
    users_file = _seed(
        env, workdir, sandbox_port=ports["sandbox"], users=seeded, background=background
    )
    _collect_static(env, workdir)
    servers = {"app": _start_app(cleanup, env, workdir, args)}
    app = App(ports["app"])
    wait_ready(app)
    if args.floors and not args.instructions:
        servers["floors"] = _start_floor_server(cleanup, env, workdir, port=ports["floors"])
    return Stack(workdir, env, app, servers, sandbox_pid, sink, users_file)
