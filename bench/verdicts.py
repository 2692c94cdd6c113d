"""The targets of `make bench` and what a run met: latency added at each load, and throughput."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The targets: what a reveal may add over the provider calls made directly, in ms.
ADDED_P50_MS = 10
ADDED_P99_MS = 30


def direct_at(results: dict[str, Any], callers: int) -> dict[str, dict[str, float]]:
    """The direct calls made at the load of an app run with `callers` cardholders (the same
    number of callers, paced the same); results from before 2026-12-01 23:50 UTC have only the
    run at the target load, which then stands for every load."""
    at_load: dict[str, dict[str, float]] = results.get("direct_at", {}).get(str(callers))
    return at_load or results["direct"]


def added(app: dict[str, float], direct: dict[str, float]) -> tuple[float, float]:
    """What `app` adds over `direct` at p50 and p99, in ms."""
    return app["p50"] - direct["p50"], app["p99"] - direct["p99"]


@dataclass(frozen=True)
class CurvePoint:
    """One reveal run of the load curve: what was offered, served, and added over the direct
    calls."""

    offered: int
    served: float | None  # steady state, per second; None for a run too short for one
    errors: int
    p50: float
    p99: float
    direct50: float  # the direct calls at the same load
    direct99: float
    added50: float
    added99: float
    app_cpu_ms: float | None  # per reveal answered

    @property
    def latency_ok(self) -> bool:
        return self.errors == 0 and self.added50 <= ADDED_P50_MS and self.added99 <= ADDED_P99_MS


def _reveal_runs(results: dict[str, Any]) -> list[tuple[str, int]]:
    """Every reveal scenario of a run with the cardholders it offered, light load to overload."""
    a = results["args"]
    return [
        ("reveal_light", a["light_users"]),
        *((f"reveal_at_{n}", n) for n in a.get("curve_users", [])),
        ("reveal", a["users"]),
        ("reveal_overload", a.get("overload_users", 0)),
    ]


def load_curve(results: dict[str, Any]) -> list[CurvePoint]:
    """Every reveal run of `results`, light load to overload, as points of the load curve."""
    points = []
    for scenario, offered in _reveal_runs(results):
        run = results.get(scenario, {}).get("Aggregated")
        if not run or not offered:
            continue
        served = (results.get(f"{scenario}_steady") or {}).get("rps")
        cores = results.get(f"cpu_{scenario}", {}).get("app")
        direct = direct_at(results, offered)["all"]
        added50, added99 = added(run, direct)
        points.append(
            CurvePoint(
                offered=offered,
                served=served,
                errors=int(run["errors"]),
                p50=run["p50"],
                p99=run["p99"],
                direct50=direct["p50"],
                direct99=direct["p99"],
                added50=added50,
                added99=added99,
                app_cpu_ms=round(cores * 1000 / served, 1) if cores and served else None,
            )
        )
    return sorted(points, key=lambda point: point.offered)


def latency_capacity(points: list[CurvePoint]) -> int | None:
    """The highest offered rate up to which every run met both latency targets (added p50 at most
    10 ms, p99 at most 30 ms, no errors); None when the lightest run already missed one."""
    capacity = None
    for point in points:
        if not point.latency_ok:
            break
        capacity = point.offered
    return capacity


def throughput_verdict(
    *,
    target: dict[str, Any],
    target_steady: dict[str, float] | None,
    overload: dict[str, Any] | None,
    overload_steady: dict[str, float] | None,
) -> tuple[bool, str]:
    """Whether the runs show at least 100 complete reveals a second with zero errors, and what
    besides the target run showed it ("" when that run alone did).

    The target run must have no errors. Its cardholders offer exactly 100 reveals a second, so it
    can never answer more, and one answer that lands in a second left out of the steady
    window reads as 99.9/s: a coin flip at exactly 100 offered. So the overload run, which offers
    more, counts too, when it also answered every reveal: a steady rate of at least 100/s there
    with zero errors shows the capacity the target asks for.
    """
    # An error is what either side saw: Locust's failures, or a non-2xx answer in the app's log.
    if target["errors"] or (target_steady or {}).get("errors"):
        return False, ""
    if (target_steady or target)["rps"] >= 100:
        return True, ""
    if overload is None or overload["errors"] or not overload_steady:
        return False, ""
    if overload_steady.get("errors"):
        return False, ""
    if overload_steady["rps"] >= 100:
        return True, (
            f"; the overload run served {overload_steady['rps']:.1f}/s in the steady state with "
            "0 errors"
        )
    return False, ""
