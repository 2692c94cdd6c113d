"""Percentiles of measured response times, computed the same way for Locust runs and direct calls."""

from __future__ import annotations


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank `q`th percentile of `values` (NaN when there are none)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def summarize_samples(samples: list[float], errors: int, duration: float) -> dict[str, float]:
    """A run's row as the report shows it: requests, rate, p50, p95, p99 and errors."""
    return {
        "requests": len(samples) + errors,
        "rps": round((len(samples) + errors) / duration, 1),
        "p50": round(percentile(samples, 50), 1),
        "p95": round(percentile(samples, 95), 1),
        "p99": round(percentile(samples, 99), 1),
        "errors": errors,
    }
