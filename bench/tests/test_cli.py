"""The command line of `python -m bench.run_bench` (bench/cli.py), as the Makefile uses it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.cli import instruction_kinds, parse_args
from bench.processes import ROOT


def test_make_bench_runs_the_default_plan():
    args = parse_args([])
    assert (args.duration, args.light_users, args.users, args.overload_users) == (20, 10, 100, 120)
    assert args.curve_users == [25, 50, 75]
    assert args.floors
    assert not args.instructions
    assert args.write is None


def test_make_bench_instructions_options_are_accepted():
    args = parse_args(["--instructions", "--users", "40", "--overload-users", "0"])
    assert args.instructions
    assert args.curve_users == [25]
    assert instruction_kinds(args.instruction_kinds) == [
        "reveal",
        "receipt",
        "list",
        "floor",
        "list-served",
        "floor-served",
        "reveal-served",
    ]


def test_the_documented_options_are_accepted(tmp_path):
    args = parse_args(
        [
            "--duration",
            "60",
            "--write",
            str(tmp_path / "b.md"),
            "--no-floors",
            "--curve-users",
            "",
            "--receipts-sender",
            "process",
            "--list-users",
            "0",
            "--latency-ms",
            "20",
        ]
    )
    assert (args.duration, args.floors, args.curve_users) == (60, False, [])
    assert (args.receipts_sender, args.list_users, args.latency_ms) == ("process", 0, 20.0)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--duration", "2"], "--duration must be 5-600 s"),
        (["--users", "0"], "--users 1-1000"),
        (["--instruction-kinds", "reveal,nonsense"], "choose from reveal, receipt"),
        (["--postgres-url", "postgres://db.example.com/x"], "only talks to services on 127.0.0.1"),
        (["--curve-users", "5"], "not between the light load"),
    ],
)
def test_options_out_of_range_are_refused_by_name(argv, message):
    with pytest.raises(SystemExit, match=message):
        parse_args(argv)


def test_python_m_bench_run_bench_still_answers_help():
    result = subprocess.run(
        [sys.executable, "-m", "bench.run_bench", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--instructions" in result.stdout
    assert "--no-floors" in result.stdout
