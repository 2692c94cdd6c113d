"""`make bench`: the app under gunicorn on PostgreSQL and Redis against provider sandboxes with a
set latency, loaded by Locust, next to the same provider calls made directly (the physical limit)
and, at the light load and the target, behind gunicorn alone and behind Django's signed-in request
path alone (the floors, bench/floors.py), so the report shows which layer adds what.

python -m bench.run_bench [--duration 20] [--users 120] [--latency-ms 50] [--write docs/benchmarks.md]

Everything runs on this machine and only talks to 127.0.0.1: a throwaway PostgreSQL database
(created and dropped), a Redis database with a key prefix of its own (its keys deleted after), the
sandbox, an SMTP sink for the reveal receipts, gunicorn (the app's, and the floor server's), and
Locust. Each step is bounded in time
and every process started here is stopped here. Logs stay in var/bench/<run>/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import datetime as dt
import gzip
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from cryptography.fernet import Fernet

from bench.client_key import client_key
from bench.profile_requests import FORM
from bench.totp import totp

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
SECTION_START = "<!-- bench:reveal:start -->"
SECTION_END = "<!-- bench:reveal:end -->"
INSTRUCTIONS_START = "<!-- bench:instructions:start -->"
INSTRUCTIONS_END = "<!-- bench:instructions:end -->"
LOOPBACK = "127.0.0.1"
# Seconds of reveals before the measured scenarios, to warm every worker (not counted).
WARMUP_SECONDS = 6
# Every session loads a page just before a Locust run once this long has passed since the last
# time, well inside the app's 15-minute idle timeout (a run keeps its own cardholders active).
KEEP_SIGNED_IN_SECONDS = 300


# ---------------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, *, timeout: float, proc: subprocess.Popen[bytes]) -> None:
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
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def run(argv: list[str], *, env: dict[str, str], log: Path, timeout: float) -> None:
    with log.open("ab") as out:
        result = subprocess.run(  # noqa: S603
            argv, cwd=ROOT, env=env, stdout=out, stderr=out, timeout=timeout, check=False
        )
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-2500:]
        raise SystemExit(f"{' '.join(argv[:4])} failed ({result.returncode}):\n{tail}")


class SmtpSink(threading.Thread):
    """Accepts and discards mail on loopback, so reveal receipts cost a real SMTP exchange."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True, name="smtp-sink")
        self.port = port
        self.messages = 0
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 sink ESMTP\r\n")
        try:
            while line := await reader.readline():
                verb = line[:4].upper()
                if verb == b"DATA":
                    writer.write(b"354 end with .\r\n")
                    while (await reader.readline()) not in (b".\r\n", b""):
                        pass
                    self.messages += 1
                    writer.write(b"250 queued\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 bye\r\n")
                    break
                else:
                    writer.write(b"250 ok\r\n")
                await writer.drain()
        finally:
            writer.close()

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._session, LOOPBACK, self.port, backlog=256)
        )
        self.ready.set()
        try:
            self.loop.run_forever()
        finally:
            server.close()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


# ---------------------------------------------------------------------------------- CPU accounting

_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_table() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent pid, command name, CPU seconds used by it and its reaped children)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
        table[int(entry.name)] = (int(fields[1]), name, ticks / _TICKS)
    return table


def _group(table: dict[int, tuple[int, str, float]], roots: set[int]) -> float:
    found = set(roots) & set(table)
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _, _) in table.items():
            if ppid in found and pid not in found:
                found.add(pid)
                changed = True
    return sum(table[p][2] for p in found)


def _service_roots(table: dict[int, tuple[int, str, float]], name: str) -> set[int]:
    """The top process of a service (postgres, redis-server): named so, with a parent not."""
    return {
        pid
        for pid, (ppid, comm, _) in table.items()
        if comm.startswith(name) and not table.get(ppid, (0, "", 0))[1].startswith(name)
    }


@dataclass
class CpuMeter:
    """Cores used per group over a scenario: the app (gunicorn and its workers, and the receipt
    sender process when there is one), the sandbox,
    PostgreSQL, Redis, and the load generator (Locust or the direct caller, with this script).
    Each group counts its live processes and the ones they reaped, so short-lived PostgreSQL
    backends are included."""

    roots: dict[str, set[int]]
    before: dict[str, float] = field(default_factory=dict)
    wall: float = 0.0

    def _sample(self) -> dict[str, float]:
        table = _proc_table()
        used = {group: _group(table, pids) for group, pids in self.roots.items()}
        used["postgresql"] = _group(table, _service_roots(table, "postgres"))
        used["redis"] = _group(table, _service_roots(table, "redis-server"))
        own = os.times()
        used["load"] = own.user + own.system + own.children_user + own.children_system
        return used

    def start(self) -> None:
        self.before = self._sample()
        self.wall = time.monotonic()

    def stop(self) -> dict[str, float]:
        after = self._sample()
        wall = time.monotonic() - self.wall
        return {k: round((after[k] - self.before.get(k, 0)) / wall, 3) for k in after}


# ---------------------------------------------------------------------------------- the app over HTTP


class App:
    """Plain HTTP to gunicorn, dressed as the TLS-terminating load balancer would send it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.origin = f"https://{LOOPBACK}:{port}"

    def request(
        self,
        method: str,
        path: str,
        *,
        cookies: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=30)
        sent = {"Host": f"{LOOPBACK}:{self.port}", "X-Forwarded-Proto": "https"}
        if cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            sent["Content-Type"] = FORM
            sent["Origin"] = self.origin
        sent.update(headers or {})
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        if cookies is not None:
            for header in response.msg.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, response.msg, data


def sign_in(app: App, user: dict[str, Any]) -> dict[str, Any]:
    """Sign in through the real pages (password, then a TOTP code); return the session."""
    cookies: dict[str, str] = {}
    status, _, page = app.request("GET", "/accounts/login/", cookies=cookies)
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if status != 200 or token is None:
        raise SystemExit(f"login page answered {status}")
    form = {
        "csrfmiddlewaretoken": token.group(1).decode(),
        "username": user["username"],
        "password": user["password"],
    }
    status, _, _ = app.request("POST", "/accounts/login/", cookies=cookies, form=form)
    if status != 302:
        raise SystemExit(f"sign-in for {user['username']} answered {status}")
    code = totp(user["totp_key"], time.time())
    form = {"csrfmiddlewaretoken": cookies["__Host-csrftoken"], "code": code}
    status, _, _ = app.request("POST", "/accounts/verify/", cookies=cookies, form=form)
    if status != 302:
        raise SystemExit(f"sign-in code for {user['username']} answered {status}")
    return {
        "sessionid": cookies["__Host-sessionid"],
        "csrftoken": cookies["__Host-csrftoken"],
        "totp_key": user["totp_key"],
        "cards": user["cards"],
    }


_RESOURCE_RE = re.compile(
    rb"<(?:script|img|iframe|source|video|audio|embed)\b[^>]*?\ssrc=[\"']([^\"']+)[\"']"
    rb"|<link\b[^>]*?\shref=[\"']([^\"']+)[\"']",
    re.IGNORECASE,
)
_CSS_URL_RE = re.compile(rb"url\(\s*[\"']?([^\"')]+)[\"']?\s*\)|@import\s+[\"']([^\"']+)[\"']")
_ANY_URL_RE = re.compile(rb"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s\"'<>)]*")


def page_weight(app: App, session: dict[str, Any], path: str) -> dict[str, Any]:
    """Bytes a browser downloads for `path` (HTML + CSS + JS + images, gzip where offered),
    and every third-party URL it would request."""
    cookies = {"__Host-sessionid": session["sessionid"], "__Host-csrftoken": session["csrftoken"]}
    accept = {"Accept-Encoding": "gzip"}
    status, headers, html = app.request("GET", path, cookies=dict(cookies), headers=accept)
    if status != 200:
        raise SystemExit(f"GET {path} answered {status}")
    items = [(path, len(html), headers.get("Content-Encoding") or "identity")]
    external: set[str] = set()
    queue = [m.group(1) or m.group(2) for m in _RESOURCE_RE.finditer(html)]
    seen: set[bytes] = set()
    while queue:
        url = queue.pop(0)
        if url in seen or url.startswith(b"data:"):
            continue
        seen.add(url)
        if url.startswith((b"http:", b"https:", b"//")):
            external.add(url.decode())
            continue
        status, headers, body = app.request("GET", url.decode(), headers=accept)
        if status != 200:
            raise SystemExit(f"GET {url.decode()} (from {path}) answered {status}")
        items.append((url.decode(), len(body), headers.get("Content-Encoding") or "identity"))
        if url.endswith(b".css"):
            text = gzip.decompress(body) if headers.get("Content-Encoding") == "gzip" else body
            queue += [m.group(1) or m.group(2) for m in _CSS_URL_RE.finditer(text)]
    # Anything that looks like an absolute URL in the HTML, for the record (links included).
    mentioned = sorted({m.group(0).decode() for m in _ANY_URL_RE.finditer(html)})
    return {
        "path": path,
        "requests": len(items),
        "bytes": sum(size for _, size, _ in items),
        "items": items,
        "third_party_requests": sorted(external),
        "absolute_urls_in_html": mentioned,
    }


# ---------------------------------------------------------------------------------- statistics


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def summarize_samples(samples: list[float], errors: int, duration: float) -> dict[str, float]:
    return {
        "requests": len(samples) + errors,
        "rps": round((len(samples) + errors) / duration, 1),
        "p50": round(percentile(samples, 50), 1),
        "p95": round(percentile(samples, 95), 1),
        "p99": round(percentile(samples, 99), 1),
        "errors": errors,
    }


def read_locust_csv(prefix: Path) -> dict[str, dict[str, float]]:
    rows = {}
    with (prefix.parent / f"{prefix.name}_stats.csv").open() as fh:
        for row in csv.DictReader(fh):
            rows[row["Name"]] = {
                "requests": int(row["Request Count"]),
                "rps": round(float(row["Requests/s"]), 1),
                "p50": float(row["50%"]),
                "p95": float(row["95%"]),
                "p99": float(row["99%"]),
                "errors": int(row["Failure Count"]),
            }
    return rows


def exact_percentiles(
    rows: dict[str, dict[str, float]], samples_file: Path
) -> dict[str, dict[str, float]]:
    """`rows` (from `read_locust_csv`) with p50, p95 and p99 recomputed from the response times
    as measured (bench/locust_reveal.py writes them), by name and for all names together
    ("Aggregated"), over the requests that succeeded: the same percentile of the same precision
    as the direct calls'. Locust's own are read off a histogram with 1 ms bins under 100 ms and
    10 ms bins above. Rows stay as they are when the file is missing (Locust did not quit
    cleanly) or a name has no successful request."""
    if not samples_file.exists():
        return rows
    by_name: dict[str, list[float]] = {}
    for name, ms, ok in json.loads(samples_file.read_text())["samples"]:
        if ok:
            by_name.setdefault(name, []).append(float(ms))
            by_name.setdefault("Aggregated", []).append(float(ms))
    exact = {name: dict(row) for name, row in rows.items()}
    for name, values in by_name.items():
        if name in exact:
            exact[name] |= {f"p{q}": round(percentile(values, q), 1) for q in (50, 95, 99)}
            exact[name]["exact"] = 1.0
    return exact


def answers(user_class: str, path: str) -> bool:
    """Whether an access-log line for `path` answers a request of the Locust `user_class`."""
    if user_class == "CardListUser":
        return path == "/"
    if user_class == "BareFloorUser":
        return path.startswith("/bench/bare/")
    if user_class == "ProviderFloorUser":
        return path.startswith("/bench/provider-floor/")
    return path.endswith("/reveal")


def served_per_second(
    access_log: Path, *, started: float, ended: float, user_class: str
) -> dict[str, float]:
    """What the server answered per second in a scenario's steady state, from its own access log
    ({} when the run was too short to have one): the answers to `user_class`'s requests.

    Locust's rate divides by the whole run, so the ramp-up (users start at their offset in the
    next second) and the last, partial second pull it below the rate offered. Here the first 3
    and the last 2 whole seconds in which anything was answered are left out; `rps` is the mean
    of the rest, `min` the slowest second, `errors` the non-2xx answers in that window.
    """
    buckets: dict[int, list[int]] = {}
    with access_log.open() as fh:
        for line in fh:
            if not line.startswith("{"):
                continue
            entry = json.loads(line)
            path = str(entry.get("path", ""))
            if not answers(user_class, path):
                continue
            when = dt.datetime.fromisoformat(entry["time"]).timestamp()
            if started <= when <= ended:
                buckets.setdefault(int(when), []).append(int(entry.get("status_code", 0)))
    seconds = sorted(buckets)[3:-2]
    if not seconds:
        return {}  # too short a run for a steady state: reports fall back to the whole run
    ok = [sum(200 <= code < 300 for code in buckets[sec]) for sec in seconds]
    errors = sum(len(buckets[sec]) - n for sec, n in zip(seconds, ok, strict=True))
    return {
        "rps": round(sum(ok) / len(ok), 1),
        "min": float(min(ok)),
        "errors": errors,
        "seconds": len(seconds),
    }


def locust_failures(prefix: Path) -> list[str]:
    path = prefix.parent / f"{prefix.name}_failures.csv"
    if not path.exists():
        return []
    with path.open() as fh:
        return [f"{r['Occurrences']}x {r['Name']}: {r['Error'][:160]}" for r in csv.DictReader(fh)]


# ---------------------------------------------------------------------------------- the run


def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kb / 1024 / 1024:.1f} GiB"
    return {
        "load": Path("/proc/loadavg").read_text().split()[0]
        if Path("/proc/loadavg").exists()
        else "?",
        "cpus": str(os.cpu_count()),
        "cpu": cpu,
        "memory": memory,
        "python": platform.python_version(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _reference_work() -> int:
    names = []
    for i in range(100_000):
        row = {"id": i, "label": f"card {i}", "last4": str(i % 10_000).zfill(4)}
        names.append(str(row["label"]).title() + str(row["last4"]))
    return len(names)


def reference_workload_ms(rounds: int = 7) -> float:
    """CPU ms of a fixed pure-Python workload (dicts, strings, calls: what Django spends its time
    on), the median of `rounds`. It measures the machine, not the app: runs on different machines,
    or on one shared machine at different times, compare through it. Lower is faster."""
    times = []
    for _ in range(rounds):
        began = time.process_time()
        _reference_work()
        times.append(time.process_time() - began)
    return round(statistics.median(times) * 1000, 1)


class SpeedSampler:
    """The reference workload, one round every `every` seconds while a scenario runs, in a thread
    at the lowest CPU priority (nice 19), timed by the thread's own CPU clock: the machine's speed
    during the scenario, not just before it (on a shared VM it can change twofold within a
    minute). A round takes about 0.1 s of CPU, so it costs the app a few percent of one core at
    most; `cpu_seconds` is what it used, for taking out of the load generator's share."""

    def __init__(self, every: float = 3.0) -> None:
        self.every = every
        self.samples: list[float] = []
        self.cpu_seconds = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="speed-sampler", daemon=True)

    def _run(self) -> None:
        with contextlib.suppress(OSError, AttributeError):  # Linux: a thread has its own nice
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        while not self._stop.wait(self.every):
            began = time.thread_time()
            _reference_work()
            spent = time.thread_time() - began
            self.samples.append(round(spent * 1000, 1))
            self.cpu_seconds += spent

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> dict[str, Any]:
        """{"median", "min", "max", "samples"} in ms (None when no round finished)."""
        self._stop.set()
        self._thread.join()
        if not self.samples:
            return {"median": None, "min": None, "max": None, "samples": 0}
        return {
            "median": round(statistics.median(self.samples), 1),
            "min": min(self.samples),
            "max": max(self.samples),
            "samples": len(self.samples),
        }


def check_services(pg_url: str, redis_url: str) -> None:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=20, help="seconds per scenario")
    parser.add_argument(
        "--users", type=int, default=100, help="cardholders revealing, 1/s each: the target load"
    )
    parser.add_argument(
        "--overload-users",
        type=int,
        default=120,
        help="cardholders in the overload run, past the target (0 skips it)",
    )
    parser.add_argument(
        "--light-users", type=int, default=10, help="cardholders in the light-load reveal run"
    )
    parser.add_argument("--list-users", type=int, default=32, help="closed-loop card-list users")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="sandbox latency")
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1))
    parser.add_argument("--threads", type=int, default=6)
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--write", type=Path, help="update the results section of this file")
    parser.add_argument(
        "--static-root",
        type=Path,
        default=ROOT / "var" / "bench" / "staticfiles",
        help="collect static files here; collected again only when static/ or the packages change",
    )
    parser.add_argument(
        "--profile-only", action="store_true", help="stop after the in-process profile"
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions per request under valgrind's callgrind (bench/instructions.py) "
        "instead of the load runs; about 16 minutes",
    )
    parser.add_argument(
        "--instruction-kinds",
        default=",".join([*INSTRUCTION_COUNTS, *SERVED_RUNS]),
        help="with --instructions: which requests to count, comma-separated "
        f"(of {', '.join([*INSTRUCTION_COUNTS, *SERVED_RUNS])})",
    )
    parser.add_argument(
        "--receipts-sender",
        choices=("thread", "process"),
        default="thread",
        help="who emails the receipts: a thread in each worker (the default, as `make serve`), "
        "or a `send_receipts --follow` process (CARDREVEAL_RECEIPTS_SENDER), counted with the app",
    )
    parser.add_argument(
        "--floors",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="at the light load and the target, also time the provider call behind gunicorn "
        "alone and behind Django's signed-in request path (bench/floors.py): what the stack adds "
        "before the reveal's own work (--no-floors skips them)",
    )
    parser.add_argument(
        "--curve-users",
        help="cardholders in the load-curve runs between the light load and the target, "
        "comma-separated ('' skips them): where the latency targets stop holding; by default "
        f"those of {DEFAULT_CURVE} between --light-users and --users",
    )
    args = parser.parse_args()
    args.curve_users = parse_curve_users(args.curve_users, light=args.light_users, top=args.users)
    kinds = [k.strip() for k in args.instruction_kinds.split(",") if k.strip()]
    known = [*INSTRUCTION_COUNTS, *SERVED_RUNS]
    if not kinds or set(kinds) - set(known):
        raise SystemExit(f"--instruction-kinds: choose from {', '.join(known)}")
    if args.duration < 5 or args.duration > 600 or not 1 <= args.users <= 1000:
        raise SystemExit("--duration must be 5-600 s and --users 1-1000")
    for url in (args.postgres_url, args.redis_url):
        if "127.0.0.1" not in url and "localhost" not in url:
            raise SystemExit("the benchmark only talks to services on 127.0.0.1")
    check_services(args.postgres_url, args.redis_url)
    load = os.getloadavg()[0]
    if load > 1.0:
        print(
            f"bench: warning: the 1-minute load average is {load:.1f}; other work on this "
            "machine will show in the numbers",
            flush=True,
        )

    run_id = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    workdir = ROOT / "var" / "bench" / run_id
    workdir.mkdir(parents=True)
    print(f"bench: logs in {workdir.relative_to(ROOT)}", flush=True)
    database = f"cardreveal_bench_{secrets.token_hex(4)}"
    prefix = f"bench-{run_id}"
    ports = {"app": free_port(), "floors": free_port(), "sandbox": free_port(), "smtp": free_port()}
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(workdir)),
        "PYTHONDONTWRITEBYTECODE": "1",
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": LOOPBACK,
        "DATABASE_URL": args.postgres_url.rsplit("/", 1)[0] + "/" + database,
        "REDIS_URL": args.redis_url,
        "CACHE_KEY_PREFIX": prefix,
        "CARDREVEAL_FIELD_KEYS": Fernet.generate_key().decode(),
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
        # Experiments in the profile and the counts (BENCH_EXPERIMENT_*), never in the app.
        **{k: v for k, v in os.environ.items() if k.startswith("BENCH_EXPERIMENT_")},
        # A production switch, passed on to compare with and without (docs/deploy.md).
        **{k: os.environ[k] for k in ("DATABASE_PREPARED_STATEMENTS",) if k in os.environ},
    }
    python = str(VENV_BIN / "python")
    results: dict[str, Any] = {
        "machine": machine(),
        "reference_ms_start": reference_workload_ms(),
        "args": {k: v for k, v in vars(args).items() if not isinstance(v, Path)},
    }

    import psycopg

    with contextlib.ExitStack() as stack:
        with psycopg.connect(args.postgres_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{database}"')

        def drop_database() -> None:
            with psycopg.connect(args.postgres_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

        stack.callback(drop_database)
        stack.callback(_delete_redis_keys, args.redis_url, prefix)

        sink = SmtpSink(ports["smtp"])
        sink.start()
        sink.ready.wait(10)
        stack.callback(sink.stop)

        print(f"bench: sandbox with {args.latency_ms:g} ms latency", flush=True)
        sandbox = stack.enter_context(
            started(
                [
                    python,
                    "-m",
                    "bench.sandbox_latency",
                    "--port",
                    str(ports["sandbox"]),
                    "--state",
                    str(workdir / "sandbox"),
                    "--latency-ms",
                    str(args.latency_ms),
                ],
                env=env,
                log=workdir / "sandbox.log",
            )
        )
        wait_for_port(ports["sandbox"], timeout=60, proc=sandbox)

        print(f"bench: migrate and seed {args.users} cardholders", flush=True)
        users_file = workdir / "users.json"
        run(
            [
                python,
                "-m",
                "bench.seed",
                "--sandbox-url",
                f"http://{LOOPBACK}:{ports['sandbox']}",
                "--state",
                str(workdir / "sandbox"),
                "--users",
                str(max(args.users, args.overload_users, args.list_users)),
                "--out",
                str(users_file),
            ],
            env=env,
            log=workdir / "seed.log",
            timeout=600,
        )
        manifest = Path(env["DJANGO_STATIC_ROOT"]) / "staticfiles.json"
        if _collected_is_fresh(manifest):
            print("bench: reusing collected static files", flush=True)
        else:
            print("bench: collectstatic", flush=True)
            run(
                [python, "manage.py", "collectstatic", "--noinput", "-v0"],
                env=env,
                log=workdir / "collectstatic.log",
                timeout=900,
            )
        print(f"bench: gunicorn, {args.workers} workers x {args.threads} threads", flush=True)
        gunicorn = stack.enter_context(
            started(
                [str(VENV_BIN / "gunicorn"), "-c", "gunicorn.conf.py"],
                env=env,
                log=workdir / "gunicorn.log",
            )
        )
        wait_for_port(ports["app"], timeout=60, proc=gunicorn)
        app_pids = {gunicorn.pid}
        if args.receipts_sender == "process":
            print("bench: receipt sender process (send_receipts --follow)", flush=True)
            sender = stack.enter_context(
                started(
                    [python, "manage.py", "send_receipts", "--follow", "--poll-ms", "250"],
                    env=env,
                    log=workdir / "receipts.log",
                )
            )
            app_pids.add(sender.pid)
        app = App(ports["app"])
        _wait_ready(app)
        floor_pids: set[int] = set()
        if args.floors and not args.instructions:
            print(
                "bench: the floor server (bench/floors.py), the same gunicorn settings", flush=True
            )
            floors = stack.enter_context(
                started(
                    [
                        str(VENV_BIN / "gunicorn"),
                        "-c",
                        "gunicorn.conf.py",
                        "bench.floors:application",
                    ],
                    env=env
                    | {
                        "PORT": str(ports["floors"]),
                        "GUNICORN_ACCESS_LOG": str(workdir / "floors-access.log"),
                        "CARDREVEAL_BENCH_URLCONF": "1",
                    },
                    log=workdir / "floors.log",
                )
            )
            wait_for_port(ports["floors"], timeout=60, proc=floors)
            _wait_ready(App(ports["floors"]))
            floor_pids = {floors.pid}

        users = json.loads(users_file.read_text())["users"]
        print(f"bench: signing in {len(users)} cardholders through the real pages", flush=True)
        sessions = _sign_in_all(app, users)
        sessions_file = workdir / "sessions.json"
        sessions_file.write_text(json.dumps({"sessions": sessions}))

        if args.instructions:
            counts = instructions_count(sessions_file, kinds, app=app, env=env, workdir=workdir)
            report = instructions_report(counts)
            (workdir / "instructions.json").write_text(json.dumps(counts, indent=2))
            print(report)
            if args.write:
                _write_section(args.write, report, start=INSTRUCTIONS_START, end=INSTRUCTIONS_END)
                print(f"bench: wrote the instruction counts into {args.write}")
            return

        first = sessions[0]
        results["pages"] = [
            page_weight(app, first, "/"),
            page_weight(app, first, f"/cards/{first['cards']['mastercard']['id']}/"),
        ]

        print("bench: profiling single requests in process", flush=True)
        run(
            [
                python,
                "-m",
                "bench.profile_requests",
                "--sessions",
                str(sessions_file),
                "--out",
                str(workdir / "profile.json"),
                "--cprofile",
                str(workdir / "profile-reveal.txt"),
                "--reveals",
                str(min(40, len(sessions))),
            ],
            env=env,
            log=workdir / "profile.log",
            timeout=300,
        )
        results["profile"] = json.loads((workdir / "profile.json").read_text())
        if args.profile_only:
            print(json.dumps(results["profile"], indent=2))
            return
        time.sleep(1.05)  # the next reveals need a newer 1-second step than the profile used

        roots = {"app": app_pids, "sandbox": {sandbox.pid}}
        reference = results.setdefault("reference_ms", {})

        def direct_calls(callers: int) -> None:
            """The physical limit at this load: the same provider calls, paced the same, made
            by `callers` callers without the app; run just before the app's run at that load, so
            both meet the machine in the same state."""
            print(f"bench: direct provider calls, {callers} callers, {args.duration} s", flush=True)
            direct_out = workdir / f"direct-{callers}.json"
            target = callers == args.users
            if target:
                reference["direct"] = reference_workload_ms(rounds=5)
            meter = CpuMeter(roots)
            meter.start()
            run(
                [
                    python,
                    "-m",
                    "bench.direct_provider",
                    "--users",
                    str(callers),
                    "--duration",
                    str(args.duration),
                    "--out",
                    str(direct_out),
                ],
                # The per-binding limit on calls in flight guards a worker's threads; the direct
                # caller runs all its callers in one process, so it is lifted here.
                env=env | {"CARDREVEAL_PROVIDER_MAX_CONCURRENCY": "1000"},
                log=workdir / f"direct-{callers}.log",
                timeout=args.duration + 120,
            )
            cpu = meter.stop()
            summary = _direct_summary(json.loads(direct_out.read_text()))
            results.setdefault("direct_at", {})[str(callers)] = summary
            if target:
                results["cpu_direct"] = cpu
                results["direct"] = summary

        servers = {"app": (ports["app"], app_pids, workdir / "access.log")}
        if floor_pids:
            servers["floors"] = (ports["floors"], floor_pids, workdir / "floors-access.log")
        plan = scenario_plan(
            light=args.light_users,
            curve=args.curve_users,
            users=args.users,
            overload=args.overload_users,
            list_users=args.list_users,
            workers=args.workers,
            seconds=args.duration,
            floors=bool(floor_pids),
        )
        signed_in_at = time.monotonic()
        for step in plan:
            scenario, user_class, count, seconds = (
                step.name,
                step.user_class,
                step.users,
                step.seconds,
            )
            port, pids, access_log = servers[step.server]
            if step.direct_first:
                direct_calls(count)
            # Cardholders that only the later runs use would reach the 15-minute idle timeout in
            # a long run and be signed out: a page for every session when 5 minutes have passed.
            if time.monotonic() - signed_in_at > KEEP_SIGNED_IN_SECONDS:
                _keep_signed_in(app, sessions)
                signed_in_at = time.monotonic()
            print(
                f"bench: locust {user_class} ({scenario}), {count} users, {seconds} s", flush=True
            )
            csv_prefix = workdir / f"locust-{scenario}"
            samples_file = workdir / f"locust-{scenario}-samples.json"
            locust_env = env | {
                "BENCH_SESSIONS": str(sessions_file),
                "BENCH_SAMPLES": str(samples_file),
            }
            reference[scenario] = reference_workload_ms(rounds=5)  # the machine's speed just now
            meter = CpuMeter(roots | {"app": pids})
            sampler = SpeedSampler()
            meter.start()
            sampler.start()
            began = time.time()
            run(
                [
                    str(VENV_BIN / "locust"),
                    "-f",
                    "bench/locust_reveal.py",
                    "--headless",
                    "--users",
                    str(count),
                    "--spawn-rate",
                    str(count),
                    "--run-time",
                    f"{seconds}s",
                    "--stop-timeout",
                    "5",
                    "--host",
                    f"http://{LOOPBACK}:{port}",
                    "--csv",
                    str(csv_prefix),
                    "--only-summary",
                    "--exit-code-on-error",
                    "0",
                    "--loglevel",
                    "WARNING",
                    user_class,
                ],
                env=locust_env,
                log=workdir / f"locust-{scenario}.log",
                timeout=seconds + 180,
            )
            cpu = meter.stop()
            speed = sampler.stop()
            # The sampler ran in this process: its CPU is not the load generator's.
            cpu["load"] = round(
                max(0.0, cpu["load"] - sampler.cpu_seconds / (time.time() - began)), 2
            )
            results[f"cpu_{scenario}"] = cpu
            results.setdefault("reference_during", {})[scenario] = speed
            results[scenario] = exact_percentiles(read_locust_csv(csv_prefix), samples_file)
            results[f"{scenario}_steady"] = served_per_second(
                access_log, started=began, ended=time.time(), user_class=user_class
            )
            results[f"{scenario}_failures"] = locust_failures(csv_prefix)
        results["receipts_sent"] = sink.messages
    results["reference_ms_end"] = reference_workload_ms()

    (workdir / "results.json").write_text(json.dumps(results, indent=2))
    report = render(results)
    print()
    print(report)
    if args.write:
        _write_section(args.write, report)
        print(f"bench: wrote the results into {args.write}")


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


def _wait_ready(app: App, *, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if app.request("GET", "/readyz")[0] == 200:
                return
        time.sleep(0.5)
    raise SystemExit(f"the app did not become ready within {timeout:.0f} s")


def _sign_in_all(app: App, users: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # A user's sign-in code and first reveal code must be different 1-second steps; the reveal
    # users wait for the next step anyway. Two at a time: PBKDF2 keeps both cores busy.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda u: sign_in(app, u), users))


def _delete_redis_keys(redis_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=3)
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.delete(key)


def _direct_summary(direct: dict[str, Any]) -> dict[str, dict[str, float]]:
    by_kind: dict[str, list[float]] = {}
    for kind, ms in direct["samples"]:
        by_kind.setdefault(kind, []).append(ms)
    errors_by_kind: dict[str, int] = {}
    for error in direct["errors"]:
        kind = error.split(":", 1)[0]
        errors_by_kind[kind] = errors_by_kind.get(kind, 0) + 1
    summary = {
        kind: summarize_samples(values, errors_by_kind.get(kind, 0), direct["duration"])
        for kind, values in sorted(by_kind.items())
    }
    everything = [ms for _, ms in direct["samples"]]
    summary["all"] = summarize_samples(everything, len(direct["errors"]), direct["duration"])
    summary["all"]["mean"] = round(statistics.fmean(everything), 1) if everything else 0
    for kind, cpu in direct.get("cpu_ms", {}).items():
        if kind in summary:
            summary[kind]["cpu_ms"] = cpu
    return summary


# ---------------------------------------------------------------------------------- the report


def _row(name: str, r: dict[str, float], steady: dict[str, float] | None = None) -> str:
    shown = f"{steady['rps']:.1f} (slowest second {steady['min']:.0f})" if steady else "-"
    return (
        f"| {name} | {r['requests']} | {r['rps']:.1f} | {shown} | {r['p50']:.1f} "
        f"| {r['p95']:.1f} | {r['p99']:.1f} | {r['errors']} |"
    )


def _added(app: dict[str, float], direct: dict[str, float]) -> tuple[float, float]:
    return app["p50"] - direct["p50"], app["p99"] - direct["p99"]


def direct_at(results: dict[str, Any], callers: int) -> dict[str, dict[str, float]]:
    """The direct calls made at the load of an app run with `callers` cardholders (the same
    number of callers, paced the same); results from before 2026-12-01 23:50 UTC have only the
    run at the target load, which then stands for every load."""
    return results.get("direct_at", {}).get(str(callers)) or results["direct"]


DEFAULT_CURVE = (25, 50, 75)

# The floors (bench/floors.py), each run at the light load and at the target between the direct
# calls and the complete reveals, in this order: what each layer adds shows as the step between
# two rungs. Scenario name prefix, Locust user class, what the rung adds over the one before.
FLOOR_RUNGS = (
    ("floor_bare", "BareFloorUser", "HTTP and gunicorn"),
    ("floor_django", "ProviderFloorUser", "Django's signed-in request and the card read"),
)


@dataclass(frozen=True)
class Scenario:
    """One Locust run of `make bench`: `users` of `user_class` for `seconds`, against the app's
    server or the floor server; `direct_first` makes the direct calls at that load just before."""

    name: str
    user_class: str
    users: int
    seconds: int
    server: str = "app"
    direct_first: bool = False


def scenario_plan(
    *,
    light: int,
    curve: list[int],
    users: int,
    overload: int,
    list_users: int,
    workers: int,
    seconds: int,
    floors: bool,
) -> list[Scenario]:
    """The Locust runs of `make bench`, in order. Warm-ups first (not counted: each worker's
    first call through each provider loads that binding's keys, opens its pooled connection and,
    for Thredd, fetches a token). Then each reveal load, lightest first, its direct calls just
    before it; at the light load and the target, with `floors`, the floor rungs run between the
    direct calls and the reveals, so the four meet the machine in the same state. The card list
    last. Loads of 0 users are left out."""
    warm = max(light, 8 * workers)
    plan = [Scenario("warmup", "RevealUser", warm, WARMUP_SECONDS)]
    if floors:
        plan += [
            Scenario(f"{rung}_warmup", user_class, warm, WARMUP_SECONDS, server="floors")
            for rung, user_class, _ in FLOOR_RUNGS
        ]
    loads = [
        ("reveal_light", light),
        *((f"reveal_at_{n}", n) for n in curve),
        ("reveal", users),
        ("reveal_overload", overload),
    ]
    for name, count in loads:
        if count <= 0:
            continue
        if floors and name in ("reveal_light", "reveal"):
            plan += [
                Scenario(
                    f"{rung}_{count}",
                    user_class,
                    count,
                    seconds,
                    server="floors",
                    direct_first=i == 0,
                )
                for i, (rung, user_class, _) in enumerate(FLOOR_RUNGS)
            ]
            plan.append(Scenario(name, "RevealUser", count, seconds))
        else:
            plan.append(Scenario(name, "RevealUser", count, seconds, direct_first=True))
    if list_users > 0:
        plan.append(Scenario("list", "CardListUser", list_users, seconds))
    return plan


def parse_curve_users(raw: str | None, *, light: int, top: int) -> list[int]:
    """The load-curve points from `--curve-users`: distinct whole numbers of cardholders above
    the light load and below the target, in increasing order. Without the option, those of
    DEFAULT_CURVE in that range (a short run with `--users 40` keeps 25). Raises SystemExit
    naming what is wrong in a list given."""
    if raw is None:
        return [n for n in DEFAULT_CURVE if light < n < top]
    points: list[int] = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit():
            raise SystemExit(f"--curve-users: {part!r} is not a whole number of cardholders")
        points.append(int(part))
    outside = [n for n in points if not light < n < top]
    if outside:
        raise SystemExit(
            f"--curve-users: {', '.join(map(str, outside))} not between the light load ({light}) "
            f"and the target ({top}); those runs exist already"
        )
    return sorted(set(points))


@dataclass(frozen=True)
class CurvePoint:
    """One reveal run of the load curve: what was offered, served, and added over the direct
    calls."""

    offered: int
    served: float | None  # steady state, per second; None for a run too short for one
    errors: int
    p50: float
    p99: float
    direct50: float  # the direct calls at the same load
    direct99: float
    added50: float
    added99: float
    app_cpu_ms: float | None  # per reveal answered

    @property
    def latency_ok(self) -> bool:
        return self.errors == 0 and self.added50 <= 10 and self.added99 <= 30


def load_curve(results: dict[str, Any]) -> list[CurvePoint]:
    """Every reveal run of `results`, light load to overload, as points of the load curve."""
    a = results["args"]
    runs = [
        ("reveal_light", a["light_users"]),
        *((f"reveal_at_{n}", n) for n in a.get("curve_users", [])),
        ("reveal", a["users"]),
        ("reveal_overload", a.get("overload_users", 0)),
    ]
    points = []
    for scenario, offered in runs:
        run = results.get(scenario, {}).get("Aggregated")
        if not run or not offered:
            continue
        steady = results.get(f"{scenario}_steady") or {}
        served = steady.get("rps")
        cores = results.get(f"cpu_{scenario}", {}).get("app")
        direct = direct_at(results, offered)["all"]
        added50, added99 = _added(run, direct)
        points.append(
            CurvePoint(
                offered=offered,
                served=served,
                errors=int(run["errors"]),
                p50=run["p50"],
                p99=run["p99"],
                direct50=direct["p50"],
                direct99=direct["p99"],
                added50=added50,
                added99=added99,
                app_cpu_ms=round(cores * 1000 / served, 1) if cores and served else None,
            )
        )
    return sorted(points, key=lambda point: point.offered)


def latency_capacity(points: list[CurvePoint]) -> int | None:
    """The highest offered rate up to which every run met both latency targets (added p50 at most
    10 ms, p99 at most 30 ms, no errors); None when the lightest run already missed one."""
    capacity = None
    for point in points:
        if not point.latency_ok:
            break
        capacity = point.offered
    return capacity


def _curve_lines(points: list[CurvePoint]) -> list[str]:
    if len(points) < 3:
        return []
    capacity = latency_capacity(points)
    held = (
        f"up to {capacity} reveals/s offered"
        if capacity is not None
        else f"in none of these runs, not even at {points[0].offered}/s"
    )
    lines = [
        "",
        "Load curve: every reveal run, as offered (reveals/s), served in the steady state, the "
        "direct calls at the same load, and what the app added over them (ms). Both latency "
        "targets and zero errors held " + held + ".",
        "",
        "| offered/s | served/s | errors | p50 | p99 | direct p50 | direct p99 | added p50 "
        "| added p99 | app CPU ms per reveal | both latency targets |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for p in points:
        served = f"{p.served:.1f}" if p.served is not None else "-"
        cpu = f"{p.app_cpu_ms:.1f}" if p.app_cpu_ms is not None else "-"
        lines.append(
            f"| {p.offered} | {served} | {p.errors} | {p.p50:.1f} | {p.p99:.1f} "
            f"| {p.direct50:.1f} | {p.direct99:.1f} | {p.added50:.1f} | {p.added99:.1f} "
            f"| {cpu} | {'met' if p.latency_ok else 'no'} |"
        )
    return lines


@dataclass(frozen=True)
class Rung:
    """One rung of the floor ladder at one load: the provider call behind `layer` and everything
    above it; its latencies, what it adds over the direct calls at that load, and its step over
    the rung before (the layer's own share)."""

    load: int
    layer: str
    p50: float
    p99: float
    added50: float | None  # None for the direct calls themselves
    added99: float | None
    step50: float | None
    step99: float | None
    cpu_ms: float | None  # the server's CPU per request answered; None for the direct calls


REVEAL_LAYER = "the reveal's own work: code check, quota, sealing, audit, receipt"


def floor_ladder(results: dict[str, Any]) -> list[Rung]:
    """The floor ladder at each load where the floors ran (the light load and the target): the
    direct calls, the bare floor, the Django floor and the complete reveal, in that order, each
    against the direct calls at that load. Empty when no floor ran."""
    a = results["args"]
    rungs: list[Rung] = []
    for scenario, load in (("reveal_light", a["light_users"]), ("reveal", a["users"])):
        floors = [(f"{name}_{load}", layer) for name, _, layer in FLOOR_RUNGS]
        if not all(results.get(key, {}).get("Aggregated") for key, _ in floors):
            continue
        direct = direct_at(results, load)["all"]
        rungs.append(
            Rung(load, "provider calls made directly", direct["p50"], direct["p99"], *[None] * 5)
        )
        before = direct
        for key, layer in [*floors, (scenario, REVEAL_LAYER)]:
            run = results.get(key, {}).get("Aggregated")
            if not run:
                break
            cores = results.get(f"cpu_{key}", {}).get("app")
            served = (results.get(f"{key}_steady") or {}).get("rps")
            added50, added99 = _added(run, direct)
            step50, step99 = _added(run, before)
            rungs.append(
                Rung(
                    load,
                    layer,
                    run["p50"],
                    run["p99"],
                    round(added50, 1),
                    round(added99, 1),
                    round(step50, 1),
                    round(step99, 1),
                    round(cores * 1000 / served, 1) if cores and served else None,
                )
            )
            before = run
    return rungs


def _floor_lines(rungs: list[Rung]) -> list[str]:
    if not rungs:
        return []

    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:+.1f}"

    lines = [
        "",
        "Where the added time comes from (bench/floors.py): at the light load and the target, the "
        "same provider calls behind each layer of the stack in turn, run one after another just "
        "after the direct calls: gunicorn serving a bare WSGI callable that makes the call (no "
        "Django), then Django with the production middleware serving the reveal's card read and "
        "the call behind the signed-in guard (no code check, quota, sealing, audit or receipt), "
        "then the complete reveal. `added` is over the direct calls at that load, `step` over the "
        "rung above: that layer's own share.",
        "",
        "| load/s | the provider call, plus | p50 | p99 | added p50 | added p99 | step p50 "
        "| step p99 | server CPU ms per request |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rungs:
        cpu = "-" if r.cpu_ms is None else f"{r.cpu_ms:.1f}"
        lines.append(
            f"| {r.load} | {r.layer} | {r.p50:.1f} | {r.p99:.1f} | {cell(r.added50)} "
            f"| {cell(r.added99)} | {cell(r.step50)} | {cell(r.step99)} | {cpu} |"
        )
    django = [r for r in rungs if r.layer == FLOOR_RUNGS[-1][2] and r.added50 is not None]
    if django:
        top = max(django, key=lambda r: r.load)
        within = (top.added50 or 0) <= 10 and (top.added99 or 0) <= 30
        lines += [
            "",
            f"At {top.load}/s the cheapest signed-in Django request that makes the call adds "
            f"{top.added50:.1f} ms at p50 and {top.added99:.1f} ms at p99 over the direct calls, "
            + (
                "within the targets' 10 / 30 ms: the rest of the budget is the reveal's own."
                if within
                else "already past the targets' 10 / 30 ms before the reveal does any work of "
                "its own."
            ),
        ]
    return lines


def throughput_verdict(
    *,
    target: dict[str, Any],
    target_steady: dict[str, float] | None,
    overload: dict[str, Any] | None,
    overload_steady: dict[str, float] | None,
) -> tuple[bool, str]:
    """Whether the runs show at least 100 complete reveals a second with zero errors, and what
    besides the target run showed it ("" when that run alone did).

    The target run must have no errors. Its cardholders offer exactly 100 reveals a second, so it
    can never answer more, and one answer that lands in a second left out of the steady
    window reads as 99.9/s: a coin flip at exactly 100 offered. So the overload run, which offers
    more, counts too, when it also answered every reveal: a steady rate of at least 100/s there
    with zero errors shows the capacity the target asks for.
    """
    # An error is what either side saw: Locust's failures, or a non-2xx answer in the app's log.
    if target["errors"] or (target_steady or {}).get("errors"):
        return False, ""
    if (target_steady or target)["rps"] >= 100:
        return True, ""
    if overload is None or overload["errors"] or not overload_steady:
        return False, ""
    if overload_steady.get("errors"):
        return False, ""
    if overload_steady["rps"] >= 100:
        return True, (
            f"; the overload run served {overload_steady['rps']:.1f}/s in the steady state with "
            "0 errors"
        )
    return False, ""


_SENDERS = {
    "thread": "a thread in each worker",
    "process": "a process of their own (send_receipts --follow, its CPU counted with the app)",
}


def _percentile_source(results: dict[str, Any]) -> str:
    """Where the Locust runs' percentiles come from, for the report's first line."""
    rounded = [
        name
        for name, rows in results.items()
        if isinstance(rows, dict)
        and "Aggregated" in rows
        and name != "warmup"
        and not rows["Aggregated"].get("exact")
    ]
    if not rounded:
        return (
            ", percentiles of each request's time as measured (the direct calls' too), over "
            "the requests that succeeded"
        )
    return (
        "; percentiles of each request's time as measured, except in "
        + ", ".join(sorted(rounded))
        + ", whose are Locust's (1 ms bins under 100 ms, 10 ms above: its samples file is missing)"
    )


def render(results: dict[str, Any]) -> str:
    m, a = results["machine"], results["args"]
    direct, listing = results["direct"], results.get("list", {}).get("Aggregated")
    light, full = results["reveal_light"]["Aggregated"], results["reveal"]["Aggregated"]
    overload = results.get("reveal_overload", {}).get("Aggregated")
    direct_light = direct_at(results, a["light_users"])
    d_light, d_all = direct_light["all"], direct["all"]
    light50, light99 = _added(light, d_light)
    full50, full99 = _added(full, d_all)
    pages = results["pages"]
    steady = {
        name: results.get(f"{name}_steady")
        for name in ("reveal_light", "reveal", "reveal_overload", "list")
    }
    full_steady = steady["reveal"] or None
    if full_steady:
        full_rate = f"{full_steady['rps']:.1f}/s in the steady state"
        full_rate_detail = f"{full_rate}, slowest second {full_steady['min']:.0f}"
    else:
        full_rate = full_rate_detail = (
            f"{full['rps']:.1f}/s over the whole run (too short for a steady state)"
        )
    lines = [
        f"Run {m['date']} on {m['cpus']} CPUs ({m['cpu']}), {m['memory']} RAM, Python "
        f"{m['python']}, load average {m['load']} at the start (other work on the machine shows "
        f"in the numbers); gunicorn {a['workers']} workers x {a['threads']} threads; receipts sent "
        f"by {_SENDERS[a.get('receipts_sender', 'thread')]}; PostgreSQL, "
        f"Redis, the sandbox and Locust on the same machine; sandbox latency "
        f"{a['latency_ms']:g} ms; {a['duration']} s per scenario. Latencies in ms"
        f"{_percentile_source(results)}.",
        "",
        *(
            [
                "Machine speed: the reference workload (`reference_workload_ms` in "
                "bench/run_bench.py, pure Python, nothing else running) took "
                f"{results['reference_ms_start']} ms of CPU before the run and "
                f"{results['reference_ms_end']} ms after it. Lower is faster; compare runs "
                "through it, since every CPU-bound figure below scales with it.",
                "",
            ]
            if "reference_ms_end" in results
            else []
        ),
        f"**Headline: at {a['light_users']} reveals/s a complete reveal through the app takes "
        f"{light['p50']:.1f} ms at p50 and {light['p99']:.1f} ms at p99, against "
        f"{d_light['p50']:.1f} / {d_light['p99']:.1f} ms for the same provider calls made "
        f"directly at the same rate: the app adds {light50:.1f} ms at p50 and {light99:.1f} ms "
        f"at p99 (ratio {light['p50'] / d_light['p50']:.2f}x). With {a['users']} cardholders "
        f"offering {a['users']} reveals/s it completes {full_rate}"
        + (f" ({full['rps']:.1f}/s over the whole run, ramp-up included)" if full_steady else "")
        + f" with {full['errors']} errors and adds {full50:.1f} / {full99:.1f} ms over the "
        f"direct calls at that rate ({d_all['p50']:.1f} / {d_all['p99']:.1f} ms).**",
        "",
        '("per second" is Locust\'s count over the whole run; "steady" is what the app\'s access '
        "log shows it answered per second, leaving out the first 3 and last 2 seconds.)",
        "",
        "| scenario | requests | per second | steady per second | p50 | p95 | p99 | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *(
            [_row(f"provider calls made directly, {a['light_users']} callers at 1/s", d_light)]
            if direct_light is not direct
            else []
        ),
        _row(
            f"complete reveals, {a['light_users']} cardholders at 1/s",
            light,
            steady["reveal_light"],
        ),
        _row(f"provider calls made directly, {a['users']} callers at 1/s", d_all),
        _row(f"complete reveals, {a['users']} cardholders at 1/s", full, steady["reveal"]),
        *(
            [
                _row(
                    f"overload: {a['overload_users']} cardholders at 1/s",
                    overload,
                    steady["reveal_overload"],
                )
            ]
            if overload
            else []
        ),
        *(
            [
                _row(
                    f"card list (GET /), {a['list_users']} users back to back",
                    listing,
                    steady["list"],
                )
            ]
            if listing
            else []
        ),
        *_curve_lines(load_curve(results)),
        *_floor_lines(floor_ladder(results)),
        "",
        "Per provider (p50 / p99):",
        "",
        f"| provider | provider CPU ms per call | direct, {a['light_users']}/s "
        f"| app, {a['light_users']}/s | added | direct, {a['users']}/s | app, {a['users']}/s "
        "| added |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind in sorted(k for k in direct if k != "all"):
        cells = [str(direct[kind].get("cpu_ms", "-"))]
        for scenario, baseline in (("reveal_light", direct_light), ("reveal", direct)):
            d = baseline.get(kind)
            r = results[scenario].get(f"reveal {kind}")
            if r is None or d is None:
                cells += ["-", "-", "-"]
                continue
            add50, add99 = _added(r, d)
            cells += [
                f"{d['p50']:.0f} / {d['p99']:.0f}",
                f"{r['p50']:.0f} / {r['p99']:.0f}",
                f"{add50:.0f} / {add99:.0f}",
            ]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Page weight (response bodies a browser downloads: the HTML, and CSS and JS gzip-compressed "
        "by WhiteNoise):",
        "",
        "| page | requests | bytes | third-party requests |",
        "|---|---:|---:|---:|",
    ]
    for page in pages:
        shown = "/" if page["path"] == "/" else "/cards/<id>/ (the reveal page)"
        lines.append(
            f"| `{shown}` | {page['requests']} | {page['bytes']:,} "
            f"| {len(page['third_party_requests'])} |"
        )
    prof = results["profile"]
    lines += [
        "",
        "What one request costs the app, in process (median CPU time of the Django process, "
        "mean CPU time of its PostgreSQL backend process, SQL queries and cache calls per "
        "request; bench/profile_requests.py):",
        "",
        "| request | CPU ms | PostgreSQL CPU ms | SQL queries | cache calls |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, key in (
        ("reveal", "reveal"),
        ("card list", "card_list"),
        ("the floor: a signed-in page that does nothing (bench/floor_urls.py)", "floor"),
    ):
        if key not in prof:
            continue
        p = prof[key]
        lines.append(
            f"| {label} | {p['cpu_ms_median']} | {p.get('db_cpu_ms_mean') or '-'} "
            f"| {', '.join(map(str, p['queries']))} "
            f"| {', '.join(map(str, p['cache_calls']))} |"
        )
    steps = prof["reveal"].get("cpu_ms_by_step", {})
    walls = prof["reveal"].get("wall_ms_by_step", {})
    dbs = prof["reveal"].get("db_cpu_ms_by_step", {})
    if steps:
        lines += [
            "",
            "Where a reveal's time goes (mean ms per reveal, by step of the reveal service; CPU, "
            "wall time, whose excess over CPU is waiting on PostgreSQL, Redis, the provider or "
            "the mail relay, and the PostgreSQL backend's CPU; the rest of the request is the "
            "middleware: session, user, OTP device, CSRF; `receipts_wake` sends the receipt in the "
            "request here, where the app's background thread sends it after the response):",
            "",
            "| step | CPU ms | wall ms | PostgreSQL CPU ms |",
            "|---|---:|---:|---:|",
            *[
                f"| {name} | {ms} | {walls.get(name, '-')} | {dbs.get(name, '-')} |"
                for name, ms in steps.items()
            ],
        ]
    groups = ["app", "postgresql", "redis", "sandbox", "load"]
    lines += [
        "",
        "CPU used during each scenario, in cores (2 exist; `load` is Locust or the direct caller), "
        "the app's CPU per request answered (app cores over the steady rate; it includes the "
        "receipt sender's work), and the reference workload's time just before the scenario and "
        "during it (median and range of one round every 3 s at the lowest priority): the machine's "
        "speed then.",
        "",
        "| scenario | "
        + " | ".join(groups)
        + " | app CPU ms per request | reference ms before | reference ms during |",
        "|---|" + "---:|" * (len(groups) + 3),
    ]
    reference = results.get("reference_ms", {})
    during = results.get("reference_during", {})
    for name, key, scenario in (
        ("direct", "cpu_direct", "direct"),
        (f"reveals, {a['light_users']}/s", "cpu_reveal_light", "reveal_light"),
        (f"reveals, {a['users']}/s", "cpu_reveal", "reveal"),
        (f"overload, {a['overload_users']}/s", "cpu_reveal_overload", "reveal_overload"),
        ("card list", "cpu_list", "list"),
        *(
            (f"{rung.replace('_', ' ')}, {load}/s", f"cpu_{rung}_{load}", f"{rung}_{load}")
            for load in (a["light_users"], a["users"])
            for rung, _, _ in FLOOR_RUNGS
        ),
    ):
        if key not in results:
            continue
        cpu = results[key]
        rate = (results.get(f"{scenario}_steady") or {}).get("rps", 0.0)
        per_request = f"{cpu.get('app', 0) * 1000 / rate:.1f}" if rate else "-"
        lines.append(
            f"| {name} | "
            + " | ".join(f"{cpu.get(g, 0):.2f}" for g in groups)
            + f" | {per_request} | {reference.get(scenario, '-')} | {_speed_cell(during, scenario)} |"
        )

    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    weight_ok = all(p["bytes"] < 60 * 1024 for p in pages)
    third_ok = all(not p["third_party_requests"] for p in pages)
    full_ok, full_ok_detail = throughput_verdict(
        target=full,
        target_steady=full_steady,
        overload=overload,
        overload_steady=steady["reveal_overload"],
    )
    lines += [
        "",
        "Targets:",
        "",
        f"- a reveal adds at most 10 ms at p50: {verdict(light50 <= 10)} at "
        f"{a['light_users']}/s ({light50:.1f} ms), {verdict(full50 <= 10)} at "
        f"{a['users']}/s offered ({full50:.1f} ms)",
        f"- a reveal adds at most 30 ms at p99: {verdict(light99 <= 30)} at "
        f"{a['light_users']}/s ({light99:.1f} ms), {verdict(full99 <= 30)} at "
        f"{a['users']}/s offered ({full99:.1f} ms)",
        f"- at least 100 complete reveals/s with zero errors: {verdict(full_ok)} "
        f"({full_rate_detail}; {full['errors']} errors in the whole run{full_ok_detail})",
        (
            f"- card list at least 300 requests/s: "
            f"{verdict(listing['rps'] >= 300 and listing['errors'] == 0)} "
            f"({listing['rps']:.1f}/s, {listing['errors']} errors)"
            if listing
            else "- card list at least 300 requests/s: not run (--list-users 0)"
        ),
        f"- page weight under 60 KB: {verdict(weight_ok)}",
        f"- no third-party requests: {verdict(third_ok)}",
        "",
        f"Reveal receipts sent over SMTP to the loopback sink during the run: "
        f"{results['receipts_sent']}.",
    ]
    failures = [
        f"{scenario}: {failure}"
        for scenario in sorted(
            k.removesuffix("_failures") for k in results if k.endswith("_failures")
        )
        if not scenario.endswith("warmup")
        for failure in results.get(f"{scenario}_failures", [])
    ]
    if failures:
        lines += ["", "Failures seen:", "", *[f"- {f}" for f in failures[:16]]]
    return "\n".join(lines)


def _write_section(
    path: Path, report: str, *, start: str = SECTION_START, end: str = SECTION_END
) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{start}\n{report}\n{end}"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        tail = rest.split(end, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


# ------------------------------------------------------------------- instruction counts

# How many of each kind one callgrind run measures (bench/instructions.py): enough that one
# request's odd path (a token refresh, a garbage collection) moves the mean little.
INSTRUCTION_COUNTS = {"reveal": 24, "receipt": 24, "list": 60, "floor": 60}
# Counted through gunicorn: its worker under callgrind, a short and a long run of requests on one
# kept-alive connection; the difference over the extra requests is the cost of one (start-up,
# warm-up and shutdown cancel out). The pages' paths; reveals run a multiple of the four
# providers each time.
SERVED_PATHS = {"list-served": "/", "floor-served": "/bench/floor"}
SERVED_RUNS = {"list-served": (20, 100), "floor-served": (20, 100), "reveal-served": (8, 40)}


def callgrind_total(path: Path) -> int:
    """The instructions counted in a callgrind output file (its `totals:` or `summary:` line)."""
    for line in path.read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("totals", "summary") and value.strip():
            return int(value.split()[0])
    raise SystemExit(f"{path}: no totals line; did callgrind run?")


def instructions_count(
    sessions_file: Path, kinds: list[str], *, app: App, env: dict[str, str], workdir: Path
) -> dict:
    """Run bench/instructions.py under callgrind once per kind; instructions per request.
    `app` is the bench's own gunicorn, which keeps the sessions signed in between kinds."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("--instructions needs valgrind (Debian: apt-get install valgrind)")
    sessions = json.loads(sessions_file.read_text())["sessions"]
    counts: dict[str, Any] = {}
    for kind in kinds:
        if kind not in INSTRUCTION_COUNTS:
            continue
        count = INSTRUCTION_COUNTS[kind]
        out = workdir / f"callgrind.{kind}.out"
        _keep_signed_in(app, sessions)
        print(f"bench: counting instructions: {count} x {kind} under callgrind", flush=True)
        run(
            [
                valgrind,
                "--tool=callgrind",
                "--collect-atstart=no",
                "--toggle-collect=starmap_next",
                f"--callgrind-out-file={out}",
                sys.executable,
                "-m",
                "bench.instructions",
                "--sessions",
                str(sessions_file),
                "--kind",
                kind,
                "--count",
                str(count),
                "--out",
                str(workdir / f"instructions.{kind}.json"),
            ],
            env={**env, "PYTHONHASHSEED": "0"},
            log=workdir / "instructions.log",
            timeout=1200,
        )
        total = callgrind_total(out)
        counts[kind] = {"requests": count, "instructions": total, "per_request": total // count}
    for kind in kinds:
        if kind not in SERVED_RUNS:
            continue
        print(f"bench: counting instructions: {kind} under callgrind", flush=True)
        per_request = served_count(
            kind, sessions, signed_in_by=app, valgrind=valgrind, env=env, workdir=workdir
        )
        short, long = SERVED_RUNS[kind]
        extra = long - short
        counts[kind] = {
            "requests": extra,
            "instructions": per_request * extra,
            "per_request": per_request,
        }
    return counts


def _keep_signed_in(app: App, sessions: list[dict[str, Any]]) -> None:
    """A page for every session through the bench's own gunicorn (not counted), so none reaches
    the 15-minute idle timeout during a count or a load run that starts later than that."""
    for session in sessions:
        cookies = {"__Host-sessionid": session["sessionid"]}
        status, _, _ = app.request("GET", "/", cookies=cookies)
        if status != 200:
            raise SystemExit(f"a bench session is no longer signed in (GET / answered {status})")


def served_count(
    kind: str,
    sessions: list[dict[str, Any]],
    *,
    signed_in_by: App,
    valgrind: str,
    env: dict[str, str],
    workdir: Path,
) -> int:
    """Instructions per request of `kind` (a page of SERVED_PATHS, or `reveal-served`) through
    gunicorn (one worker, one thread, the access log on), by the difference between a short and
    a long run (SERVED_RUNS). `signed_in_by` keeps the sessions signed in before each run.
    Reveals leave their receipts queued, as the in-process count does (a sender process would
    send them), so the two counts compare."""
    totals = []
    for count in SERVED_RUNS[kind]:
        _keep_signed_in(signed_in_by, sessions)
        port = free_port()
        outdir = workdir / f"callgrind.{kind}.{count}"
        outdir.mkdir()
        served_env = {
            **env,
            "PORT": str(port),
            "WEB_CONCURRENCY": "1",
            "GUNICORN_THREADS": "1",
            "GUNICORN_ACCESS_LOG": str(outdir / "access.log"),
            "PYTHONHASHSEED": "0",
            # The URL conf with the floor page, as the in-process counts use.
            "CARDREVEAL_BENCH_URLCONF": "1",
            "CARDREVEAL_RECEIPTS_SENDER": "process",
        }
        argv = [
            valgrind,
            "--tool=callgrind",
            "--trace-children=yes",
            f"--callgrind-out-file={outdir}/callgrind.%p.out",
            str(VENV_BIN / "gunicorn"),
            "-c",
            "gunicorn.conf.py",
        ]
        with started(argv, env=served_env, log=outdir / "gunicorn.log") as proc:
            app = App(port)
            _wait_ready(app, timeout=900)
            if kind == "reveal-served":
                _served_reveals(app, sessions, count)
            else:
                _served_gets(app, SERVED_PATHS[kind], sessions[0], count)
            proc.send_signal(signal.SIGTERM)  # the master stops its worker; callgrind writes
            proc.wait(timeout=300)
        totals.append(max(callgrind_total(out) for out in outdir.glob("callgrind.*.out")))
    short, long = SERVED_RUNS[kind]
    return (totals[1] - totals[0]) // (long - short)


def _served_headers(app: App, session: dict[str, Any]) -> dict[str, str]:
    cookies = {"__Host-sessionid": session["sessionid"], "__Host-csrftoken": session["csrftoken"]}
    return {
        "Host": f"{LOOPBACK}:{app.port}",
        "X-Forwarded-Proto": "https",
        "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
    }


def _served_get(conn: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> None:
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        raise SystemExit(f"GET {path} through gunicorn answered {response.status}")


def _served_gets(app: App, path: str, session: dict[str, Any], count: int) -> None:
    conn = http.client.HTTPConnection(LOOPBACK, app.port, timeout=300)
    headers = _served_headers(app, session)
    try:
        for _ in range(5 + count):  # 5 first: templates, URL conf, connections, as when warm
            _served_get(conn, path, headers)
    finally:
        conn.close()


def _served_reveals(app: App, sessions: list[dict[str, Any]], count: int) -> None:
    """`count` reveals, round robin over the providers and over the cardholders (one reveal per
    cardholder per 1-second code step; under valgrind a reveal takes longer than that), after one
    reveal per provider to warm up (keys parsed, pooled connection open, Thredd's token)."""
    kinds = sorted(sessions[0]["cards"])
    warm, cardholders = sessions[-len(kinds) :], sessions[: -len(kinds)]
    if len(cardholders) < 2:
        raise SystemExit("reveal-served needs more signed-in cardholders (--users)")
    plan = list(zip(warm, kinds, strict=True)) + [
        (cardholders[i % len(cardholders)], kinds[i % len(kinds)]) for i in range(count)
    ]
    _, key = client_key()
    conn = http.client.HTTPConnection(LOOPBACK, app.port, timeout=300)
    try:
        # Under valgrind a cold worker's first POST takes seconds (imports, templates), longer
        # than a code lives: load the pages first, and post one malformed code (refused before
        # any check, and never counted as a guess) so the reveals after it are warm.
        first = warm[0]
        for path in ["/", *(f"/cards/{card['id']}/" for card in first["cards"].values())]:
            _served_get(conn, path, _served_headers(app, first))
        for session, kind, malformed in [
            (first, kinds[0], True),
            *((s, k, False) for s, k in plan),
        ]:
            form = {
                # As late as possible; one step of drift is accepted, as for in-process counts.
                "otp_code": "abc" if malformed else totp(session["totp_key"], time.time()),
                "public_key": key,
                "csrfmiddlewaretoken": session["csrftoken"],
            }
            sent = _served_headers(app, session) | {
                "Content-Type": FORM,
                "Origin": app.origin,
            }
            card = session["cards"][kind]["id"]
            conn.request("POST", f"/cards/{card}/reveal", body=urlencode(form), headers=sent)
            response = conn.getresponse()
            body = response.read()
            if response.status != (403 if malformed else 200):
                raise SystemExit(
                    f"reveal {kind} through gunicorn answered {response.status}: {body[:200]!r}"
                )
    finally:
        conn.close()


def _git(*args: str) -> str:
    return subprocess.run(  # noqa: S603 (our own fixed git commands)
        ["git", *args],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def _commit() -> str:
    """The checked-out commit, with `+changes` when the work tree differs from it."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def _speed_cell(during: dict[str, Any], scenario: str) -> str:
    speed = during.get(scenario) or {}
    if not speed.get("samples"):
        return "-"
    return f"{speed['median']} ({speed['min']} to {speed['max']})"


def instructions_report(counts: dict) -> str:
    lines = [
        f"Counted {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC at commit {_commit()}, Python "
        f"{platform.python_version()}, valgrind's callgrind (bench/instructions.py); "
        "millions of instructions per request, the Django process only (all its threads), "
        "sandbox latency included as waiting, which costs no instructions.",
        "",
        "| request | measured | instructions per request (M) |",
        "|---|---:|---:|",
    ]
    names = {
        "reveal": "reveal (receipt queued, not sent)",
        "receipt": "receipt sent, per receipt in a batch",
        "list": "card list (GET /)",
        "floor": "the floor: a signed-in page that does nothing",
        "list-served": "card list through gunicorn (worker, access log included)",
        "floor-served": "the floor through gunicorn (worker, access log included)",
        "reveal-served": "reveal through gunicorn (worker, access log included; receipt queued)",
    }
    for kind, row in counts.items():
        lines.append(f"| {names[kind]} | {row['requests']} | {row['per_request'] / 1e6:.2f} |")
    if "reveal" in counts and "receipt" in counts:
        total = counts["reveal"]["per_request"] + counts["receipt"]["per_request"]
        lines += ["", f"A reveal with its receipt: {total / 1e6:.2f} M instructions."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
