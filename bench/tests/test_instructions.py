"""The workload callgrind counts (bench/instructions.py): the measured requests and only they."""

from __future__ import annotations

import itertools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_counted_calls_run_in_order_inside_starmap(monkeypatch):
    from bench import instructions

    seen = []
    original = itertools.starmap

    def spy(function, iterable):
        seen.append("starmap")
        return original(function, iterable)

    monkeypatch.setattr(itertools, "starmap", spy)
    assert instructions.counted([lambda: 1, lambda: 2, lambda: 3]) == [1, 2, 3]
    assert seen == ["starmap"]  # one starmap around all of them: callgrind counts them all


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
