"""The instruction counter (bench/instructions.py, `make bench-instructions`): what it counts."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from bench.instructions import TOGGLE, counted
from bench.run_bench import callgrind_total, instructions_report

ROOT = Path(__file__).resolve().parent.parent


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


def test_counted_calls_run_in_order_inside_starmap(monkeypatch):
    seen = []
    original = itertools.starmap

    def spy(function, iterable):
        seen.append("starmap")
        return original(function, iterable)

    monkeypatch.setattr(itertools, "starmap", spy)
    assert counted([lambda: 1, lambda: 2, lambda: 3]) == [1, 2, 3]
    assert seen == ["starmap"]
    assert TOGGLE == "starmap_next"


def test_nothing_in_the_app_uses_starmap_so_only_the_measured_requests_are_counted():
    # callgrind toggles counting on each entry to starmap_next: a starmap inside a request would
    # switch the count off for its duration and the figures would be too low.
    users = [
        path.relative_to(ROOT)
        for folder in ("cardreveal", "providers")
        for path in (ROOT / folder).rglob("*.py")
        if "starmap" in path.read_text()
    ]
    assert users == []


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
