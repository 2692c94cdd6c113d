"""The throughput verdict of `make bench` (bench/run_bench.py, throughput_verdict)."""

from __future__ import annotations

from bench.run_bench import throughput_verdict


def _run(errors: int) -> dict[str, float]:
    return {"errors": errors, "rps": 95.0}  # Locust's whole-run rate, ramp-up included


def test_the_target_run_alone_meets_it_at_100_a_second_with_no_errors():
    assert throughput_verdict(
        target=_run(0),
        target_steady={"rps": 100.0, "min": 100.0},
        overload=None,
        overload_steady=None,
    ) == (True, "")


def test_one_answer_outside_the_window_is_settled_by_the_overload_run():
    ok, detail = throughput_verdict(
        target=_run(0),
        target_steady={"rps": 99.9, "min": 99.0},
        overload=_run(0),
        overload_steady={"rps": 120.0, "min": 119.0},
    )
    assert ok
    assert "overload run served 120.0/s" in detail


def test_without_an_overload_run_99_9_is_not_100():
    assert throughput_verdict(
        target=_run(0),
        target_steady={"rps": 99.9, "min": 99.0},
        overload=None,
        overload_steady=None,
    ) == (False, "")


def test_errors_in_the_target_run_fail_it_whatever_the_overload_run_did():
    assert throughput_verdict(
        target=_run(3),
        target_steady={"rps": 100.0, "min": 100.0},
        overload=_run(0),
        overload_steady={"rps": 120.0, "min": 120.0},
    ) == (False, "")


def test_an_overload_run_with_errors_or_below_100_shows_nothing():
    slow = {"rps": 99.9, "min": 99.0}
    for overload, steady in ((_run(5), {"rps": 118.0, "min": 110.0}), (_run(0), {"rps": 97.0})):
        assert throughput_verdict(
            target=_run(0), target_steady=slow, overload=overload, overload_steady=steady
        ) == (False, "")


def test_a_run_too_short_for_a_steady_state_is_judged_on_its_whole_run_rate():
    assert throughput_verdict(
        target={"errors": 0, "rps": 100.0}, target_steady=None, overload=None, overload_steady=None
    ) == (True, "")
    assert throughput_verdict(
        target=_run(0), target_steady=None, overload=None, overload_steady=None
    ) == (False, "")
