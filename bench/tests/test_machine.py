"""The machine's speed during a load scenario (bench/machine.py, SpeedSampler)."""

from __future__ import annotations

import time

from bench.machine import SpeedSampler


def test_the_sampler_times_rounds_while_it_runs_and_reports_their_spread():
    sampler = SpeedSampler(every=0.01)
    sampler.start()
    deadline = time.monotonic() + 30
    while len(sampler.samples) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    speed = sampler.stop()
    assert speed["samples"] >= 3
    assert 0 < speed["min"] <= speed["median"] <= speed["max"]
    # What it used is known, so the load generator's share can leave it out.
    assert sampler.cpu_seconds * 1000 >= speed["min"] * speed["samples"] * 0.99
    count = len(sampler.samples)
    time.sleep(0.1)
    assert len(sampler.samples) == count  # stopped means stopped


def test_a_scenario_too_short_for_a_round_says_so_instead_of_a_number():
    sampler = SpeedSampler(every=60)
    sampler.start()
    assert sampler.stop() == {"median": None, "min": None, "max": None, "samples": 0}
