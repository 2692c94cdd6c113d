"""The drill's stack: PostgreSQL via a forward, a private Redis, sandbox, mail sink, app hosts, HAProxy."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet

from bench.app_client import App
from bench.processes import LOOPBACK, PYTHON, ROOT, VENV_BIN, free_port, run_logged, stop
from bench.smtp_sink import SmtpSink
from drill.netns import Host, Network

APP_PORT = 8000  # every host's gunicorn, on its own address
DRILL_SETTINGS = "bench.settings"  # production, plus plain HTTP to the sandbox on loopback


class Service:
    """A process the drill can stop and start again (a fault), always in its own session; it
    is stopped for good when the drill ends."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(  # noqa: S603
                self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=out, start_new_session=True
            )

    def kill(self) -> None:
        """SIGKILL the process and everything in its session at once (no goodbye)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, 9)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def wait_port(host: str, port: int, *, timeout: float, service: Service | None = None) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service is not None and not service.running():
            raise SystemExit(f"{service.name} exited early; see {service.log}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), 0.5):
            return
        time.sleep(0.1)
    raise SystemExit(f"nothing listened on {host}:{port} within {timeout:.0f} s")


@dataclass
class Stack:
    """Everything the drill started, by role."""

    workdir: Path
    network: Network
    database: str
    postgres_url: str  # the machine's PostgreSQL, for the drill's own reads and the restore
    env: dict[str, str]  # what every app process runs with (addresses on the bridge)
    local_env: dict[str, str]  # the same, for management commands run on the machine itself
    pg_forward: Service
    redis: Service
    redis_port: int
    sandbox: Service
    sandbox_port: int
    sink: SmtpSink
    hosts: dict[str, Service] = field(default_factory=dict)
    balancer: Service | None = None
    lb_port: int = 0
    direct_ports: dict[str, int] = field(default_factory=dict)  # host name -> HAProxy port
    metrics_token: str = ""
    users_file: Path | None = None

    @property
    def app(self) -> App:
        """The site, through the load balancer."""
        return App(self.lb_port)

    def direct(self, host: str) -> App:
        """One app host, through HAProxy's port for it alone."""
        return App(self.direct_ports[host])

    @property
    def calls_file(self) -> Path:
        return self.workdir / "sandbox-calls.jsonl"

    def host(self, name: str) -> Host:
        return next(h for h in self.network.hosts if h.name == name)


def _database(cleanup: contextlib.ExitStack, postgres_url: str, database: str, keep: bool) -> None:
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    if keep:
        return

    def drop() -> None:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    cleanup.callback(drop)


def _env(
    *,
    workdir: Path,
    gateway: str,
    database: str,
    pg_port: int,
    redis_port: int,
    smtp_port: int,
    token: str,
) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(workdir)),
        "PYTHONDONTWRITEBYTECODE": "1",
        "DJANGO_SETTINGS_MODULE": DRILL_SETTINGS,
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": f"{LOOPBACK},localhost",
        # The drill authorises reveals with codes; passkeys need a name, not an address.
        "CARDREVEAL_PASSKEY_RP_ID": "localhost",
        "CARDREVEAL_PASSKEY_ORIGINS": "https://localhost",
        "DATABASE_URL": f"postgres://postgres@{gateway}:{pg_port}/{database}",
        "REDIS_URL": f"redis://{gateway}:{redis_port}/0",
        "CARDREVEAL_FIELD_KEYS": Fernet.generate_key().decode(),
        "CARDREVEAL_BANK_CONTACT_NAME": "Example Bank",
        "CARDREVEAL_BANK_CONTACT_PHONE": "+44 20 7946 0000",
        "CARDREVEAL_FRAUD_ALERT_EMAIL": "fraud-team@bank.example",
        "CARDREVEAL_METRICS_TOKEN": token,
        "DJANGO_STATIC_ROOT": str(ROOT / "var" / "drill-static"),
        "EMAIL_HOST": gateway,
        "EMAIL_PORT": str(smtp_port),
        # Low enough that the drill proves the quota and the lock are shared, high enough that the
        # steady load never meets them (drill/probes.py).
        "CARDREVEAL_REVEALS_PER_USER_HOUR": "200",
        "CARDREVEAL_REVEALS_PER_CARD_DAY": "12",
        "CARDREVEAL_LOCKOUT_THRESHOLD": "4",
        "CARDREVEAL_OTP_FREE_FAILURES": "3",
        "WEB_CONCURRENCY": "2",
        "GUNICORN_THREADS": "6",
        # HAProxy hands over the client's address with the PROXY protocol (docs/deploy.md).
        "GUNICORN_PROXY_PROTOCOL": "1",
        "GUNICORN_PROXY_ALLOW_IPS": gateway,
        "GUNICORN_FORWARDED_ALLOW_IPS": gateway,
    }


def start_services(
    cleanup: contextlib.ExitStack,
    *,
    workdir: Path,
    network: Network,
    postgres_url: str,
    keep_db: bool,
    cards: int,
) -> Stack:
    """The shared parts: the database (through the forward), Redis, the sink, the sandbox (which
    knows the `cards` seeded cardholders' cards: each has its own reference)."""
    gateway = network.gateway
    database = f"drill_{workdir.name.replace('-', '_')}"
    _database(cleanup, postgres_url, database, keep_db)
    pg_port, redis_port, smtp_port, sandbox_port = (free_port() for _ in range(4))
    token = secrets.token_urlsafe(32)
    env = _env(
        workdir=workdir,
        gateway=gateway,
        database=database,
        pg_port=pg_port,
        redis_port=redis_port,
        smtp_port=smtp_port,
        token=token,
    )
    local_env = env | {"DATABASE_URL": postgres_url.rsplit("/", 1)[0] + "/" + database}
    # The machine's PostgreSQL listens on loopback only: the hosts reach it through this forward
    # on the bridge, and "restarting PostgreSQL" without --real-pg-restart cuts it.
    forward = ["socat", f"TCP-LISTEN:{pg_port},bind={gateway},fork,reuseaddr", "TCP:127.0.0.1:5432"]
    pg_forward = Service("PostgreSQL forward", forward, env=env, log=workdir / "pg-forward.log")
    redis_argv = ["redis-server", "--bind", gateway, "--port", str(redis_port), "--save", ""]
    redis_argv += ["--appendonly", "no", "--protected-mode", "no", "--dir", str(workdir)]
    redis = Service("Redis", redis_argv, env=env, log=workdir / "redis.log")
    sandbox_argv = [PYTHON, "-m", "drill.sandbox", "--host", gateway, "--port", str(sandbox_port)]
    sandbox_argv += [
        "--state",
        str(workdir / "sandbox"),
        "--calls",
        str(workdir / "sandbox-calls.jsonl"),
        "--cards",
        str(cards),
    ]
    sandbox = Service("sandbox", sandbox_argv, env=env, log=workdir / "sandbox.log")
    sink = SmtpSink(smtp_port, host=gateway)
    sink.start()
    sink.ready.wait(10)
    cleanup.callback(sink.stop)
    for service, port in ((pg_forward, pg_port), (redis, redis_port), (sandbox, sandbox_port)):
        service.start()
        cleanup.callback(service.stop)
        wait_port(gateway, port, timeout=60, service=service)
    return Stack(
        workdir=workdir,
        network=network,
        database=database,
        postgres_url=postgres_url,
        env=env,
        local_env=local_env,
        pg_forward=pg_forward,
        redis=redis,
        redis_port=redis_port,
        sandbox=sandbox,
        sandbox_port=sandbox_port,
        sink=sink,
        metrics_token=token,
    )


def seed(stack: Stack, *, users: int) -> None:
    """Migrate, seed the cardholders (bench/seed.py) and collect the static files once."""
    users_file = stack.workdir / "users.json"
    argv = [PYTHON, "-m", "bench.seed", "--sandbox-url", f"http://{LOOPBACK}:{stack.sandbox_port}"]
    argv += [
        "--state",
        str(stack.workdir / "sandbox"),
        "--users",
        str(users),
        "--out",
        str(users_file),
    ]
    run_logged(argv, env=stack.local_env, log=stack.workdir / "seed.log", timeout=600)
    stack.users_file = users_file
    static_root = Path(stack.env["DJANGO_STATIC_ROOT"])
    if not (static_root / "staticfiles.json").exists():
        argv = [PYTHON, "manage.py", "collectstatic", "--noinput", "-v0"]
        run_logged(argv, env=stack.local_env, log=stack.workdir / "collectstatic.log", timeout=900)


def host_service(stack: Stack, host: Host) -> Service:
    """One app host: gunicorn with gunicorn.conf.py and production settings, in its namespace."""
    env = stack.env | {
        "GUNICORN_BIND": f"{host.address}:{APP_PORT}",
        "GUNICORN_ACCESS_LOG": str(stack.workdir / f"{host.name}-access.log"),
        "PROMETHEUS_MULTIPROC_DIR": str(stack.workdir / f"{host.name}-metrics"),
    }
    Path(env["PROMETHEUS_MULTIPROC_DIR"]).mkdir(exist_ok=True)
    argv = stack.network.in_host(host, [str(VENV_BIN / "gunicorn"), "-c", "gunicorn.conf.py"])
    return Service(f"app host {host.name}", argv, env=env, log=stack.workdir / f"{host.name}.log")


def sandbox_forward(stack: Stack, host: Host) -> Service:
    """The providers are https:// in production; bench.settings lets plain http through to
    loopback only, so each namespace's loopback carries the sandbox's port to the bridge."""
    port = stack.sandbox_port
    socat = ["socat", f"TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr"]
    socat.append(f"TCP:{stack.network.gateway}:{port}")
    log = stack.workdir / f"{host.name}-sandbox-forward.log"
    return Service(
        f"sandbox forward {host.name}", stack.network.in_host(host, socat), env=stack.env, log=log
    )


# What the TLS-terminating balancer sets, and the host that answered (for the drill's report).
_HEADERS = """    http-request set-header X-Forwarded-Proto https
    http-response set-header X-Drill-Host %[srv_name]
"""


def haproxy_config(hosts: tuple[Host, ...], *, lb_port: int, direct_ports: dict[str, int]) -> str:
    """HAProxy in front of the hosts: round robin, readiness checks on /readyz every second,
    the PROXY protocol to gunicorn, the answering host named in a response header; and one
    port per host, unchecked (it forwards whatever the host's health, as Prometheus scrapes a
    host by its own address), for the scrapes and the probes that must reach a given host."""
    servers = "\n".join(
        f"    server {h.name} {h.address}:{APP_PORT} send-proxy check check-send-proxy"
        for h in hosts
    )
    direct = "\n".join(
        f"frontend direct_{h.name}\n    bind {LOOPBACK}:{direct_ports[h.name]}\n"
        f"{_HEADERS}    default_backend only_{h.name}\n"
        f"backend only_{h.name}\n"
        f"    server {h.name} {h.address}:{APP_PORT} send-proxy\n"
        for h in hosts
    )
    return f"""global
    maxconn 4096

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 1s fall 2 rise 2
    retries 2
    option redispatch

frontend site
    bind {LOOPBACK}:{lb_port}
{_HEADERS}    default_backend hosts

backend hosts
    balance roundrobin
{servers}

{direct}"""


def start_hosts(cleanup: contextlib.ExitStack, stack: Stack) -> None:
    """Every app host, then HAProxy; returns once the balancer sees every host ready."""
    for host in stack.network.hosts:
        forward = sandbox_forward(stack, host)
        forward.start()
        cleanup.callback(forward.stop)
        service = host_service(stack, host)
        service.start()
        cleanup.callback(service.stop)
        stack.hosts[host.name] = service
    stack.lb_port = free_port()
    stack.direct_ports = {h.name: free_port() for h in stack.network.hosts}
    config = stack.workdir / "haproxy.cfg"
    config.write_text(
        haproxy_config(stack.network.hosts, lb_port=stack.lb_port, direct_ports=stack.direct_ports)
    )
    balancer = Service(
        "HAProxy",
        ["haproxy", "-f", str(config), "-db"],
        env=stack.env,
        log=stack.workdir / "haproxy.log",
    )
    balancer.start()
    cleanup.callback(balancer.stop)
    stack.balancer = balancer
    wait_port(LOOPBACK, stack.lb_port, timeout=30, service=balancer)
    for name in stack.hosts:
        wait_ready(stack, name, timeout=120)
    wait_balanced(stack, timeout=60)


def wait_balanced(stack: Stack, *, timeout: float) -> None:
    """Wait until the balancer sends requests to every host again (its checks passed)."""
    deadline = time.monotonic() + timeout
    seen: set[str] = set()
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            status, headers, _ = stack.app.request("GET", "/readyz")
            if status == 200:
                seen.add(headers.get("X-Drill-Host", ""))
                if seen >= set(stack.hosts):
                    return
                continue
        seen.clear()
        time.sleep(0.25)
    raise SystemExit(f"the balancer did not send to every host within {timeout:.0f} s")


def wait_ready(stack: Stack, name: str, *, timeout: float) -> float:
    """Wait until host `name` answers /readyz with 200 through HAProxy; the seconds it took."""
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        service = stack.hosts[name]
        if not service.running():
            raise SystemExit(f"app host {name} exited; see {service.log}")
        with contextlib.suppress(OSError):
            if stack.direct(name).request("GET", "/readyz")[0] == 200:
                return time.monotonic() - started
        time.sleep(0.25)
    raise SystemExit(f"app host {name} was not ready within {timeout:.0f} s")
