"""`make bench` reads Locust's percentiles from each request's measured time, not its histogram."""

from __future__ import annotations

import json
from pathlib import Path

from bench.run_bench import _percentile_source, exact_percentiles

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


def test_without_a_samples_file_the_report_says_whose_percentiles_it_shows(tmp_path):
    rows = exact_percentiles(LOCUST_ROWS, tmp_path / "missing.json")
    assert rows == LOCUST_ROWS
    results = {
        "reveal": exact_percentiles(LOCUST_ROWS, _samples(tmp_path, [("reveal thredd", 1, True)])),
        "list": rows,
        "warmup": rows,  # not reported, so not named
    }
    assert "except in list, whose are Locust's" in _percentile_source(results)
    results["list"] = results["reveal"]
    assert "except" not in _percentile_source(results)
