"""The plan of `make bench`'s runs (bench/scenarios.py): what runs, in which order, where."""

from __future__ import annotations

import ast
from typing import Any

import pytest

from bench.processes import ROOT
from bench.scenarios import parse_curve_users, scenario_plan


def plan(**changes: Any) -> list[Any]:
    args = {
        "light": 10,
        "curve": [50],
        "users": 100,
        "overload": 120,
        "list_users": 32,
        "workers": 4,
        "seconds": 20,
        "floors": True,
    }
    return scenario_plan(**(args | changes))


def test_the_floors_run_at_the_light_load_and_the_target_between_direct_calls_and_reveals():
    names = [(s.name, s.server, s.direct_first) for s in plan()]
    assert names == [
        ("warmup", "app", False),
        ("floor_bare_warmup", "floors", False),
        ("floor_django_warmup", "floors", False),
        ("floor_bare_10", "floors", True),
        ("floor_django_10", "floors", False),
        ("reveal_light", "app", False),
        ("reveal_at_50", "app", True),
        ("floor_bare_100", "floors", True),
        ("floor_django_100", "floors", False),
        ("reveal", "app", False),
        ("reveal_overload", "app", True),
        ("list", "app", False),
    ]


def test_without_floors_every_reveal_load_follows_its_own_direct_calls():
    steps = plan(floors=False, overload=0, list_users=0)
    assert [(s.name, s.direct_first) for s in steps] == [
        ("warmup", False),
        ("reveal_light", True),
        ("reveal_at_50", True),
        ("reveal", True),
    ]
    assert {s.server for s in steps} == {"app"}


def test_each_run_offers_its_load_for_the_scenario_time_and_warm_ups_are_short():
    steps = {s.name: s for s in plan()}
    assert (steps["reveal_at_50"].users, steps["reveal_at_50"].seconds) == (50, 20)
    assert steps["list"].user_class == "CardListUser"
    assert steps["warmup"].users == 32  # 8 cardholders per worker
    assert steps["warmup"].seconds < 20


def test_curve_points_are_between_the_light_load_and_the_target_in_order():
    assert parse_curve_users(" 75,25, 50,25 ", light=10, top=100) == [25, 50, 75]
    assert parse_curve_users("", light=10, top=100) == []


def test_without_the_option_the_default_points_inside_the_range_are_kept():
    assert parse_curve_users(None, light=10, top=100) == [25, 50, 75]
    assert parse_curve_users(None, light=10, top=40) == [25]  # make bench-instructions' 40
    assert parse_curve_users(None, light=30, top=40) == []


def test_a_curve_point_that_is_not_a_number_or_outside_the_range_is_refused_by_name():
    with pytest.raises(SystemExit, match="'fifty' is not a whole number"):
        parse_curve_users("25,fifty", light=10, top=100)
    with pytest.raises(SystemExit, match="5, 100 not between the light load"):
        parse_curve_users("5,50,100", light=10, top=100)


def test_every_user_class_the_plan_runs_is_defined_in_the_locustfile():
    # Read, not imported: the locustfile needs Locust (the bench extra), these tests do not.
    tree = ast.parse((ROOT / "bench" / "locust_reveal.py").read_text())
    defined = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    assert {step.user_class for step in plan()} <= defined
