"""The verdicts of `make bench` (bench/verdicts.py): throughput, and the load curve."""

from __future__ import annotations

from typing import Any

from bench.verdicts import latency_capacity, load_curve, throughput_verdict


def _run(errors: int) -> dict[str, float]:
    return {"errors": errors, "rps": 95.0}  # Locust's whole-run rate, ramp-up included


def _steady(rps: float) -> dict[str, float]:
    return {"rps": rps, "min": rps - 1}


def verdict(
    target: dict[str, float],
    steady: float | None,
    overload: dict[str, float] | None = None,
    overload_steady: float | None = None,
) -> tuple[bool, str]:
    return throughput_verdict(
        target=target,
        target_steady=None if steady is None else _steady(steady),
        overload=overload,
        overload_steady=None if overload_steady is None else _steady(overload_steady),
    )


def test_the_target_run_alone_meets_it_at_100_a_second_with_no_errors():
    assert verdict(_run(0), 100.0) == (True, "")


def test_one_answer_outside_the_window_is_settled_by_the_overload_run():
    ok, detail = verdict(_run(0), 99.9, _run(0), 120.0)
    assert ok
    assert "overload run served 120.0/s" in detail


def test_without_an_overload_run_99_9_is_not_100():
    assert verdict(_run(0), 99.9) == (False, "")


def test_errors_in_the_target_run_fail_it_whatever_the_overload_run_did():
    assert verdict(_run(3), 100.0, _run(0), 120.0) == (False, "")


def test_an_overload_run_with_errors_or_below_100_shows_nothing():
    assert verdict(_run(0), 99.9, _run(5), 118.0) == (False, "")
    assert verdict(_run(0), 99.9, _run(0), 97.0) == (False, "")


def test_answers_the_apps_log_shows_as_errors_fail_it_even_when_locust_saw_none():
    # e.g. a redirect to the sign-in page, which a client following redirects reads as a success
    redirected = {"rps": 100.0, "min": 99.0, "errors": 20}
    assert throughput_verdict(
        target=_run(0), target_steady=redirected, overload=None, overload_steady=None
    ) == (False, "")
    assert throughput_verdict(
        target=_run(0),
        target_steady=_steady(99.9),
        overload=_run(0),
        overload_steady={"rps": 120.0, "min": 119.0, "errors": 20},
    ) == (False, "")


def test_a_run_too_short_for_a_steady_state_is_judged_on_its_whole_run_rate():
    assert verdict({"errors": 0, "rps": 100.0}, None) == (True, "")
    assert verdict(_run(0), None) == (False, "")


# ------------------------------------------------------------------------------ the load curve


def _results(runs: dict[str, tuple[float, float, int]], curve: list[int]) -> dict[str, Any]:
    """A bench run's results with reveal runs of (p50, p99, errors) against direct calls of
    52 / 57 ms."""
    offered = {"reveal_light": 10, "reveal": 100, "reveal_overload": 120}
    offered |= {f"reveal_at_{n}": n for n in curve}
    results: dict[str, Any] = {
        "args": {"light_users": 10, "users": 100, "overload_users": 120, "curve_users": curve},
        "direct": {"all": {"p50": 52.0, "p99": 57.0}},
    }
    for scenario, (p50, p99, errors) in runs.items():
        results[scenario] = {"Aggregated": {"p50": p50, "p99": p99, "errors": errors}}
        results[f"{scenario}_steady"] = {"rps": float(offered[scenario])}
        results[f"cpu_{scenario}"] = {"app": offered[scenario] * 0.008}
    return results


def test_the_curve_says_up_to_which_rate_both_latency_targets_held():
    results = _results(
        {
            "reveal_light": (60.0, 70.0, 0),
            "reveal_at_25": (61.0, 80.0, 0),
            "reveal_at_50": (62.0, 86.0, 0),  # p99 added 29: still met
            "reveal_at_75": (66.0, 110.0, 0),
            "reveal": (70.0, 150.0, 0),
            "reveal_overload": (95.0, 300.0, 0),
        },
        curve=[25, 50, 75],
    )
    points = load_curve(results)
    assert [p.offered for p in points] == [10, 25, 50, 75, 100, 120]
    assert [p.latency_ok for p in points] == [True, True, True, False, False, False]
    assert points[0].app_cpu_ms == 8.0
    assert latency_capacity(points) == 50


def test_a_rate_that_met_the_targets_above_one_that_missed_them_does_not_count():
    results = _results(
        {
            "reveal_light": (60.0, 70.0, 0),
            "reveal_at_25": (64.0, 80.0, 0),  # p50 added 12
            "reveal_at_50": (61.0, 80.0, 0),
            "reveal": (70.0, 150.0, 0),
        },
        curve=[25, 50],
    )
    assert latency_capacity(load_curve(results)) == 10


def test_errors_break_the_curve_and_a_miss_at_light_load_leaves_no_capacity():
    results = _results(
        {
            "reveal_light": (70.0, 75.0, 0),
            "reveal_at_50": (60.0, 70.0, 2),
            "reveal": (70.0, 90.0, 0),
        },
        curve=[50],
    )
    points = load_curve(results)
    assert not points[1].latency_ok  # fast, but with errors
    assert latency_capacity(points) is None


def test_each_run_is_measured_against_the_direct_calls_at_its_own_load():
    # At 10/s the provider calls alone are slower than at 100/s (the VM's CPU is cold after
    # each wait), and the app's run at 10/s is compared with that, not with the 100/s run.
    results = _results(
        {
            "reveal_light": (68.0, 90.0, 0),
            "reveal_at_50": (64.0, 88.0, 0),
            "reveal": (70.0, 150.0, 0),
        },
        curve=[50],
    )
    results["direct_at"] = {
        "10": {"all": {"p50": 59.0, "p99": 70.0}},
        "100": results["direct"],
        # no run at 50: it is measured against the target load's, as results of before were
    }
    light, at_50, target = load_curve(results)
    assert (light.direct50, light.added50, light.added99) == (59.0, 9.0, 20.0)
    assert light.latency_ok
    assert (at_50.direct50, at_50.added50) == (52.0, 12.0)
    assert (target.direct50, target.added50) == (52.0, 18.0)
