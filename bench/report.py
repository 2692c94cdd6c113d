"""The report of `make bench` from a run's results.json: its summary, targets and failures, in Markdown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.floor_ladder import floor_ladder
from bench.report_tables import (
    cpu_table,
    curve_lines,
    floor_lines,
    page_weight_table,
    profile_tables,
    provider_table,
)
from bench.verdicts import (
    ADDED_P50_MS,
    ADDED_P99_MS,
    added,
    direct_at,
    load_curve,
    throughput_verdict,
)

_SENDERS = {
    "thread": "a thread in each worker",
    "process": "a process of their own (send_receipts --follow, its CPU counted with the app)",
}


@dataclass(frozen=True)
class _Runs:
    """The runs the report's summary compares, looked up once in a run's results."""

    args: dict[str, Any]
    direct: dict[str, dict[str, float]]  # per provider and "all", at the target load
    direct_light: dict[str, dict[str, float]]  # the same at the light load
    light: dict[str, float]
    full: dict[str, float]
    overload: dict[str, float] | None
    listing: dict[str, float] | None
    steady: dict[str, dict[str, float] | None]

    @classmethod
    def of(cls, results: dict[str, Any]) -> _Runs:
        a = results["args"]
        return cls(
            args=a,
            direct=results["direct"],
            direct_light=direct_at(results, a["light_users"]),
            light=results["reveal_light"]["Aggregated"],
            full=results["reveal"]["Aggregated"],
            overload=results.get("reveal_overload", {}).get("Aggregated"),
            listing=results.get("list", {}).get("Aggregated"),
            steady={
                name: results.get(f"{name}_steady")
                for name in ("reveal_light", "reveal", "reveal_overload", "list")
            },
        )

    @property
    def full_steady(self) -> dict[str, float] | None:
        return self.steady["reveal"] or None

    def full_rate(self) -> tuple[str, str]:
        """The target run's rate as the headline says it, and with its slowest second."""
        if self.full_steady:
            rate = f"{self.full_steady['rps']:.1f}/s in the steady state"
            return rate, f"{rate}, slowest second {self.full_steady['min']:.0f}"
        whole = f"{self.full['rps']:.1f}/s over the whole run (too short for a steady state)"
        return whole, whole


def render(results: dict[str, Any]) -> str:
    """The report of one `make bench` run (its results.json), as Markdown."""
    runs = _Runs.of(results)
    lines = [
        *_setup_lines(results),
        *_headline_lines(runs),
        *_scenario_table(runs),
        *curve_lines(load_curve(results)),
        *floor_lines(floor_ladder(results)),
        *provider_table(results),
        *page_weight_table(results["pages"]),
        *profile_tables(results["profile"]),
        *cpu_table(results),
        *_target_lines(results, runs),
        *_failure_lines(results),
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- the summary


def _percentile_source(results: dict[str, Any]) -> str:
    """Where the Locust runs' percentiles come from, for the report's first line."""
    rounded = [
        name
        for name, rows in results.items()
        if isinstance(rows, dict)
        and "Aggregated" in rows
        and name != "warmup"
        and not rows["Aggregated"].get("exact")
    ]
    if not rounded:
        return (
            ", percentiles of each request's time as measured (the direct calls' too), over "
            "the requests that succeeded"
        )
    return (
        "; percentiles of each request's time as measured, except in "
        + ", ".join(sorted(rounded))
        + ", whose are Locust's (1 ms bins under 100 ms, 10 ms above: its samples file is missing)"
    )


def _setup_lines(results: dict[str, Any]) -> list[str]:
    m, a = results["machine"], results["args"]
    lines = [
        f"Run {m['date']} on {m['cpus']} CPUs ({m['cpu']}), {m['memory']} RAM, Python "
        f"{m['python']}, load average {m['load']} at the start (other work on the machine shows "
        f"in the numbers); gunicorn {a['workers']} workers x {a['threads']} threads; receipts sent "
        f"by {_SENDERS[a.get('receipts_sender', 'thread')]}; PostgreSQL, "
        f"Redis, the sandbox and Locust on the same machine; sandbox latency "
        f"{a['latency_ms']:g} ms; {a['duration']} s per scenario. Latencies in ms"
        f"{_percentile_source(results)}.",
        "",
    ]
    if "reference_ms_end" in results:
        lines += [
            "Machine speed: the reference workload (`reference_workload_ms` in "
            "bench/machine.py, pure Python, nothing else running) took "
            f"{results['reference_ms_start']} ms of CPU before the run and "
            f"{results['reference_ms_end']} ms after it. Lower is faster; compare runs "
            "through it, since every CPU-bound figure below scales with it.",
            "",
        ]
    return lines


def _headline_lines(runs: _Runs) -> list[str]:
    a, light, full = runs.args, runs.light, runs.full
    d_light, d_all = runs.direct_light["all"], runs.direct["all"]
    light50, light99 = added(light, d_light)
    full50, full99 = added(full, d_all)
    full_rate, _ = runs.full_rate()
    whole_run = f" ({full['rps']:.1f}/s over the whole run, ramp-up included)"
    return [
        f"**Headline: at {a['light_users']} reveals/s a complete reveal through the app takes "
        f"{light['p50']:.1f} ms at p50 and {light['p99']:.1f} ms at p99, against "
        f"{d_light['p50']:.1f} / {d_light['p99']:.1f} ms for the same provider calls made "
        f"directly at the same rate: the app adds {light50:.1f} ms at p50 and {light99:.1f} ms "
        f"at p99 (ratio {light['p50'] / d_light['p50']:.2f}x). With {a['users']} cardholders "
        f"offering {a['users']} reveals/s it completes {full_rate}"
        + (whole_run if runs.full_steady else "")
        + f" with {full['errors']} errors and adds {full50:.1f} / {full99:.1f} ms over the "
        f"direct calls at that rate ({d_all['p50']:.1f} / {d_all['p99']:.1f} ms).**",
        "",
        '("per second" is Locust\'s count over the whole run; "steady" is what the app\'s access '
        "log shows it answered per second, leaving out the first 3 and last 2 seconds.)",
        "",
    ]


def _row(name: str, r: dict[str, float], steady: dict[str, float] | None = None) -> str:
    shown = f"{steady['rps']:.1f} (slowest second {steady['min']:.0f})" if steady else "-"
    return (
        f"| {name} | {r['requests']} | {r['rps']:.1f} | {shown} | {r['p50']:.1f} "
        f"| {r['p95']:.1f} | {r['p99']:.1f} | {r['errors']} |"
    )


def _scenario_table(runs: _Runs) -> list[str]:
    a, steady = runs.args, runs.steady
    lines = [
        "| scenario | requests | per second | steady per second | p50 | p95 | p99 | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    if runs.direct_light is not runs.direct:
        light_callers = f"provider calls made directly, {a['light_users']} callers at 1/s"
        lines.append(_row(light_callers, runs.direct_light["all"]))
    lines += [
        _row(
            f"complete reveals, {a['light_users']} cardholders at 1/s",
            runs.light,
            steady["reveal_light"],
        ),
        _row(f"provider calls made directly, {a['users']} callers at 1/s", runs.direct["all"]),
        _row(f"complete reveals, {a['users']} cardholders at 1/s", runs.full, steady["reveal"]),
    ]
    if runs.overload:
        name = f"overload: {a['overload_users']} cardholders at 1/s"
        lines.append(_row(name, runs.overload, steady["reveal_overload"]))
    if runs.listing:
        name = f"card list (GET /), {a['list_users']} users back to back"
        lines.append(_row(name, runs.listing, steady["list"]))
    return lines


# ---------------------------------------------------------------------------------- the targets


def _verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def _list_target(listing: dict[str, float] | None) -> str:
    if not listing:
        return "- card list at least 300 requests/s: not run (--list-users 0)"
    ok = listing["rps"] >= 300 and listing["errors"] == 0
    return (
        f"- card list at least 300 requests/s: {_verdict(ok)} "
        f"({listing['rps']:.1f}/s, {listing['errors']} errors)"
    )


def _target_lines(results: dict[str, Any], runs: _Runs) -> list[str]:
    a, full, pages = runs.args, runs.full, results["pages"]
    light50, light99 = added(runs.light, runs.direct_light["all"])
    full50, full99 = added(full, runs.direct["all"])
    full_ok, full_ok_detail = throughput_verdict(
        target=full,
        target_steady=runs.full_steady,
        overload=runs.overload,
        overload_steady=runs.steady["reveal_overload"],
    )
    _, full_rate_detail = runs.full_rate()
    light, users = a["light_users"], a["users"]
    return [
        "",
        "Targets:",
        "",
        f"- a reveal adds at most 10 ms at p50: {_verdict(light50 <= ADDED_P50_MS)} at "
        f"{light}/s ({light50:.1f} ms), {_verdict(full50 <= ADDED_P50_MS)} at "
        f"{users}/s offered ({full50:.1f} ms)",
        f"- a reveal adds at most 30 ms at p99: {_verdict(light99 <= ADDED_P99_MS)} at "
        f"{light}/s ({light99:.1f} ms), {_verdict(full99 <= ADDED_P99_MS)} at "
        f"{users}/s offered ({full99:.1f} ms)",
        f"- at least 100 complete reveals/s with zero errors: {_verdict(full_ok)} "
        f"({full_rate_detail}; {full['errors']} errors in the whole run{full_ok_detail})",
        _list_target(runs.listing),
        f"- page weight under 60 KB: {_verdict(all(p['bytes'] < 60 * 1024 for p in pages))}",
        f"- no third-party requests: {_verdict(all(not p['third_party_requests'] for p in pages))}",
        "",
        f"Reveal receipts sent over SMTP to the loopback sink during the run: "
        f"{results['receipts_sent']}.",
    ]


def _failure_lines(results: dict[str, Any]) -> list[str]:
    failures = [
        f"{scenario}: {failure}"
        for scenario in sorted(
            k.removesuffix("_failures") for k in results if k.endswith("_failures")
        )
        if not scenario.endswith("warmup")
        for failure in results.get(f"{scenario}_failures", [])
    ]
    if not failures:
        return []
    return ["", "Failures seen:", "", *[f"- {f}" for f in failures[:16]]]
