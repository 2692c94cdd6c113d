"""What one request costs the app, measured in process: CPU time, SQL queries, cache calls.

python -m bench.profile_requests --sessions sessions.json --out profile.json [--cprofile top.txt]
(with DJANGO_SETTINGS_MODULE=bench.settings, the database seeded and the sandbox running)

Uses the sessions `make bench` signed in (bench/run_bench.py), one reveal per cardholder (each
with a fresh code from its own device, all in the same second), then the card list and a signed-in
page that does nothing (`bench/floor_urls.py`, the floor under every page) many times. CPU time is this
process's (the provider's latency is waiting, not CPU), so the numbers hold on a busy machine too.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import statistics
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.client_key import client_key
from bench.totp import totp

# Reveals are posted as static/js/reveal.js and the Locust users post them: a plain form.
FORM = "application/x-www-form-urlencoded"


def main() -> None:
    parser = argparse.ArgumentParser(description="Profile single requests in process.")
    parser.add_argument("--sessions", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cprofile", type=Path)
    parser.add_argument("--reveals", type=int, default=40)
    parser.add_argument("--lists", type=int, default=200)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from django.conf import settings

    # Receipts are sent in the request here, so their CPU is counted (step `receipts_wake`); in
    # the app a background thread sends them after the response.
    settings.CARDREVEAL_RECEIPTS_IN_BACKGROUND = False
    # The app's URLs plus `/bench/floor`, a signed-in page that does nothing (bench/floor_urls.py).
    settings.ROOT_URLCONF = "bench.floor_urls"
    from django.core.cache import caches
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    sessions = json.loads(args.sessions.read_text())["sessions"]
    _, public_key = client_key()

    cache_calls = {"n": 0}
    backend = type(caches["default"])
    # Every call is one round trip to Redis, our pipelined ones (counters, recent values) included.
    for name in (
        "get",
        "set",
        "add",
        "incr",
        "decr",
        "delete",
        "get_many",
        "set_many",
        "touch",
    ):
        original = getattr(backend, name, None)
        if original is None:
            continue

        def counted(*a: Any, __original: Any = original, **k: Any) -> Any:
            cache_calls["n"] += 1
            return __original(*a, **k)

        setattr(backend, name, counted)

    # One client, so one handler: each new handler loads the middleware again, and WhiteNoise's
    # start-up scan of the static files would be counted in every request.
    shared = Client(
        HTTP_HOST="127.0.0.1",
        HTTP_X_FORWARDED_PROTO="https",
        HTTP_ORIGIN="https://127.0.0.1",
        enforce_csrf_checks=True,
    )

    def client_for(session: dict[str, Any]) -> Client:
        client = shared
        client.cookies.clear()
        client.cookies["__Host-sessionid"] = session["sessionid"]
        client.cookies["__Host-csrftoken"] = session["csrftoken"]
        return client

    # CPU attribution inside one reveal: each step the reveal service calls, timed where it is
    # looked up (the service module's namespace), plus every provider's fetch_cvv.
    import cardreveal.cards.services as services
    import cardreveal.cards.views as views
    from providers.registry import provider_class

    # CPU and wall time per step: where wall exceeds CPU, the step waited (round trips to
    # PostgreSQL, Redis, the provider or the mail relay).
    steps: dict[str, float] = {}
    steps_wall: dict[str, float] = {}
    steps_db: dict[str, float] = {}
    timing = {"on": False}
    server_cpu = _ServerCpu(connection)

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*a: Any, **k: Any) -> Any:
            if not timing["on"]:
                return fn(*a, **k)
            began_db = server_cpu.ns()
            began, began_wall = time.process_time(), time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                steps[name] = steps.get(name, 0.0) + time.process_time() - began
                steps_wall[name] = steps_wall.get(name, 0.0) + time.perf_counter() - began_wall
                spent_db = _ServerCpu.ms_between(began_db, server_cpu.ns())
                if spent_db is not None:
                    steps_db[name] = steps_db.get(name, 0.0) + spent_db / 1000

        return wrapper

    for name in (
        "account_security_read",
        "card_for_reveal",
        "parse_client_key",
        "verify_totp",
        "reveal_quota_reserve",
        "provider_for_binding",
        "seal",
        "reveal_event_record",
        "reveal_event_open",
        "reveal_event_complete",
        "receipt_draft",
        "receipts_wake",
    ):
        if hasattr(services, name):
            setattr(services, name, timed(name, getattr(services, name)))
    views.reveal_cvv = timed("reveal_cvv (the whole service)", views.reveal_cvv)
    for kind in sorted(sessions[0]["cards"]):
        cls = provider_class(kind)
        cls.fetch_cvv = timed("provider fetch_cvv (all providers)", cls.fetch_cvv)

    query_log: list[str] = []

    def measure(call: Any, *, counted: bool) -> tuple[float, float, int, int, int, float | None]:
        """Run one request: its CPU and wall time, SQL statements (-1 when not `counted`), cache
        calls, status and PostgreSQL CPU. Counting statements means logging them, which costs CPU
        of its own: so requests are either counted or timed, and only the timed ones give the
        CPU and wall figures."""
        cache_calls["n"] = 0
        before = server_cpu.ns()
        logging = CaptureQueriesContext(connection) if counted else contextlib.nullcontext()
        with logging as queries:
            cpu, wall = time.process_time(), time.perf_counter()
            status = call()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        after = server_cpu.ns()
        if counted and not query_log:
            query_log.extend(q["sql"][:160] for q in queries.captured_queries)
        db_ms = _ServerCpu.ms_between(before, after)
        statements = len(queries) if counted else -1
        return cpu * 1000, wall * 1000, statements, cache_calls["n"], status, db_ms

    # CPU time, not wall time: waiting on the provider or the database costs the server nothing.
    profiler = cProfile.Profile(time.process_time) if args.cprofile else None
    list_profiler = cProfile.Profile(time.process_time) if args.cprofile else None
    kinds = sorted(sessions[0]["cards"])
    reveals = []
    # Warm up: first request per process loads templates, URL conf, provider keys, connections.
    for session in sessions[:4]:
        client_for(session).get("/")
    used = sessions[: args.reveals]

    def reveal_each(
        profile: cProfile.Profile | None, batch: list[dict[str, Any]], *, counted: bool = False
    ) -> None:
        time.sleep(1.05 - time.time() % 1)  # a new 1-second step: every code is fresh
        for i, session in enumerate(batch):
            card = session["cards"][kinds[i % len(kinds)]]
            client = client_for(session)
            form = {
                "otp_code": totp(session["totp_key"], time.time()),
                "public_key": public_key,
                "csrfmiddlewaretoken": session["csrftoken"],
            }
            if profile:
                profile.enable()
            result = measure(
                lambda c=client, f=form, cid=card["id"]: (
                    c.post(
                        f"/cards/{cid}/reveal", urlencode(f), content_type=FORM, secure=True
                    ).status_code
                ),
                counted=counted,
            )
            if profile:
                profile.disable()
            else:
                reveals.append(result)

    # One reveal per provider first, as a running worker has made: keys parsed, connections open;
    # then the same again, counted (statements logged), from the next cardholders.
    reveal_each(None, sessions[-len(kinds) :])
    reveals.clear()
    reveal_each(None, sessions[-2 * len(kinds) : -len(kinds)], counted=True)
    reveals_counted = list(reveals)
    reveals.clear()
    timing["on"] = True
    reveal_each(None, used)  # measured without the profiler, whose overhead would inflate CPU time
    timing["on"] = False
    query_log_reveal = list(query_log)
    query_log.clear()
    if profiler:
        reveal_each(profiler, used)
        query_log.clear()
    client = client_for(sessions[0])

    def get_each(path: str) -> tuple[list[Any], list[Any]]:
        """`args.lists` requests of `path` counted, then as many timed."""
        counted, timed = (
            [
                measure(lambda: client.get(path, secure=True).status_code, counted=c)
                for _ in range(args.lists)
            ]
            for c in (True, False)
        )
        return counted, timed

    lists_counted, lists = get_each("/")
    query_log_list = list(query_log)
    floors_counted, floors = get_each("/bench/floor")
    if args.cprofile:
        floor_profiler = cProfile.Profile(time.process_time)
        floor_profiler.enable()
        for _ in range(args.lists):
            client.get("/bench/floor", secure=True)
        floor_profiler.disable()
        floor_profiler.dump_stats(args.cprofile.with_name("profile-floor.pstats"))
    if list_profiler:
        list_profiler.enable()
        for _ in range(args.lists):
            client.get("/", secure=True)
        list_profiler.disable()

    Row = tuple[float, float, int, int, int, float | None]

    def summary(rows: list[Row], counted: list[Row]) -> dict[str, Any]:
        ok = [r for r in rows if r[4] == 200]
        db = [r[5] for r in ok if r[5] is not None]
        return {
            "count": len(rows),
            "ok": len(ok),
            "statuses": sorted({r[4] for r in rows}),
            "cpu_ms_median": round(statistics.median(r[0] for r in ok), 2) if ok else None,
            "wall_ms_median": round(statistics.median(r[1] for r in ok), 2) if ok else None,
            "queries": sorted({r[2] for r in counted if r[4] == 200}),
            "cache_calls": sorted({r[3] for r in ok}),
            # The PostgreSQL backend's own CPU for the request (None: the server is not local).
            "db_cpu_ms_mean": round(statistics.fmean(db), 2) if db else None,
        }

    count = max(1, len(reveals))
    breakdown = {name: round(total * 1000 / count, 2) for name, total in steps.items()}
    breakdown_wall = {name: round(total * 1000 / count, 2) for name, total in steps_wall.items()}
    breakdown_db = {name: round(total * 1000 / count, 2) for name, total in steps_db.items()}
    result = {
        "reveal": summary(reveals, reveals_counted)
        | {
            "sql": query_log_reveal,
            "cpu_ms_by_step": breakdown,
            "wall_ms_by_step": breakdown_wall,
            "db_cpu_ms_by_step": breakdown_db,
        },
        "card_list": summary(lists, lists_counted) | {"sql": query_log_list},
        "floor": summary(floors, floors_counted),
    }
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    if profiler and args.cprofile:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(40)
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(200)
        out.write("\n\n==================== card list\n")
        pstats.Stats(list_profiler, stream=out).sort_stats("tottime").print_stats(40)
        pstats.Stats(list_profiler, stream=out).sort_stats("cumulative").print_stats(60)
        args.cprofile.write_text(out.getvalue())
        # The raw profile too, for `python -m pstats` (callers and callees of any function).
        profiler.dump_stats(args.cprofile.with_suffix(".pstats"))


class _ServerCpu:
    """CPU time of this connection's PostgreSQL backend process, in ns, from the kernel's
    scheduler statistics (`/proc/<pid>/schedstat`, nanosecond resolution): readable when the
    server runs on this machine, as in `make bench`; None otherwise. The queries and the commits'
    log writes are done by the backend, so this is what a request costs the database server."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection if connection.vendor == "postgresql" else None

    def ns(self) -> tuple[int, int] | None:
        """(backend pid, its CPU ns so far), or None."""
        raw = self.connection.connection if self.connection is not None else None
        if raw is None:  # not PostgreSQL, or no connection open yet
            return None
        # psycopg knows the backend's pid without a query; a reconnect gives a new one.
        pid = raw.info.backend_pid
        try:
            return pid, int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):  # the server is on another machine
            return None

    @staticmethod
    def ms_between(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
        """The backend's CPU ms between two `ns()` readings; None when either is unknown or a
        reconnect put them on different backends."""
        if before is None or after is None or before[0] != after[0]:
            return None
        return (after[1] - before[1]) / 1e6


if __name__ == "__main__":
    main()
