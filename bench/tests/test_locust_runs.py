"""A Locust run's results (bench/locust_runs.py): percentiles from measured times, not Locust's histogram."""

from __future__ import annotations

import json
from pathlib import Path

from bench.locust_runs import exact_percentiles, locust_failures

# What Locust's CSV gives for a run whose reveals took 62.6 to 63.4 ms: its histogram rounds each
# time to a whole millisecond, so p50 reads 63 whatever the tenths were.
_ROW = {"requests": 5, "rps": 1.0, "p50": 63.0, "p95": 63.0, "p99": 63.0, "errors": 1}
LOCUST_ROWS = {"reveal thredd": dict(_ROW), "Aggregated": dict(_ROW)}


def _samples(tmp_path: Path, samples: list[tuple[str, float, bool]]) -> Path:
    path = tmp_path / "samples.json"
    path.write_text(json.dumps({"samples": samples}))
    return path


def test_percentiles_come_from_the_measured_times_of_the_requests_that_succeeded(tmp_path):
    samples = [
        ("reveal thredd", 62.6, True),
        ("reveal thredd", 62.7, True),
        ("reveal thredd", 62.8, True),
        ("reveal thredd", 63.4, True),
        ("reveal thredd", 5.0, False),  # a fast 503 is counted as an error, not as a latency
    ]
    rows = exact_percentiles(LOCUST_ROWS, _samples(tmp_path, samples))
    assert rows["reveal thredd"]["p50"] == 62.7
    assert rows["reveal thredd"]["p99"] == 63.4
    assert rows["Aggregated"]["p50"] == 62.7
    # Counts and rates stay Locust's.
    assert rows["Aggregated"]["requests"] == 5
    assert rows["Aggregated"]["errors"] == 1


def test_a_name_not_in_locusts_rows_adds_no_row(tmp_path):
    rows = exact_percentiles(LOCUST_ROWS, _samples(tmp_path, [("reveal juspay", 50.0, True)]))
    assert set(rows) == set(LOCUST_ROWS)
    assert rows["reveal thredd"]["p50"] == 63.0  # no sample of its own: Locust's value stays
    assert not rows["reveal thredd"].get("exact")


def test_without_a_samples_file_locusts_own_percentiles_stay(tmp_path):
    assert exact_percentiles(LOCUST_ROWS, tmp_path / "missing.json") == LOCUST_ROWS


def test_failures_are_one_line_each_and_none_without_a_failures_file(tmp_path):
    prefix = tmp_path / "locust-reveal"
    assert locust_failures(prefix) == []
    (tmp_path / "locust-reveal_failures.csv").write_text(
        "Method,Name,Error,Occurrences\nPOST,reveal thredd,503 provider_busy,3\n"
    )
    assert locust_failures(prefix) == ["3x reveal thredd: 503 provider_busy"]
