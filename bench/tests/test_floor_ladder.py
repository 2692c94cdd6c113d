"""The floor ladder (bench/floor_ladder.py): what each layer of the stack adds to the call."""

from __future__ import annotations

from bench.floor_ladder import DIRECT_LAYER, REVEAL_LAYER, floor_ladder
from bench.scenarios import FLOOR_RUNGS
from bench.tests.results import bench_results


def test_the_ladder_splits_what_a_reveal_adds_into_each_layers_step():
    rungs = floor_ladder(bench_results())
    light = [r for r in rungs if r.load == 10]
    assert [r.layer for r in light] == [
        DIRECT_LAYER,
        *[layer for _, _, layer in FLOOR_RUNGS],
        REVEAL_LAYER,
    ]
    direct, bare, django, reveal = light
    assert direct.added50 is None
    assert direct.cpu_ms is None
    assert (bare.added50, bare.added99, bare.step50) == (1.0, 3.0, 1.0)
    assert (django.added50, django.step50, django.step99) == (5.0, 4.0, 7.0)
    assert django.cpu_ms == 6.0
    assert (reveal.added50, reveal.added99, reveal.step50, reveal.step99) == (8.0, 20.0, 3.0, 10.0)


def test_both_loads_get_a_ladder_against_their_own_direct_calls():
    results = bench_results()
    results["direct_at"]["10"] = {"all": {"p50": 49.0, "p99": 58.0}}
    rungs = floor_ladder(results)
    assert [r.load for r in rungs] == [10] * 4 + [100] * 4
    assert rungs[1].added50 == 2.0  # bare floor at 10/s: 51 against 49
    assert rungs[5].added50 == 1.5  # bare floor at 100/s: 51.5 against 50


def test_without_floor_runs_there_is_no_ladder():
    assert floor_ladder(bench_results(floors=False)) == []


def test_a_load_with_a_floor_missing_has_no_ladder():
    results = bench_results()
    del results["floor_django_10"]
    assert {r.load for r in floor_ladder(results)} == {100}
