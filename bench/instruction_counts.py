"""`make bench-instructions`: requests counted under callgrind, in process and through gunicorn, and their table."""

from __future__ import annotations

import datetime as dt
import json
import platform
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.app_client import App, keep_signed_in, wait_ready
from bench.instructions import TOGGLE
from bench.processes import ROOT, VENV_BIN, free_port, run_logged, started
from bench.served_requests import served_gets, served_reveals
from bench.stack import Stack

# How many of each kind one callgrind run measures (bench/instructions.py): enough that one
# request's odd path (a token refresh, a garbage collection) moves the mean little.
INSTRUCTION_COUNTS = {"reveal": 24, "receipt": 24, "list": 60, "floor": 60}
# Counted through gunicorn: its worker under callgrind, a short and a long run of requests on one
# kept-alive connection; the difference over the extra requests is the cost of one (start-up,
# warm-up and shutdown cancel out). The pages' paths; reveals run a multiple of the four
# providers each time.
SERVED_PATHS = {"list-served": "/", "floor-served": "/bench/floor"}
SERVED_RUNS = {"list-served": (20, 100), "floor-served": (20, 100), "reveal-served": (8, 40)}
KINDS = [*INSTRUCTION_COUNTS, *SERVED_RUNS]

_NAMES = {
    "reveal": "reveal (receipt queued, not sent)",
    "receipt": "receipt sent, per receipt in a batch",
    "list": "card list (GET /)",
    "floor": "the floor: a signed-in page that does nothing",
    "list-served": "card list through gunicorn (worker, access log included)",
    "floor-served": "the floor through gunicorn (worker, access log included)",
    "reveal-served": "reveal through gunicorn (worker, access log included; receipt queued)",
}


def callgrind_total(path: Path) -> int:
    """The instructions counted in a callgrind output file (its `totals:` or `summary:` line)."""
    for line in path.read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("totals", "summary") and value.strip():
            return int(value.split()[0])
    raise SystemExit(f"{path}: no totals line; did callgrind run?")


def in_process_argv(
    valgrind: str, kind: str, *, count: int, sessions_file: Path, workdir: Path
) -> list[str]:
    """bench/instructions.py under callgrind, counting only inside `counted` (TOGGLE)."""
    return [
        valgrind,
        "--tool=callgrind",
        "--collect-atstart=no",
        f"--toggle-collect={TOGGLE}",
        f"--callgrind-out-file={workdir / f'callgrind.{kind}.out'}",
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
    ]


def _count_in_process(
    kind: str, *, valgrind: str, stack: Stack, sessions: list[dict[str, Any]]
) -> dict[str, int]:
    count = INSTRUCTION_COUNTS[kind]
    keep_signed_in(stack.app, sessions)
    print(f"bench: counting instructions: {count} x {kind} under callgrind", flush=True)
    argv = in_process_argv(
        valgrind, kind, count=count, sessions_file=stack.sessions_file, workdir=stack.workdir
    )
    run_logged(
        argv,
        env={**stack.env, "PYTHONHASHSEED": "0"},
        log=stack.workdir / "instructions.log",
        timeout=1200,
    )
    total = callgrind_total(stack.workdir / f"callgrind.{kind}.out")
    return {"requests": count, "instructions": total, "per_request": total // count}


def count_instructions(
    kinds: list[str], *, stack: Stack, sessions: list[dict[str, Any]]
) -> dict[str, dict[str, int]]:
    """Instructions per request of each of `kinds`: the in-process kinds first (one callgrind run
    of bench/instructions.py each), then the kinds served by gunicorn. The stack's own gunicorn
    keeps the sessions signed in between kinds."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("--instructions needs valgrind (Debian: apt-get install valgrind)")
    counts: dict[str, dict[str, int]] = {}
    for kind in kinds:
        if kind in INSTRUCTION_COUNTS:
            counts[kind] = _count_in_process(
                kind, valgrind=valgrind, stack=stack, sessions=sessions
            )
    for kind in kinds:
        if kind not in SERVED_RUNS:
            continue
        print(f"bench: counting instructions: {kind} under callgrind", flush=True)
        per_request = served_count(kind, sessions, valgrind=valgrind, stack=stack)
        short, long = SERVED_RUNS[kind]
        extra = long - short
        counts[kind] = {
            "requests": extra,
            "instructions": per_request * extra,
            "per_request": per_request,
        }
    return counts


def _served_total(
    kind: str, count: int, sessions: list[dict[str, Any]], *, valgrind: str, stack: Stack
) -> int:
    """Instructions of a gunicorn (one worker, one thread) under callgrind that served `count`
    requests of `kind`, from start-up to shutdown."""
    keep_signed_in(stack.app, sessions)
    port = free_port()
    outdir = stack.workdir / f"callgrind.{kind}.{count}"
    outdir.mkdir()
    served_env = {
        **stack.env,
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "1",
        "GUNICORN_ACCESS_LOG": str(outdir / "access.log"),
        "PYTHONHASHSEED": "0",
        # The URL conf with the floor page, as the in-process counts use.
        "CARDREVEAL_BENCH_URLCONF": "1",
        "CARDREVEAL_RECEIPTS_SENDER": "process",
    }
    argv = [valgrind, "--tool=callgrind", "--trace-children=yes"]
    argv += [f"--callgrind-out-file={outdir}/callgrind.%p.out"]
    argv += [str(VENV_BIN / "gunicorn"), "-c", "gunicorn.conf.py"]
    with started(argv, env=served_env, log=outdir / "gunicorn.log") as proc:
        app = App(port)
        wait_ready(app, timeout=900)
        if kind == "reveal-served":
            served_reveals(app, sessions, count)
        else:
            served_gets(app, SERVED_PATHS[kind], sessions[0], count)
        proc.send_signal(signal.SIGTERM)  # the master stops its worker; callgrind writes
        proc.wait(timeout=300)
    return max(callgrind_total(out) for out in outdir.glob("callgrind.*.out"))


def served_count(kind: str, sessions: list[dict[str, Any]], *, valgrind: str, stack: Stack) -> int:
    """Instructions per request of `kind` (a page of SERVED_PATHS, or `reveal-served`) through
    gunicorn (one worker, one thread, the access log on), by the difference between a short and
    a long run (SERVED_RUNS). Reveals leave their receipts queued, as the in-process count does
    (a sender process would send them), so the two counts compare."""
    short, long = SERVED_RUNS[kind]
    totals = [
        _served_total(kind, count, sessions, valgrind=valgrind, stack=stack)
        for count in (short, long)
    ]
    return (totals[1] - totals[0]) // (long - short)


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


def instructions_report(counts: dict[str, dict[str, int]]) -> str:
    """The table `make bench-instructions` prints and writes: millions per request, by kind."""
    lines = [
        f"Counted {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC at commit {_commit()}, Python "
        f"{platform.python_version()}, valgrind's callgrind (bench/instructions.py); "
        "millions of instructions per request, the Django process only (all its threads), "
        "sandbox latency included as waiting, which costs no instructions.",
        "",
        "| request | measured | instructions per request (M) |",
        "|---|---:|---:|",
    ]
    for kind, row in counts.items():
        lines.append(f"| {_NAMES[kind]} | {row['requests']} | {row['per_request'] / 1e6:.2f} |")
    if "reveal" in counts and "receipt" in counts:
        total = counts["reveal"]["per_request"] + counts["receipt"]["per_request"]
        lines += ["", f"A reveal with its receipt: {total / 1e6:.2f} M instructions."]
    return "\n".join(lines)


def save_counts(counts: dict[str, Any], workdir: Path) -> None:
    """The counts as JSON beside the run's logs."""
    (workdir / "instructions.json").write_text(json.dumps(counts, indent=2))
