"""The floor ladder: what each layer of the stack adds to the provider call, at each load the floors ran."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.scenarios import FLOOR_RUNGS
from bench.verdicts import added, direct_at

DIRECT_LAYER = "provider calls made directly"
REVEAL_LAYER = "the reveal's own work: code check, quota, sealing, audit, receipt"


@dataclass(frozen=True)
class Rung:
    """One rung of the floor ladder at one load: the provider call behind `layer` and everything
    above it; its latencies, what it adds over the direct calls at that load, and its step over
    the rung before (the layer's own share)."""

    load: int
    layer: str
    p50: float
    p99: float
    added50: float | None  # None for the direct calls themselves
    added99: float | None
    step50: float | None
    step99: float | None
    cpu_ms: float | None  # the server's CPU per request answered; None for the direct calls


def _rung(
    results: dict[str, Any], key: str, layer: str, load: int, direct: Any, before: Any
) -> Rung:
    run = results[key]["Aggregated"]
    cores = results.get(f"cpu_{key}", {}).get("app")
    served = (results.get(f"{key}_steady") or {}).get("rps")
    added50, added99 = added(run, direct)
    step50, step99 = added(run, before)
    return Rung(
        load,
        layer,
        run["p50"],
        run["p99"],
        round(added50, 1),
        round(added99, 1),
        round(step50, 1),
        round(step99, 1),
        round(cores * 1000 / served, 1) if cores and served else None,
    )


def floor_ladder(results: dict[str, Any]) -> list[Rung]:
    """The floor ladder at each load where the floors ran (the light load and the target): the
    direct calls, the bare floor, the Django floor and the complete reveal, in that order, each
    against the direct calls at that load. Empty when no floor ran."""
    a = results["args"]
    rungs: list[Rung] = []
    for scenario, load in (("reveal_light", a["light_users"]), ("reveal", a["users"])):
        floors = [(f"{name}_{load}", layer) for name, _, layer in FLOOR_RUNGS]
        if not all(results.get(key, {}).get("Aggregated") for key, _ in floors):
            continue
        direct = direct_at(results, load)["all"]
        rungs.append(Rung(load, DIRECT_LAYER, direct["p50"], direct["p99"], *[None] * 5))
        before = direct
        for key, layer in [*floors, (scenario, REVEAL_LAYER)]:
            if not results.get(key, {}).get("Aggregated"):
                break
            rungs.append(_rung(results, key, layer, load, direct, before))
            before = results[key]["Aggregated"]
    return rungs
