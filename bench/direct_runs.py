"""The physical limit at one load: bench/direct_provider.py run and summarised as the Locust runs are."""

from __future__ import annotations

import json
import statistics
from typing import Any

from bench.cpu_meter import CpuMeter
from bench.machine import reference_workload_ms
from bench.percentiles import summarize_samples
from bench.processes import PYTHON, run_logged
from bench.stack import Stack


def direct_summary(direct: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Rows per provider kind and for all ("all", with its mean) from bench/direct_provider.py's
    output, with each provider module's own CPU per call (`cpu_ms`)."""
    by_kind: dict[str, list[float]] = {}
    for kind, ms in direct["samples"]:
        by_kind.setdefault(kind, []).append(ms)
    errors_by_kind: dict[str, int] = {}
    for error in direct["errors"]:
        kind = error.split(":", 1)[0]
        errors_by_kind[kind] = errors_by_kind.get(kind, 0) + 1
    summary = {
        kind: summarize_samples(values, errors_by_kind.get(kind, 0), direct["duration"])
        for kind, values in sorted(by_kind.items())
    }
    everything = [ms for _, ms in direct["samples"]]
    summary["all"] = summarize_samples(everything, len(direct["errors"]), direct["duration"])
    summary["all"]["mean"] = round(statistics.fmean(everything), 1) if everything else 0
    for kind, cpu in direct.get("cpu_ms", {}).items():
        if kind in summary:
            summary[kind]["cpu_ms"] = cpu
    return summary


def run_direct_calls(
    callers: int, *, stack: Stack, duration: int, target: bool, results: dict[str, Any]
) -> None:
    """The same provider calls, paced the same, made by `callers` callers without the app; run
    just before the app's run at that load, so both meet the machine in the same state. Records
    `direct_at[<callers>]`; at the `target` load also `direct`, `cpu_direct` and the machine's
    speed just before (`reference_ms["direct"]`)."""
    print(f"bench: direct provider calls, {callers} callers, {duration} s", flush=True)
    out = stack.workdir / f"direct-{callers}.json"
    if target:
        results.setdefault("reference_ms", {})["direct"] = reference_workload_ms(rounds=5)
    meter = CpuMeter(stack.cpu_roots())
    meter.start()
    argv = [PYTHON, "-m", "bench.direct_provider", "--users", str(callers)]
    argv += ["--duration", str(duration), "--out", str(out)]
    run_logged(
        argv,
        # The per-binding limit on calls in flight guards a worker's threads; the direct caller
        # runs all its callers in one process, so it is lifted here.
        env=stack.env | {"CARDREVEAL_PROVIDER_MAX_CONCURRENCY": "1000"},
        log=stack.workdir / f"direct-{callers}.log",
        timeout=duration + 120,
    )
    cpu = meter.stop()
    summary = direct_summary(json.loads(out.read_text()))
    results.setdefault("direct_at", {})[str(callers)] = summary
    if target:
        results["cpu_direct"] = cpu
        results["direct"] = summary
