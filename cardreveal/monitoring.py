"""/metrics for Prometheus (bearer token): the host's counters, and shared state read at scrape time."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterator

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Min, Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from cardreveal.accounts.models import AccountSecurity
from cardreveal.audit.models import ReceiptOutbox
from cardreveal.cards.bindings import binding_health
from cardreveal.cards.models import ProviderBinding
from cardreveal.metrics import exposition
from providers.breaker import State

logger = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
_PROBE_KEY = "cardreveal:metrics-probe"


class SharedStateCollector(Collector):
    """Gauges of what every host shares, read from PostgreSQL and Redis at each scrape, so every
    host reports the same figures and none drifts. A store that fails is reported as
    `cardreveal_metrics_source_up{source=...} 0` and its gauges are left out; the scrape still
    answers."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "cardreveal_metrics_source_up",
            "1 when this scrape could read the store the shared gauges come from, else 0.",
            labels=["source"],
        )
        database_ok = True
        try:
            yield from self._database()
        except Exception as exc:
            database_ok = False
            logger.warning("metrics: the database could not be read: %s", type(exc).__name__)
        up.add_metric(["database"], 1 if database_ok else 0)
        cache_ok = True
        try:
            if database_ok:
                yield from self._breakers()
            else:  # no bindings to read the breakers of: say whether the cache itself answers
                cache.get(_PROBE_KEY)
        except Exception as exc:
            cache_ok = False
            logger.warning("metrics: the cache could not be read: %s", type(exc).__name__)
        up.add_metric(["cache"], 1 if cache_ok else 0)
        yield up

    def _database(self) -> Iterator[GaugeMetricFamily]:
        now = timezone.now()
        locked = AccountSecurity.objects.filter(locked_until__gt=now).count()
        yield GaugeMetricFamily(
            "cardreveal_accounts_locked", "Accounts locked right now.", value=locked
        )
        queue = ReceiptOutbox.objects.aggregate(
            waiting=Count("pk"),
            retrying=Count("pk", filter=Q(attempts__gt=0)),
            oldest=Min("created_at"),
        )
        yield GaugeMetricFamily(
            "cardreveal_receipts_waiting",
            "Reveal receipts queued and not yet sent.",
            value=queue["waiting"],
        )
        yield GaugeMetricFamily(
            "cardreveal_receipts_retrying",
            "Queued receipts whose sending failed at least once.",
            value=queue["retrying"],
        )
        oldest = queue["oldest"]
        yield GaugeMetricFamily(
            "cardreveal_receipts_oldest_age_seconds",
            "Age of the oldest receipt still waiting (0 when none waits).",
            value=(now - oldest).total_seconds() if oldest is not None else 0.0,
        )

    def _breakers(self) -> Iterator[GaugeMetricFamily]:
        state = GaugeMetricFamily(
            "cardreveal_breaker_state",
            "The circuit breaker of each enabled binding: 1 for the state it is in.",
            labels=["binding", "provider", "state"],
        )
        failures = GaugeMetricFamily(
            "cardreveal_breaker_consecutive_failures",
            "Failures in a row counted towards opening each binding's breaker.",
            labels=["binding", "provider"],
        )
        fast = GaugeMetricFamily(
            "cardreveal_breaker_fast_failures",
            "Calls refused without asking the provider since each breaker last opened.",
            labels=["binding", "provider"],
        )
        for binding in ProviderBinding.objects.filter(enabled=True).order_by("pk"):
            snapshot = binding_health(binding)
            labels = [str(binding.pk), binding.kind]
            for each in State:
                state.add_metric([*labels, each.value], 1 if snapshot.state is each else 0)
            failures.add_metric(labels, snapshot.consecutive_failures)
            fast.add_metric(labels, snapshot.fast_failures)
        yield state
        yield failures
        yield fast


def metrics_token_matches(header: str) -> bool:
    """True when `header` is `Bearer <CARDREVEAL_METRICS_TOKEN>` (compared in constant time)."""
    token = settings.CARDREVEAL_METRICS_TOKEN
    scheme, _, given = header.partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def metrics_response(request: HttpRequest) -> HttpResponse:
    """The scrape's answer: 404 while no token is set (the endpoint is off), 401 without the
    right bearer token, else the metrics in Prometheus' text format."""
    if not settings.CARDREVEAL_METRICS_TOKEN:
        return HttpResponse(status=404)
    if request.method not in ("GET", "HEAD"):
        response = HttpResponse(status=405)
        response["Allow"] = "GET, HEAD"
        return response
    if not metrics_token_matches(request.headers.get("Authorization", "")):
        response = HttpResponse(
            "Send the metrics token as 'Authorization: Bearer <token>'.\n",
            status=401,
            content_type="text/plain; charset=utf-8",
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    response = HttpResponse(exposition([SharedStateCollector()]), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response


class MetricsMiddleware:
    """Answers /metrics before sessions and host checks, as the probes are answered: Prometheus
    scrapes each host by its own address over the private network."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == METRICS_PATH:
            return metrics_response(request)
        return self.get_response(request)
