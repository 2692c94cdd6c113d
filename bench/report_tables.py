"""The report's tables: load curve, floor ladder, per provider, page weight, request costs, CPU per scenario."""

from __future__ import annotations

from typing import Any

from bench.floor_ladder import Rung
from bench.scenarios import FLOOR_RUNGS
from bench.verdicts import (
    ADDED_P50_MS,
    ADDED_P99_MS,
    CurvePoint,
    added,
    direct_at,
    latency_capacity,
)

# The CPU table's columns: process groups (bench/cpu_meter.py).
_CPU_GROUPS = ["app", "postgresql", "redis", "sandbox", "load"]


# ---------------------------------------------------------------------------------- the curve


def curve_lines(points: list[CurvePoint]) -> list[str]:
    if len(points) < 3:
        return []
    capacity = latency_capacity(points)
    held = (
        f"up to {capacity} reveals/s offered"
        if capacity is not None
        else f"in none of these runs, not even at {points[0].offered}/s"
    )
    lines = [
        "",
        "Load curve: every reveal run, as offered (reveals/s), served in the steady state, the "
        "direct calls at the same load, and what the app added over them (ms). Both latency "
        "targets and zero errors held " + held + ".",
        "",
        "| offered/s | served/s | errors | p50 | p99 | direct p50 | direct p99 | added p50 "
        "| added p99 | app CPU ms per reveal | both latency targets |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for p in points:
        served = f"{p.served:.1f}" if p.served is not None else "-"
        cpu = f"{p.app_cpu_ms:.1f}" if p.app_cpu_ms is not None else "-"
        lines.append(
            f"| {p.offered} | {served} | {p.errors} | {p.p50:.1f} | {p.p99:.1f} "
            f"| {p.direct50:.1f} | {p.direct99:.1f} | {p.added50:.1f} | {p.added99:.1f} "
            f"| {cpu} | {'met' if p.latency_ok else 'no'} |"
        )
    return lines


# ---------------------------------------------------------------------------------- the ladder


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f}"


def _floor_verdict(rungs: list[Rung]) -> list[str]:
    """What the Django floor at the highest load says about the targets ([] without one)."""
    django = [r for r in rungs if r.layer == FLOOR_RUNGS[-1][2] and r.added50 is not None]
    if not django:
        return []
    top = max(django, key=lambda r: r.load)
    within = (top.added50 or 0) <= ADDED_P50_MS and (top.added99 or 0) <= ADDED_P99_MS
    return [
        "",
        f"At {top.load}/s the cheapest signed-in Django request that makes the call adds "
        f"{top.added50:.1f} ms at p50 and {top.added99:.1f} ms at p99 over the direct calls, "
        + (
            "within the targets' 10 / 30 ms: the rest of the budget is the reveal's own."
            if within
            else "already past the targets' 10 / 30 ms before the reveal does any work of its own."
        ),
    ]


def floor_lines(rungs: list[Rung]) -> list[str]:
    if not rungs:
        return []
    lines = [
        "",
        "Where the added time comes from (bench/floors.py): at the light load and the target, the "
        "same provider calls behind each layer of the stack in turn, run one after another just "
        "after the direct calls: gunicorn serving a bare WSGI callable that makes the call (no "
        "Django), then Django with the production middleware serving the reveal's card read and "
        "the call behind the signed-in guard (no code check, quota, sealing, audit or receipt), "
        "then the complete reveal. `added` is over the direct calls at that load, `step` over the "
        "rung above: that layer's own share.",
        "",
        "| load/s | the provider call, plus | p50 | p99 | added p50 | added p99 | step p50 "
        "| step p99 | server CPU ms per request |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rungs:
        cpu = "-" if r.cpu_ms is None else f"{r.cpu_ms:.1f}"
        lines.append(
            f"| {r.load} | {r.layer} | {r.p50:.1f} | {r.p99:.1f} | {_signed(r.added50)} "
            f"| {_signed(r.added99)} | {_signed(r.step50)} | {_signed(r.step99)} | {cpu} |"
        )
    return lines + _floor_verdict(rungs)


# ---------------------------------------------------------------------------------- providers


def _provider_cells(results: dict[str, Any], kind: str) -> list[str]:
    a = results["args"]
    direct, direct_light = results["direct"], direct_at(results, a["light_users"])
    cells = [str(direct[kind].get("cpu_ms", "-"))]
    for scenario, baseline in (("reveal_light", direct_light), ("reveal", direct)):
        d = baseline.get(kind)
        r = results[scenario].get(f"reveal {kind}")
        if r is None or d is None:
            cells += ["-", "-", "-"]
            continue
        add50, add99 = added(r, d)
        cells += [
            f"{d['p50']:.0f} / {d['p99']:.0f}",
            f"{r['p50']:.0f} / {r['p99']:.0f}",
            f"{add50:.0f} / {add99:.0f}",
        ]
    return cells


def provider_table(results: dict[str, Any]) -> list[str]:
    """Per provider: its module's CPU per call, and p50 / p99 direct, through the app and added,
    at the light load and the target."""
    a = results["args"]
    lines = [
        "",
        "Per provider (p50 / p99):",
        "",
        f"| provider | provider CPU ms per call | direct, {a['light_users']}/s "
        f"| app, {a['light_users']}/s | added | direct, {a['users']}/s | app, {a['users']}/s "
        "| added |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind in sorted(k for k in results["direct"] if k != "all"):
        lines.append(f"| {kind} | " + " | ".join(_provider_cells(results, kind)) + " |")
    return lines


# ---------------------------------------------------------------------------------- costs


def page_weight_table(pages: list[dict[str, Any]]) -> list[str]:
    lines = [
        "",
        "Page weight (response bodies a browser downloads: the HTML, and CSS and JS gzip-compressed "
        "by WhiteNoise):",
        "",
        "| page | requests | bytes | third-party requests |",
        "|---|---:|---:|---:|",
    ]
    for page in pages:
        shown = "/" if page["path"] == "/" else "/cards/<id>/ (the reveal page)"
        lines.append(
            f"| `{shown}` | {page['requests']} | {page['bytes']:,} "
            f"| {len(page['third_party_requests'])} |"
        )
    return lines


def profile_tables(prof: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "What one request costs the app, in process (median CPU time of the Django process, "
        "mean CPU time of its PostgreSQL backend process, SQL queries and cache calls per "
        "request; bench/profile_requests.py):",
        "",
        "| request | CPU ms | PostgreSQL CPU ms | SQL queries | cache calls |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, key in (
        ("reveal", "reveal"),
        ("card list", "card_list"),
        ("the floor: a signed-in page that does nothing (bench/floor_urls.py)", "floor"),
    ):
        if key not in prof:
            continue
        p = prof[key]
        lines.append(
            f"| {label} | {p['cpu_ms_median']} | {p.get('db_cpu_ms_mean') or '-'} "
            f"| {', '.join(map(str, p['queries']))} "
            f"| {', '.join(map(str, p['cache_calls']))} |"
        )
    return lines + _reveal_step_table(prof["reveal"])


def _reveal_step_table(reveal: dict[str, Any]) -> list[str]:
    steps = reveal.get("cpu_ms_by_step", {})
    if not steps:
        return []
    walls = reveal.get("wall_ms_by_step", {})
    dbs = reveal.get("db_cpu_ms_by_step", {})
    return [
        "",
        "Where a reveal's time goes (mean ms per reveal, by step of the reveal service; CPU, "
        "wall time, whose excess over CPU is waiting on PostgreSQL, Redis, the provider or "
        "the mail relay, and the PostgreSQL backend's CPU; the rest of the request is the "
        "middleware: session, user, OTP device, CSRF; `receipts_wake` sends the receipt in the "
        "request here, where the app's background thread sends it after the response):",
        "",
        "| step | CPU ms | wall ms | PostgreSQL CPU ms |",
        "|---|---:|---:|---:|",
        *[
            f"| {name} | {ms} | {walls.get(name, '-')} | {dbs.get(name, '-')} |"
            for name, ms in steps.items()
        ],
    ]


def _speed_cell(during: dict[str, Any], scenario: str) -> str:
    speed = during.get(scenario) or {}
    if not speed.get("samples"):
        return "-"
    return f"{speed['median']} ({speed['min']} to {speed['max']})"


def _cpu_scenarios(a: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The CPU table's rows: (shown name, results key of its CPU, scenario name)."""
    return [
        ("direct", "cpu_direct", "direct"),
        (f"reveals, {a['light_users']}/s", "cpu_reveal_light", "reveal_light"),
        (f"reveals, {a['users']}/s", "cpu_reveal", "reveal"),
        (f"overload, {a['overload_users']}/s", "cpu_reveal_overload", "reveal_overload"),
        ("card list", "cpu_list", "list"),
        *(
            (f"{rung.replace('_', ' ')}, {load}/s", f"cpu_{rung}_{load}", f"{rung}_{load}")
            for load in (a["light_users"], a["users"])
            for rung, _, _ in FLOOR_RUNGS
        ),
    ]


def cpu_table(results: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "CPU used during each scenario, in cores (2 exist; `load` is Locust or the direct caller), "
        "the app's CPU per request answered (app cores over the steady rate; it includes the "
        "receipt sender's work), and the reference workload's time just before the scenario and "
        "during it (median and range of one round every 3 s at the lowest priority): the machine's "
        "speed then.",
        "",
        "| scenario | "
        + " | ".join(_CPU_GROUPS)
        + " | app CPU ms per request | reference ms before | reference ms during |",
        "|---|" + "---:|" * (len(_CPU_GROUPS) + 3),
    ]
    reference = results.get("reference_ms", {})
    during = results.get("reference_during", {})
    for name, key, scenario in _cpu_scenarios(results["args"]):
        if key not in results:
            continue
        cpu = results[key]
        rate = (results.get(f"{scenario}_steady") or {}).get("rps", 0.0)
        per_request = f"{cpu.get('app', 0) * 1000 / rate:.1f}" if rate else "-"
        lines.append(
            f"| {name} | "
            + " | ".join(f"{cpu.get(g, 0):.2f}" for g in _CPU_GROUPS)
            + f" | {per_request} | {reference.get(scenario, '-')} | {_speed_cell(during, scenario)} |"
        )
    return lines
