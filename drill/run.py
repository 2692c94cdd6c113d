"""The multi-host drill: app hosts in their own network namespaces behind HAProxy, one fault at a time
under a steady load of reveals, then the "nothing lost" checks and the restore drill.

sudo .venv/bin/python -m drill.run [--short] [--hosts 3] [--write docs/reliability.md] [--real-pg-restart]

Needs root (ip netns), haproxy, socat, redis-server, pg_dump/pg_restore and the machine's
PostgreSQL on 127.0.0.1:5432 (`make drill` installs haproxy when missing). Everything it starts,
the namespaces and the bridge included, is removed when it ends, however it ends.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import secrets
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.app_client import sign_in_all
from bench.processes import ROOT
from drill import netns
from drill.backup import Restored, restore_drill, verify_audit
from drill.checks import ProviderCall, ProviderLeg, double_spends, unmatched_calls
from drill.faults import Fault, HangProvider, KillHost, RestartPostgres, RestartRedis, all_ready
from drill.load import Duels, Load, ProbeResult, lock_probe, quota_probe
from drill.report import (
    Check,
    Phase,
    PhaseSummary,
    checks_table,
    counter_increase,
    phase_table,
    summarise,
    write_block,
)
from drill.scrape import Samples, refuses_without_token, scrape, total
from drill.stack import Stack, seed, start_hosts, start_services

QUOTA_PER_CARD_DAY = 12  # drill/stack.py sets it
LOCKOUT_THRESHOLD = 4
DUEL_USERS = 4


@dataclass(frozen=True)
class Plan:
    """How big and how long: hosts, the steady load, each fault's hold and the settling after."""

    hosts: int
    rate: float  # reveals a second offered by the steady load
    period: float  # seconds between one cardholder's reveals
    baseline: float
    outage: float  # how long a killed host, Redis or PostgreSQL stays down
    hang: float  # how long the provider hangs (above the 15 s provider deadline)
    settle: float  # seconds after recovery counted in the fault's window
    receipts_wait: float

    @property
    def load_users(self) -> int:
        return max(1, math.ceil(self.rate * self.period))


SHORT = Plan(hosts=2, rate=3, period=6, baseline=20, outage=4, hang=20, settle=4, receipts_wait=20)
FULL = Plan(hosts=3, rate=5, period=8, baseline=25, outage=8, hang=30, settle=8, receipts_wait=45)


def scrape_all(stack: Stack) -> dict[str, Samples | None]:
    return {name: scrape(stack.direct(name), stack.metrics_token) for name in stack.hosts}


def figure(scrapes: dict[str, Samples | None], name: str, **labels: str) -> dict[str, float]:
    return {h: total(s, name, **labels) for h, s in scrapes.items() if s is not None}


def during_note(scrapes: dict[str, Samples | None]) -> str:
    """What the scrape in the middle of a fault saw: hosts answering, stores they could not read."""
    answered = [s for s in scrapes.values() if s is not None]
    down = sorted(
        source
        for source in ("database", "cache")
        if any(total(s, "cardreveal_metrics_source_up", source=source) == 0 for s in answered)
    )
    note = f"{len(answered)} of {len(scrapes)} hosts answered"
    return note + (f"; {' and '.join(down)} unreadable" if down else "")


def _log(message: str) -> None:
    print(f"drill: {message}", flush=True)


class Drill:
    """One run: the stack, the clients, the phases and what was measured."""

    def __init__(self, stack: Stack, plan: Plan, sessions: list[dict[str, Any]]) -> None:
        self.stack = stack
        self.plan = plan
        self.hosts = list(stack.hosts)
        self.quota_session = sessions[0]
        self.lock_session = sessions[1]
        self.load = Load(stack.app, sessions[2 + DUEL_USERS :], plan.period)
        self.duels = Duels(stack.direct, self.hosts, sessions[2 : 2 + DUEL_USERS])
        self.summaries: list[PhaseSummary] = []
        self.during: dict[str, dict[str, Samples | None]] = {}
        self.quota: ProbeResult | None = None
        self.lock: ProbeResult | None = None
        self.metrics_before: dict[str, Samples | None] = {}
        self.metrics_after: dict[str, Samples | None] = {}
        self.after_baseline: dict[str, Samples | None] = {}
        self.load_average = 0.0  # the machine's, when the drill started

    def run(self, faults: list[Fault]) -> None:
        self.load.start()
        self.duels.start()
        try:
            self.metrics_before = before = scrape_all(self.stack)
            started = time.time()
            _log("baseline: the quota and lock probes, each request on the next host")
            self.quota = quota_probe(
                self.stack.direct, self.hosts, self.quota_session, limit=QUOTA_PER_CARD_DAY
            )
            self.lock = lock_probe(
                self.stack.direct, self.hosts, self.lock_session, threshold=LOCKOUT_THRESHOLD
            )
            time.sleep(max(0.0, started + self.plan.baseline - time.time()))
            before = self._phase(Phase("no fault (baseline)", started, time.time()), before)
            self.after_baseline = before
            for fault in faults:
                _log(f"fault: {fault.name}")
                started = time.time()
                fault.inject(self.stack)
                time.sleep(fault.hold)
                self.during[fault.name] = scrape_all(self.stack)
                fault.heal(self.stack)
                all_ready(self.stack)
                time.sleep(self.plan.settle)
                before = self._phase(Phase(fault.name, started, time.time(), fault.detail), before)
                self.summaries[-1].notes.append(during_note(self.during[fault.name]))
        finally:
            self.duels.stop()
            self.load.stop()
        self.metrics_after = scrape_all(self.stack)
        with (self.stack.workdir / "answers.jsonl").open("w") as fh:
            for answer in self.load.answers:
                fh.write(json.dumps(answer.__dict__) + "\n")

    def _phase(self, phase: Phase, before: dict[str, Samples | None]) -> dict[str, Samples | None]:
        after = scrape_all(self.stack)
        summary = summarise(self.load.answers, phase)
        revealed = {"outcome": "revealed"}
        summary.metrics_revealed = counter_increase(
            figure(before, "cardreveal_reveals_total", **revealed),
            figure(after, "cardreveal_reveals_total", **revealed),
        )
        summary.metrics_failed = counter_increase(
            figure(before, "cardreveal_reveals_total", outcome="failed"),
            figure(after, "cardreveal_reveals_total", outcome="failed"),
        )
        self.summaries.append(summary)
        _log(
            f"  {phase.name}: {summary.revealed}/{summary.requests} revealed, "
            f"longest gap {summary.longest_gap:.1f} s, errors {dict(summary.errors)}"
        )
        return after


# ---------------------------------------------------------------------------------- checks


def _database_rows(stack: Stack, sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(stack.local_env["DATABASE_URL"]) as conn:
        return list(conn.execute(sql).fetchall())


def provider_calls_check(stack: Stack) -> Check:
    calls = []
    with stack.calls_file.open() as fh:
        for line in fh:
            entry = json.loads(line)
            calls.append(ProviderCall(float(entry["t"]), entry["kind"]))
    rows = _database_rows(
        stack,
        "SELECT provider_kind, extract(epoch FROM created_at), extract(epoch FROM completed_at) "
        "FROM audit_revealevent WHERE provider_latency_ms IS NOT NULL OR outcome = 'pending'",
    )
    legs = [ProviderLeg(k, float(o), None if c is None else float(c)) for k, o, c in rows]
    missing = unmatched_calls(calls, legs)
    return Check(
        "every provider call the sandbox saw has its audit record",
        not missing and bool(calls),
        f"{len(calls)} code requests at the sandbox, {len(legs)} records of a provider asked; "
        f"{len(missing)} calls without a record",
    )


def pending_note(stack: Stack) -> Check:
    rows = _database_rows(stack, "SELECT count(*) FROM audit_revealevent WHERE outcome = 'pending'")
    return Check(
        "reveals cut off mid-call, on record as pending",
        True,
        f"{rows[0][0]} records pending (the provider was asked, the outcome never written: "
        "requests in flight on the killed host)",
        note=True,
    )


def duel_check(duels: Duels) -> Check:
    twice = double_spends(duels.duels)
    once = sum(1 for d in duels.duels if d.successes == 1)
    return Check(
        "no code worked twice across hosts",
        not twice and once > 0,
        f"{len(duels.duels)} codes each sent to two hosts at once: {once} revealed once, "
        f"{len(twice)} twice, {len(duels.duels) - once - len(twice)} not at all (during faults)",
    )


def _steps(result: ProbeResult | None) -> str:
    if result is None:
        return "not run"
    return ", ".join(f"{host} {kind}" for host, _, kind in result.steps)


def quota_check(result: ProbeResult | None, hosts: list[str]) -> Check:
    steps = result.steps if result else []
    successes = [s for s in steps if s[1] == 200]
    refused = steps[-1][2] if steps and steps[-1][1] != 200 else ""
    spread = {host for host, _, _ in successes}
    ok = len(successes) == QUOTA_PER_CARD_DAY and "quota" in refused and spread == set(hosts)
    return Check(
        "reveal quota shared across hosts",
        ok,
        f"per-card quota {QUOTA_PER_CARD_DAY}: {len(successes)} reveals over "
        f"{', '.join(sorted(spread))}, then `{refused}`",
    )


def lock_check(
    result: ProbeResult | None,
    before: dict[str, Samples | None],
    after: dict[str, Samples | None],
) -> Check:
    steps = result.steps if result else []
    wrong = steps[:-1]
    last = steps[-1] if steps else ("", 0, "")
    spread = {host for host, _, _ in wrong}
    locks = counter_increase(
        figure(before, "cardreveal_lockouts_total"), figure(after, "cardreveal_lockouts_total")
    )
    # The wrong code that reaches the threshold is refused with the lock it set.
    ok = (
        len(wrong) == LOCKOUT_THRESHOLD
        and all("otp_invalid" in kind for _, _, kind in wrong[:-1])
        and "account_locked" in wrong[-1][2]
        and len(spread) > 1
        and "account_locked" in last[2]
        and last[0] != wrong[-1][0]
        and locks >= 1
    )
    return Check(
        "lockout shared across hosts",
        ok,
        f"{_steps(result)}; lockouts counted by the metrics: {locks:.0f}",
    )


def breaker_check(drill: Drill, hang: str) -> Check:
    summary = next((s for s in drill.summaries if s.phase.name == hang), None)
    during = drill.during.get(hang, {})
    open_on = sorted(
        h
        for h, s in during.items()
        if total(s, "cardreveal_breaker_state", provider="thredd", state="open") >= 1
    )
    fast_by_host = sorted(
        {
            a.host
            for a in drill.load.answers
            if summary
            and summary.phase.started <= a.answered < summary.phase.ended
            and "circuit_open" in a.kind
        }
    )
    ok = open_on == sorted(drill.hosts) and fast_by_host == sorted(drill.hosts)
    return Check(
        "circuit breaker shared across hosts",
        ok,
        f"thredd breaker open in the metrics of {', '.join(open_on) or 'no host'}; "
        f"failed fast (provider_circuit_open) on {', '.join(fast_by_host) or 'no host'}",
    )


def receipts_check(stack: Stack, plan: Plan) -> Check:
    deadline = time.monotonic() + plan.receipts_wait
    waiting = -1.0
    while time.monotonic() < deadline:
        scrapes = [s for s in scrape_all(stack).values() if s is not None]
        if scrapes:
            waiting = total(scrapes[0], "cardreveal_receipts_waiting")
            if waiting == 0:
                break
        time.sleep(1)
    (revealed,) = _database_rows(
        stack, "SELECT count(*) FROM audit_revealevent WHERE outcome = 'revealed'"
    )[0]
    sent = stack.sink.messages
    return Check(
        "every reveal's receipt sent or still queued",
        sent + max(waiting, 0) >= revealed,
        f"{revealed} reveals, {sent} receipts received by the mail sink, "
        f"{max(waiting, 0):.0f} still queued (metrics)",
    )


def metrics_private_check(stack: Stack) -> Check:
    refused = [name for name in stack.hosts if refuses_without_token(stack.direct(name))]
    return Check(
        "metrics refused without the token",
        len(refused) == len(stack.hosts),
        f"401 without the bearer token on {', '.join(refused)}",
    )


def restore_check(restored: Restored) -> Check:
    heads = ", ".join(f"`{h[:24]}…`" for h in restored.before.heads.values())
    links = ", ".join(f"{c} {n}" for c, n in restored.after.links.items())
    return Check(
        "backup restores and verifies against the anchors kept before",
        restored.ok,
        f"pg_dump ({restored.dump_bytes / 1e6:.1f} MB) restored into a fresh database; "
        f"verify_audit --anchor {heads}: {'intact' if restored.after.ok else 'BROKEN'} ({links} links)",
    )


# ---------------------------------------------------------------------------------- the run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="the CI version: 2 hosts, short holds")
    parser.add_argument("--hosts", type=int, help="app hosts (2-3; default 3, 2 with --short)")
    parser.add_argument("--rate", type=float, help="reveals a second offered by the steady load")
    parser.add_argument(
        "--write", type=Path, help="put the report between the markers of this file"
    )
    parser.add_argument(
        "--real-pg-restart",
        action="store_true",
        help="restart the machine's PostgreSQL (pg_ctlcluster 15 main restart) instead of "
        "cutting the drill's forward to it: only on a machine nobody else uses",
    )
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--keep", action="store_true", help="keep the drill's database and logs")
    args = parser.parse_args(argv)
    plan = SHORT if args.short else FULL
    if args.hosts is not None:
        if not 2 <= args.hosts <= 3:
            parser.error("--hosts must be 2 or 3")
        plan = Plan(**{**plan.__dict__, "hosts": args.hosts})
    if args.rate is not None:
        if not 0 < args.rate <= 50:
            parser.error("--rate must be above 0 and at most 50")
        plan = Plan(**{**plan.__dict__, "rate": args.rate})
    args.plan = plan
    return args


def _preflight() -> None:
    if os.geteuid() != 0:
        raise SystemExit("the drill makes network namespaces: run it as root (sudo make drill)")
    missing = [
        t
        for t in ("ip", "haproxy", "socat", "redis-server", "pg_dump", "pg_restore")
        if not shutil.which(t)
    ]
    if missing:
        raise SystemExit(
            f"the drill needs {', '.join(missing)} (apt-get install haproxy socat redis-server postgresql-client)"
        )


def _stop_on_term(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def report_text(plan: Plan, drill: Drill, checks: list[Check], real_pg: bool) -> str:
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = len(drill.load.sessions)
    lines = [
        f"Measured {when} on {os.cpu_count()} CPU cores (load average {drill.load_average:.1f} "
        f"when it started, other work included): {plan.hosts} app hosts "
        f"(gunicorn, 2 workers x 6 threads each, production settings) behind HAProxy, "
        f"{load} cardholders revealing every {plan.period:g} s through it "
        f"(~{load / plan.period:.1f} reveals/s, a fresh TOTP code each), and every "
        f"{drill.duels.period:g} s one code sent to two hosts at once. PostgreSQL restart: "
        + (
            "`pg_ctlcluster 15 main restart`."
            if real_pg
            else "every connection cut at the forward the hosts reach it through."
        ),
        "",
        phase_table(drill.summaries),
        "",
        "After the run:",
        "",
        checks_table(checks),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan: Plan = args.plan
    load_average = os.getloadavg()[0]
    _preflight()
    signal.signal(signal.SIGTERM, _stop_on_term)
    tag = secrets.token_hex(3)
    workdir = ROOT / "var" / "drill" / f"{time.strftime('%Y%m%d-%H%M%S')}-{tag}"
    workdir.mkdir(parents=True)
    users = 2 + DUEL_USERS + plan.load_users
    with contextlib.ExitStack() as cleanup:
        if not args.keep:
            cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        _log(f"network: bridge and {plan.hosts} namespaces (logs in {workdir})")
        network = netns.build(cleanup, tag=tag, hosts=plan.hosts)
        stack = start_services(
            cleanup,
            workdir=workdir,
            network=network,
            postgres_url=args.postgres_url,
            keep_db=args.keep,
            cards=users,
        )
        _log(f"migrate and seed {users} cardholders")
        seed(stack, users=users)
        _log("app hosts and HAProxy")
        start_hosts(cleanup, stack)
        people = json.loads((workdir / "users.json").read_text())["users"]
        _log("sign-ins through the load balancer")
        sessions = sign_in_all(stack.app, people)
        drill = Drill(stack, plan, sessions)
        drill.load_average = load_average
        faults: list[Fault] = [
            KillHost("app host killed (SIGKILL)", plan.outage, host=drill.hosts[-1]),
            RestartRedis("Redis restarted", plan.outage),
            RestartPostgres("PostgreSQL restarted", plan.outage, real=args.real_pg_restart),
            HangProvider("provider hangs (Thredd)", plan.hang),
        ]
        drill.run(faults)
        _log("checks")
        verified = verify_audit(stack.local_env)
        checks = [
            Check(
                "`verify_audit` passes",
                verified.ok,
                ", ".join(f"{c}: {n} links" for c, n in verified.links.items())
                or verified.output[-300:],
            ),
            provider_calls_check(stack),
            pending_note(stack),
            duel_check(drill.duels),
            lock_check(drill.lock, drill.metrics_before, drill.after_baseline),
            quota_check(drill.quota, drill.hosts),
            breaker_check(drill, faults[-1].name),
            receipts_check(stack, plan),
            metrics_private_check(stack),
        ]
        _log("restore drill: pg_dump, restore, verify against the anchors")
        for service in stack.hosts.values():
            service.stop()  # the dump is of a database nobody writes to any more
        restored = restore_drill(
            server_url=args.postgres_url,
            database=stack.database,
            env=stack.local_env,
            workdir=workdir,
        )
        checks.append(restore_check(restored))
        report = report_text(plan, drill, checks, args.real_pg_restart)
        print(report, flush=True)
        if args.write:
            write_block(args.write, report)
            _log(f"wrote the report into {args.write}")
        failed = [c.name for c in checks if not c.ok]
        if failed:
            _log(f"FAILED: {'; '.join(failed)}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
