"""`make bench` and `make bench-instructions`: start the stack, measure, report (see bench/cli.py)."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

from bench.app_client import keep_signed_in, sign_in_all
from bench.cli import instruction_kinds, parse_args
from bench.direct_runs import run_direct_calls
from bench.instruction_counts import count_instructions, instructions_report, save_counts
from bench.locust_runs import run_scenario
from bench.machine import machine, reference_workload_ms, warn_if_busy
from bench.page_weight import weigh_pages
from bench.processes import PYTHON, ROOT, run_logged
from bench.report import render
from bench.results_block import INSTRUCTIONS, REVEAL, write_block
from bench.scenarios import scenario_plan
from bench.stack import Stack, check_services, start_stack

# Every session loads a page just before a Locust run once this long has passed since the last
# time, well inside the app's 15-minute idle timeout (a run keeps its own cardholders active).
KEEP_SIGNED_IN_SECONDS = 300


def main() -> None:
    args = parse_args()
    check_services(args.postgres_url, args.redis_url)
    warn_if_busy()
    workdir = _new_workdir()
    results: dict[str, Any] = {
        "machine": machine(),
        "reference_ms_start": reference_workload_ms(),
        "args": {k: v for k, v in vars(args).items() if not isinstance(v, Path)},
    }
    with contextlib.ExitStack() as cleanup:
        stack = start_stack(cleanup, args, workdir)
        sessions = _sign_in_cardholders(stack)
        if args.instructions:
            _count_instructions(args, stack, sessions)
            return
        results["pages"] = weigh_pages(stack.app, sessions[0])
        results["profile"] = _profile_requests(stack, sessions)
        if args.profile_only:
            print(json.dumps(results["profile"], indent=2))
            return
        time.sleep(1.05)  # the next reveals need a newer 1-second step than the profile used
        _run_load_plan(args, stack, sessions, results)
        results["receipts_sent"] = stack.sink.messages
    results["reference_ms_end"] = reference_workload_ms()
    _report(results, workdir, write=args.write)


def _new_workdir() -> Path:
    run_id = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    workdir = ROOT / "var" / "bench" / run_id
    workdir.mkdir(parents=True)
    print(f"bench: logs in {workdir.relative_to(ROOT)}", flush=True)
    return workdir


def _sign_in_cardholders(stack: Stack) -> list[dict[str, Any]]:
    """Every seeded cardholder signed in through the real pages; the sessions also go to
    sessions.json for the processes that reveal as them."""
    users = json.loads(stack.users_file.read_text())["users"]
    print(f"bench: signing in {len(users)} cardholders through the real pages", flush=True)
    sessions = sign_in_all(stack.app, users)
    stack.sessions_file.write_text(json.dumps({"sessions": sessions}))
    return sessions


def _count_instructions(
    args: argparse.Namespace, stack: Stack, sessions: list[dict[str, Any]]
) -> None:
    kinds = instruction_kinds(args.instruction_kinds)
    counts = count_instructions(kinds, stack=stack, sessions=sessions)
    report = instructions_report(counts)
    save_counts(counts, stack.workdir)
    print(report)
    if args.write:
        write_block(args.write, report, name=INSTRUCTIONS)
        print(f"bench: wrote the instruction counts into {args.write}")


def _profile_requests(stack: Stack, sessions: list[dict[str, Any]]) -> dict[str, Any]:
    """bench/profile_requests.py's in-process costs per request."""
    print("bench: profiling single requests in process", flush=True)
    workdir = stack.workdir
    argv = [PYTHON, "-m", "bench.profile_requests", "--sessions", str(stack.sessions_file)]
    argv += [
        "--out",
        str(workdir / "profile.json"),
        "--cprofile",
        str(workdir / "profile-reveal.txt"),
    ]
    argv += ["--reveals", str(min(40, len(sessions)))]
    run_logged(argv, env=stack.env, log=workdir / "profile.log", timeout=300)
    return dict(json.loads((workdir / "profile.json").read_text()))


def _run_load_plan(
    args: argparse.Namespace, stack: Stack, sessions: list[dict[str, Any]], results: dict[str, Any]
) -> None:
    """The Locust runs of the plan, each load's direct calls just before it."""
    plan = scenario_plan(
        light=args.light_users,
        curve=args.curve_users,
        users=args.users,
        overload=args.overload_users,
        list_users=args.list_users,
        workers=args.workers,
        seconds=args.duration,
        floors="floors" in stack.servers,
    )
    signed_in_at = time.monotonic()
    for step in plan:
        if step.direct_first:
            target = step.users == args.users
            run_direct_calls(
                step.users, stack=stack, duration=args.duration, target=target, results=results
            )
        # Cardholders that only the later runs use would reach the 15-minute idle timeout in
        # a long run and be signed out: a page for every session when 5 minutes have passed.
        if time.monotonic() - signed_in_at > KEEP_SIGNED_IN_SECONDS:
            keep_signed_in(stack.app, sessions)
            signed_in_at = time.monotonic()
        run_scenario(step, stack, results)


def _report(results: dict[str, Any], workdir: Path, *, write: Path | None) -> None:
    (workdir / "results.json").write_text(json.dumps(results, indent=2))
    report = render(results)
    print()
    print(report)
    if write:
        write_block(write, report, name=REVEAL)
        print(f"bench: wrote the results into {write}")


if __name__ == "__main__":
    main()
