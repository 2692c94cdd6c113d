"""What a server answered per second in a scenario's steady state, read from its JSON access log."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path


def answers(user_class: str, path: str) -> bool:
    """Whether an access-log line for `path` answers a request of the Locust `user_class`."""
    if user_class == "CardListUser":
        return path == "/"
    if user_class == "BareFloorUser":
        return path.startswith("/bench/bare/")
    if user_class == "ProviderFloorUser":
        return path.startswith("/bench/provider-floor/")
    return path.endswith("/reveal")


def served_per_second(
    access_log: Path, *, started: float, ended: float, user_class: str
) -> dict[str, float]:
    """What the server answered per second in a scenario's steady state, from its own access log
    ({} when the run was too short to have one): the answers to `user_class`'s requests.

    Locust's rate divides by the whole run, so the ramp-up (users start at their offset in the
    next second) and the last, partial second pull it below the rate offered. Here the first 3
    and the last 2 whole seconds in which anything was answered are left out; `rps` is the mean
    of the rest, `min` the slowest second, `errors` the non-2xx answers in that window.
    """
    buckets: dict[int, list[int]] = {}
    with access_log.open() as fh:
        for line in fh:
            if not line.startswith("{"):
                continue
            entry = json.loads(line)
            path = str(entry.get("path", ""))
            if not answers(user_class, path):
                continue
            when = dt.datetime.fromisoformat(entry["time"]).timestamp()
            if started <= when <= ended:
                buckets.setdefault(int(when), []).append(int(entry.get("status_code", 0)))
    seconds = sorted(buckets)[3:-2]
    if not seconds:
        return {}  # too short a run for a steady state: reports fall back to the whole run
    ok = [sum(200 <= code < 300 for code in buckets[sec]) for sec in seconds]
    errors = sum(len(buckets[sec]) - n for sec, n in zip(seconds, ok, strict=True))
    return {
        "rps": round(sum(ok) / len(ok), 1),
        "min": float(min(ok)),
        "errors": errors,
        "seconds": len(seconds),
    }
