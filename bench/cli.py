"""The command line of `python -m bench.run_bench` (`make bench`, `make bench-instructions`)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from bench.instruction_counts import KINDS
from bench.processes import ROOT
from bench.scenarios import DEFAULT_CURVE, parse_curve_users

DESCRIPTION = (
    "make bench: the app under gunicorn on PostgreSQL and Redis against provider sandboxes with a "
    "set latency, loaded by Locust, next to the same provider calls made directly and behind "
    "gunicorn and Django alone; or, with --instructions, instructions per request by callgrind."
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.run_bench", description=DESCRIPTION)
    add = parser.add_argument
    add("--duration", type=int, default=20, help="seconds per scenario")
    add("--users", type=int, default=100, help="cardholders revealing, 1/s each: the target load")
    add(
        "--overload-users",
        type=int,
        default=120,
        help="cardholders in the overload run, past the target (0 skips it)",
    )
    add("--light-users", type=int, default=10, help="cardholders in the light-load reveal run")
    add("--list-users", type=int, default=32, help="closed-loop card-list users")
    add("--latency-ms", type=float, default=50.0, help="sandbox latency")
    add("--workers", type=int, default=2 * (os.cpu_count() or 1))
    add("--threads", type=int, default=6)
    add("--postgres-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    add("--redis-url", default="redis://127.0.0.1:6379/13")
    add("--write", type=Path, help="update the results section of this file")
    add(
        "--static-root",
        type=Path,
        default=ROOT / "var" / "bench" / "staticfiles",
        help="collect static files here; collected again only when static/ or the packages change",
    )
    add("--profile-only", action="store_true", help="stop after the in-process profile")
    add(
        "--background-cardholders",
        type=int,
        default=0,
        help="fill the tables with this many other cardholders (two cards each, the bank's id, "
        "an authenticator) before measuring, e.g. 100000: does the bank's size slow the card "
        "list and the reveal? Their query plans go to var/bench/<run>/plans.txt",
    )
    _add_instruction_options(parser)
    _add_load_options(parser)
    return parser


def _add_instruction_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions per request under valgrind's callgrind (bench/instructions.py) "
        "instead of the load runs; about 16 minutes",
    )
    parser.add_argument(
        "--instruction-kinds",
        default=",".join(KINDS),
        help="with --instructions: which requests to count, comma-separated "
        f"(of {', '.join(KINDS)})",
    )


def _add_load_options(parser: argparse.ArgumentParser) -> None:
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


def instruction_kinds(raw: str) -> list[str]:
    """The kinds of `--instruction-kinds`, in the order given; SystemExit naming the valid ones
    when one is unknown or none is given."""
    kinds = [k.strip() for k in raw.split(",") if k.strip()]
    if not kinds or set(kinds) - set(KINDS):
        raise SystemExit(f"--instruction-kinds: choose from {', '.join(KINDS)}")
    return kinds


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The options, checked: SystemExit naming what is wrong. `curve_users` becomes the list of
    load-curve points (bench/scenarios.py)."""
    args = _parser().parse_args(argv)
    args.curve_users = parse_curve_users(args.curve_users, light=args.light_users, top=args.users)
    instruction_kinds(args.instruction_kinds)
    if not 0 <= args.background_cardholders <= 10_000_000:
        raise SystemExit("--background-cardholders must be 0-10,000,000")
    if args.duration < 5 or args.duration > 600 or not 1 <= args.users <= 1000:
        raise SystemExit("--duration must be 5-600 s and --users 1-1000")
    for url in (args.postgres_url, args.redis_url):
        if "127.0.0.1" not in url and "localhost" not in url:
            raise SystemExit("the benchmark only talks to services on 127.0.0.1")
    return args
