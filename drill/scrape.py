"""Reading the app hosts' /metrics as Prometheus does (prometheus_client's parser), one host at a time."""

from __future__ import annotations

import contextlib

from prometheus_client.parser import text_string_to_metric_families

from bench.app_client import App

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(app: App, token: str) -> Samples | None:
    """Every sample of one host's /metrics, keyed by name and sorted labels; None when the host
    did not answer 200 (down, or not ready)."""
    with contextlib.suppress(OSError):
        status, _, body = app.request(
            "GET", "/metrics", headers={"Authorization": f"Bearer {token}"}
        )
        if status == 200:
            samples: Samples = {}
            for family in text_string_to_metric_families(body.decode()):
                for sample in family.samples:
                    samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
            return samples
    return None


def total(samples: Samples | None, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    if samples is None:
        return 0.0
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


def refuses_without_token(app: App) -> bool:
    """True when the host answers a scrape without the token with 401."""
    with contextlib.suppress(OSError):
        return app.request("GET", "/metrics")[0] == 401
    return False
