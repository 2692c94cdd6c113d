"""One Locust run of a scenario, and what it measured: percentiles, steady rate, CPU, failures."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

from bench.access_log import served_per_second
from bench.cpu_meter import CpuMeter
from bench.machine import SpeedSampler, reference_workload_ms
from bench.percentiles import percentile
from bench.processes import LOOPBACK, VENV_BIN, run_logged
from bench.scenarios import Scenario
from bench.stack import Stack


def read_locust_csv(prefix: Path) -> dict[str, dict[str, float]]:
    """Locust's summary per request name (and "Aggregated"), from its `<prefix>_stats.csv`."""
    rows = {}
    with (prefix.parent / f"{prefix.name}_stats.csv").open() as fh:
        for row in csv.DictReader(fh):
            rows[row["Name"]] = {
                "requests": int(row["Request Count"]),
                "rps": round(float(row["Requests/s"]), 1),
                "p50": float(row["50%"]),
                "p95": float(row["95%"]),
                "p99": float(row["99%"]),
                "errors": int(row["Failure Count"]),
            }
    return rows


def exact_percentiles(
    rows: dict[str, dict[str, float]], samples_file: Path
) -> dict[str, dict[str, float]]:
    """`rows` (from `read_locust_csv`) with p50, p95 and p99 recomputed from the response times
    as measured (bench/locust_reveal.py writes them), by name and for all names together
    ("Aggregated"), over the requests that succeeded: the same percentile of the same precision
    as the direct calls'. Locust's own are read off a histogram with 1 ms bins under 100 ms and
    10 ms bins above. Rows stay as they are when the file is missing (Locust did not quit
    cleanly) or a name has no successful request."""
    if not samples_file.exists():
        return rows
    by_name: dict[str, list[float]] = {}
    for name, ms, ok in json.loads(samples_file.read_text())["samples"]:
        if ok:
            by_name.setdefault(name, []).append(float(ms))
            by_name.setdefault("Aggregated", []).append(float(ms))
    exact = {name: dict(row) for name, row in rows.items()}
    for name, values in by_name.items():
        if name in exact:
            exact[name] |= {f"p{q}": round(percentile(values, q), 1) for q in (50, 95, 99)}
            exact[name]["exact"] = 1.0
    return exact


def locust_failures(prefix: Path) -> list[str]:
    """Locust's failures of a run, one line each ("<count>x <name>: <error>")."""
    path = prefix.parent / f"{prefix.name}_failures.csv"
    if not path.exists():
        return []
    with path.open() as fh:
        return [f"{r['Occurrences']}x {r['Name']}: {r['Error'][:160]}" for r in csv.DictReader(fh)]


def _locust_argv(step: Scenario, *, port: int, csv_prefix: Path) -> list[str]:
    return [
        str(VENV_BIN / "locust"),
        "-f",
        "bench/locust_reveal.py",
        "--headless",
        "--users",
        str(step.users),
        "--spawn-rate",
        str(step.users),
        "--run-time",
        f"{step.seconds}s",
        "--stop-timeout",
        "5",
        "--host",
        f"http://{LOOPBACK}:{port}",
        "--csv",
        str(csv_prefix),
        "--only-summary",
        "--exit-code-on-error",
        "0",
        "--loglevel",
        "WARNING",
        step.user_class,
    ]


def run_scenario(step: Scenario, stack: Stack, results: dict[str, Any]) -> None:
    """Run `step` under Locust against its server and record into `results`: the machine's speed
    just before (`reference_ms`) and during it (`reference_during`), the cores used
    (`cpu_<name>`), the rows with exact percentiles (`<name>`), the steady rate from the server's
    access log (`<name>_steady`) and Locust's failures (`<name>_failures`)."""
    scenario, server = step.name, stack.servers[step.server]
    print(
        f"bench: locust {step.user_class} ({scenario}), {step.users} users, {step.seconds} s",
        flush=True,
    )
    csv_prefix = stack.workdir / f"locust-{scenario}"
    samples_file = stack.workdir / f"locust-{scenario}-samples.json"
    locust_env = stack.env | {
        "BENCH_SESSIONS": str(stack.sessions_file),
        "BENCH_SAMPLES": str(samples_file),
    }
    results.setdefault("reference_ms", {})[scenario] = reference_workload_ms(rounds=5)
    meter = CpuMeter(stack.cpu_roots(step.server))
    sampler = SpeedSampler()
    meter.start()
    sampler.start()
    began = time.time()
    run_logged(
        _locust_argv(step, port=server.port, csv_prefix=csv_prefix),
        env=locust_env,
        log=stack.workdir / f"locust-{scenario}.log",
        timeout=step.seconds + 180,
    )
    cpu = meter.stop()
    speed = sampler.stop()
    # The sampler ran in this process: its CPU is not the load generator's.
    cpu["load"] = round(max(0.0, cpu["load"] - sampler.cpu_seconds / (time.time() - began)), 2)
    results[f"cpu_{scenario}"] = cpu
    results.setdefault("reference_during", {})[scenario] = speed
    results[scenario] = exact_percentiles(read_locust_csv(csv_prefix), samples_file)
    results[f"{scenario}_steady"] = served_per_second(
        server.access_log, started=began, ended=time.time(), user_class=step.user_class
    )
    results[f"{scenario}_failures"] = locust_failures(csv_prefix)
