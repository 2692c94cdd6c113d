"""Prometheus counters kept as things happen (reveals, provider call times, lockouts), summed over workers."""

from __future__ import annotations

import os
from collections.abc import Iterable

from django.conf import settings
from django.core.checks import CheckMessage, Error
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.registry import Collector

# Under gunicorn (gunicorn.conf.py) every worker process writes its counts to files in this
# directory and a scrape sums them (prometheus-client's multiprocess mode), so the figures do
# not depend on which worker answers the scrape, and a worker that exits keeps its counts.
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

# The counters of this process when it is the only one (runserver, tests, management commands).
_LIVE = CollectorRegistry(auto_describe=True)

REVEALS = Counter(
    "cardreveal_reveals",
    "Reveal attempts answered, by outcome (revealed, refused, failed), reason code and provider.",
    ["outcome", "reason", "provider"],
    registry=_LIVE,
)
PROVIDER_CALL_SECONDS = Histogram(
    "cardreveal_provider_call_seconds",
    "Time a reveal waited on its provider, per binding, by result (ok or the error code).",
    ["binding", "provider", "result"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0),
    registry=_LIVE,
)
LOCKOUTS = Counter(
    "cardreveal_lockouts",
    "Accounts locked after too many failed attempts.",
    registry=_LIVE,
)


def reveal_counted(*, outcome: str, reason: str, provider: str) -> None:
    """Count one answered reveal attempt."""
    REVEALS.labels(outcome=outcome, reason=reason, provider=provider or "none").inc()


def provider_call_timed(*, binding: str, provider: str, result: str, seconds: float) -> None:
    """Record how long one reveal waited on its provider."""
    PROVIDER_CALL_SECONDS.labels(binding=binding, provider=provider, result=result).observe(
        max(0.0, seconds)
    )


def lockout_counted() -> None:
    """Count one account lock."""
    LOCKOUTS.inc()


def exposition(shared: Iterable[Collector] = ()) -> bytes:
    """The text a scrape gets: this host's counters (every worker's, in multiprocess mode) and
    the `shared` collectors, which read state every host shares at the moment of the scrape."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get(MULTIPROCESS_ENV):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_LIVE)
    for collector in shared:
        registry.register(collector)
    return generate_latest(registry)


METRICS_TOKEN_MIN_LENGTH = 32


def metrics_token_check(app_configs: object = None, **kwargs: object) -> list[CheckMessage]:
    """A CARDREVEAL_METRICS_TOKEN that is set must be long and without spaces (never echoed)."""
    token = settings.CARDREVEAL_METRICS_TOKEN
    if token and (len(token) < METRICS_TOKEN_MIN_LENGTH or token != "".join(token.split())):
        return [
            Error(
                f"CARDREVEAL_METRICS_TOKEN must be at least {METRICS_TOKEN_MIN_LENGTH} characters "
                "with no spaces (make one with: python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'), or empty to turn /metrics off.",
                id="cardreveal.E101",
            )
        ]
    return []
