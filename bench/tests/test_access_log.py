"""The steady rate a server answered, from its access log (bench/access_log.py)."""

from __future__ import annotations

import datetime as dt
import json

from bench.access_log import answers, served_per_second

START = dt.datetime(2026, 12, 6, 3, 0, 0, tzinfo=dt.UTC)


def write_log(path, seconds: dict[int, list[tuple[str, int]]]) -> None:
    lines = ["gunicorn started (not JSON)"]
    for second, requests in seconds.items():
        for i, (request_path, status) in enumerate(requests):
            when = START + dt.timedelta(seconds=second, milliseconds=10 * i)
            entry = {"time": when.isoformat(), "path": request_path, "status_code": status}
            lines.append(json.dumps(entry))
    path.write_text("\n".join(lines) + "\n")


def test_each_scenario_counts_only_its_own_answers_in_the_access_log():
    assert answers("RevealUser", "/cards/1f0e/reveal")
    assert not answers("RevealUser", "/")
    assert answers("CardListUser", "/")
    assert answers("BareFloorUser", "/bench/bare/netxd")
    assert answers("ProviderFloorUser", "/bench/provider-floor/1f0e")
    assert not answers("ProviderFloorUser", "/bench/bare/netxd")


def test_the_steady_rate_leaves_out_the_ramp_up_and_the_last_seconds(tmp_path):
    log = tmp_path / "access.log"
    reveal = "/cards/1/reveal"
    seconds = {0: [(reveal, 200)] * 2, 1: [(reveal, 200)] * 5, 2: [(reveal, 200)] * 8}
    seconds |= {s: [(reveal, 200)] * 10 for s in range(3, 8)}
    seconds[5] = [(reveal, 200)] * 9 + [(reveal, 302), ("/", 200)]  # a redirect is an error
    seconds |= {8: [(reveal, 200)] * 10, 9: [(reveal, 200)] * 3}
    write_log(log, seconds)
    began, ended = START.timestamp(), START.timestamp() + 10
    steady = served_per_second(log, started=began, ended=ended, user_class="RevealUser")
    assert steady == {"rps": 9.8, "min": 9.0, "errors": 1, "seconds": 5}


def test_a_run_too_short_for_a_steady_state_has_none(tmp_path):
    log = tmp_path / "access.log"
    write_log(log, {s: [("/", 200)] for s in range(5)})
    began = START.timestamp()
    assert served_per_second(log, started=began, ended=began + 5, user_class="CardListUser") == {}
