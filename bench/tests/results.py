"""A `make bench` run's results as results.json holds them, small enough to read, for the tests."""

from __future__ import annotations

from typing import Any


def run(p50: float, p99: float, *, errors: int = 0, rps: float = 10.0) -> dict[str, Any]:
    """A Locust scenario's rows: only the aggregate."""
    summary = {"p50": p50, "p95": p99, "p99": p99, "errors": errors, "rps": rps, "requests": 200}
    return {"Aggregated": summary}


def bench_results(*, floors: bool = True, listing: bool = True) -> dict[str, Any]:
    """Direct calls at 50 / 60 ms, reveals at 10/s (58 / 80 ms) and 100/s (70 / 200 ms), no
    overload run; with `floors`, the bare and Django floors at both loads; with `listing`, the
    card list at 400/s."""
    direct = run(50.0, 60.0)["Aggregated"]
    direct = {"all": direct, "mastercard": direct}
    results: dict[str, Any] = {
        "machine": {
            "date": "2026-12-06 03:00 UTC",
            "cpus": 2,
            "cpu": "test CPU",
            "memory": "1 GiB",
            "python": "3.11.7",
            "load": 0.1,
        },
        "args": {
            "light_users": 10,
            "users": 100,
            "overload_users": 0,
            "list_users": 32 if listing else 0,
            "workers": 4,
            "threads": 6,
            "latency_ms": 50.0,
            "duration": 20,
        },
        "direct": direct,
        "direct_at": {"10": direct, "100": direct},
        "reveal_light": run(58.0, 80.0),
        "reveal": run(70.0, 200.0),
        "reveal_steady": {"rps": 100.0, "min": 99.0},
        "cpu_reveal": {"app": 0.8},
        "pages": [{"path": "/", "requests": 2, "bytes": 7000, "third_party_requests": []}],
        "profile": {"reveal": {"cpu_ms_median": 9.0, "queries": [12], "cache_calls": [4]}},
        "receipts_sent": 5,
    }
    if listing:
        results["list"] = run(50.0, 150.0, rps=400.0)
    if floors:
        for load, bare, django in (
            (10, (51.0, 63.0), (55.0, 70.0)),
            (100, (51.5, 70.0), (58.0, 95.0)),
        ):
            results[f"floor_bare_{load}"] = run(*bare)
            results[f"floor_django_{load}"] = run(*django)
            results[f"floor_django_{load}_steady"] = {"rps": float(load), "min": load - 1.0}
            results[f"cpu_floor_django_{load}"] = {"app": load * 0.006}
    return results
