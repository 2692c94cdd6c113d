"""The report of `make bench` (bench/report.py): what it says for a run's results."""

from __future__ import annotations

from typing import Any

from bench.report import render
from bench.scenarios import FLOOR_RUNGS
from bench.tests.results import bench_results, run

DJANGO_LAYER = FLOOR_RUNGS[-1][2]


def exact(results: dict[str, Any], *but: str) -> dict[str, Any]:
    """`results` with every Locust run's percentiles marked as measured, except `but`'s."""
    for name, rows in results.items():
        if isinstance(rows, dict) and "Aggregated" in rows and name not in but:
            rows["Aggregated"]["exact"] = 1.0
    return results


def test_the_report_renders_without_a_card_list_run():
    text = render(bench_results(listing=False))
    assert "card list at least 300 requests/s: not run (--list-users 0)" in text
    assert "Where the added time comes from" in text
    with_list = render(bench_results())
    assert "card list at least 300 requests/s: met (400.0/s, 0 errors)" in with_list


def test_the_targets_say_what_was_met_with_the_figures():
    text = render(bench_results())
    assert (
        "- a reveal adds at most 10 ms at p50: met at 10/s (8.0 ms), **not met** at 100/s" in text
    )
    assert (
        "- at least 100 complete reveals/s with zero errors: met (100.0/s in the steady state, "
        "slowest second 99; 0 errors in the whole run)"
    ) in text
    assert "- page weight under 60 KB: met" in text


def test_the_ladder_says_when_the_stack_alone_is_past_the_targets():
    text = render(bench_results())
    assert f"| 100 | {DJANGO_LAYER} | 58.0 | 95.0 | +8.0 | +35.0 |" in text
    assert "At 100/s the cheapest signed-in Django request that makes the call adds 8.0 ms" in text
    assert "already past the targets' 10 / 30 ms" in text


def test_without_floor_runs_there_is_no_ladder():
    assert "Where the added time comes from" not in render(bench_results(floors=False))


def with_curve(light: tuple[float, float], at_50: tuple[float, float]) -> dict[str, Any]:
    results = bench_results()
    results["args"]["curve_users"] = [50]
    results["reveal_light"] = run(*light)
    results["reveal_at_50"] = run(*at_50)
    return results


def test_the_load_curve_says_up_to_which_rate_both_latency_targets_held():
    text = render(with_curve((58.0, 80.0), (59.0, 85.0)))
    assert "Both latency targets and zero errors held up to 50 reveals/s offered." in text
    assert "| 10 | - | 0 | 58.0 | 80.0 | 50.0 | 60.0 | 8.0 | 20.0 | - | met |" in text
    assert "| 100 | 100.0 | 0 | 70.0 | 200.0 | 50.0 | 60.0 | 20.0 | 140.0 | 8.0 | no |" in text


def test_a_miss_at_light_load_is_said_plainly():
    text = render(with_curve((70.0, 75.0), (59.0, 85.0)))
    assert "held in none of these runs, not even at 10/s." in text


def test_the_cpu_table_gives_the_machines_speed_before_and_during_each_scenario():
    results = bench_results()
    results["reference_ms"] = {"reveal": 44.1}
    results["reference_during"] = {
        "reveal": {"median": 61.2, "min": 44.0, "max": 130.5, "samples": 6},
        "floor_django_10": {"median": None, "min": None, "max": None, "samples": 0},
    }
    text = render(results)
    assert (
        "| reveals, 100/s | 0.80 | 0.00 | 0.00 | 0.00 | 0.00 | 8.0 | 44.1 | 61.2 (44.0 to 130.5) |"
        in text
    )
    assert "| floor django, 10/s | 0.06 | 0.00 | 0.00 | 0.00 | 0.00 | 6.0 | - | - |" in text


def test_the_first_line_says_whose_percentiles_the_report_shows():
    measured = render(exact(bench_results()))
    assert "percentiles of each request's time as measured (the direct calls' too)" in measured
    results = exact(bench_results(), "list")
    results["warmup"] = run(1.0, 2.0)  # not reported, so not named
    assert "except in list, whose are Locust's" in render(results)


def test_failures_are_listed_by_scenario_but_not_the_warm_ups():
    results = bench_results()
    results["reveal_failures"] = ["3x reveal thredd: 503 busy"]
    results["warmup_failures"] = ["9x reveal netxd: 503 cold"]
    text = render(results)
    assert "- reveal: 3x reveal thredd: 503 busy" in text
    assert "cold" not in text
