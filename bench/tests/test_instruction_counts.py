"""The instruction counts of `make bench-instructions` (bench/instruction_counts.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.instruction_counts import callgrind_total, in_process_argv, instructions_report
from bench.instructions import TOGGLE


def test_callgrind_totals_are_read_from_its_output_file(tmp_path):
    out = tmp_path / "callgrind.out"
    out.write_text(
        "# callgrind format\nevents: Ir\nsummary: 123456789\nfl=x\n1 5\ntotals: 987654\n"
    )
    assert callgrind_total(out) == 123456789


def test_an_output_without_totals_is_an_error_not_a_zero(tmp_path):
    out = tmp_path / "callgrind.out"
    out.write_text("# callgrind format\nevents: Ir\n")
    with pytest.raises(SystemExit, match="no totals line"):
        callgrind_total(out)


def test_callgrind_counts_only_inside_the_function_the_measured_requests_run_in():
    argv = in_process_argv(
        "valgrind", "reveal", count=24, sessions_file=Path("s.json"), workdir=Path("w")
    )
    assert "--collect-atstart=no" in argv
    assert [a for a in argv if a.startswith("--toggle-collect=")] == [f"--toggle-collect={TOGGLE}"]
    assert argv[argv.index("--kind") + 1] == "reveal"
    assert argv[argv.index("--count") + 1] == "24"


def test_the_report_gives_millions_per_request_and_the_reveal_with_its_receipt():
    counts = {
        "reveal": {"requests": 24, "instructions": 24 * 21_500_000, "per_request": 21_500_000},
        "receipt": {"requests": 24, "instructions": 24 * 4_000_000, "per_request": 4_000_000},
    }
    report = instructions_report(counts)
    assert "| reveal (receipt queued, not sent) | 24 | 21.50 |" in report
    assert "| receipt sent, per receipt in a batch | 24 | 4.00 |" in report
    assert "A reveal with its receipt: 25.50 M instructions." in report
    assert "with its receipt" not in instructions_report({"reveal": counts["reveal"]})
