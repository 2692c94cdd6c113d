"""The bench's floors (bench/floors.py, bench/floor_urls.py): the reveal's provider call behind
gunicorn alone and behind Django's signed-in request path, and the ladder `make bench` reports
from them. A floor calls the provider as a reveal does but never answers the CVV."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from bench import floors
from bench.direct_provider import BENCH_OWNER
from bench.run_bench import (
    FLOOR_RUNGS,
    REVEAL_LAYER,
    _floor_lines,
    answers,
    floor_ladder,
    render,
    scenario_plan,
)
from tests.conftest import make_cardholder, shows
from tests.test_no_cvv_traces import canary  # noqa: F401 (a fixture)

DJANGO_LAYER = FLOOR_RUNGS[-1][2]


@pytest.fixture
def floor_urls(settings):
    settings.ROOT_URLCONF = "bench.floor_urls"


@pytest.fixture
def floor_card(floor_urls, canary, provider_calls):  # noqa: F811
    """The canary card with the floor URLs on: (card, its CVV, its emulator's call counter)."""
    card, value = canary
    return card, value, provider_calls("mastercard")


def post_floor(client, card_id, key) -> Any:
    return client.post(f"/bench/provider-floor/{card_id}", {"public_key": key.public_b64})


# ------------------------------------------------------------------------- the Django floor


def test_the_django_floor_calls_the_provider_once_and_never_answers_the_cvv(
    signed_in, floor_card, client_key
):
    card, value, calls = floor_card
    response = post_floor(signed_in, card.pk, client_key)
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert calls.count == 1
    assert not shows(value, response.content)
    assert response["Cache-Control"].startswith("max-age=0")  # never_cache: nothing to keep


def test_the_django_floor_needs_a_verified_session_before_any_provider_call(
    client, floor_card, client_key
):
    card, _, calls = floor_card
    response = post_floor(client, card.pk, client_key)
    assert response.status_code in (302, 403)
    assert calls.count == 0


def test_the_django_floor_treats_another_users_card_as_missing(
    floor_urls, client, clock, client_key, make_card, provider_calls
):
    from tests.conftest import sign_in

    owner, other = make_cardholder("owner"), make_cardholder("other")
    card = make_card(owner.user)
    sign_in(client, other, clock)
    calls = provider_calls("mastercard")
    response = post_floor(client, card.pk, client_key)
    assert response.status_code == 404
    assert calls.count == 0


def test_the_django_floor_refuses_a_bad_key_and_other_methods(signed_in, floor_card):
    card, _, calls = floor_card
    bad = signed_in.post(f"/bench/provider-floor/{card.pk}", {"public_key": "not a key"})
    assert bad.status_code == 400
    assert bad.json() == {"error": "client_key_invalid"}
    assert signed_in.get(f"/bench/provider-floor/{card.pk}").status_code == 405
    assert calls.count == 0


# --------------------------------------------------------------------------- the bare floor


def call_bare(path: str, method: str = "POST") -> tuple[str, bytes]:
    status: list[str] = []
    body = b"kind=x"
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    chunks = floors.application(environ, lambda s, headers: status.append(s))
    return status[0], b"".join(chunks)


@pytest.fixture
def bench_card(monkeypatch, make_card, sandbox, db):
    """The bench's first cardholder with one Mastercard card, and no provider built yet."""
    monkeypatch.setattr(floors, "_calls", {})
    holder = make_cardholder(BENCH_OWNER)
    card = make_card(holder.user)
    cvv = sandbox.emulator("mastercard").find_card(**card.reference).cvv
    return card, cvv


def test_the_bare_floor_calls_the_provider_and_never_answers_the_cvv(bench_card, provider_calls):
    _, cvv = bench_card
    calls = provider_calls("mastercard")
    status, body = call_bare("/bench/bare/mastercard")
    assert status == "200 OK"
    assert json.loads(body) == {"ok": True}
    assert not shows(cvv, body)
    call_bare("/bench/bare/mastercard")
    assert calls.count == 2  # the provider object is built once, the call made every time


def test_the_bare_floor_knows_only_the_bench_cards_providers_and_only_post(
    bench_card, provider_calls
):
    calls = provider_calls("mastercard")
    assert call_bare("/bench/bare/thredd")[0] == "404 Not Found"
    assert call_bare("/bench/bare/mastercard", method="GET")[0] == "405 Method Not Allowed"
    assert calls.count == 0


def test_a_failing_provider_call_is_a_502_with_its_code_only(bench_card, sandbox, monkeypatch):
    from providers.sandbox.core import SandboxResponse

    emulator = sandbox.emulator("mastercard")
    monkeypatch.setattr(
        emulator, "handle", lambda request: SandboxResponse.json(500, {"detail": "secret body"})
    )
    status, body = call_bare("/bench/bare/mastercard")
    assert status == "502 Bad Gateway"
    assert b"secret body" not in body
    assert json.loads(body)["error"].startswith("provider_")


def test_the_floor_server_passes_every_other_path_to_the_app(db):
    status, _ = call_bare("/healthz", method="GET")
    assert status.startswith("200")


# --------------------------------------------------------------------------- the plan


def plan(**changes: Any) -> list[Any]:
    args = {
        "light": 10,
        "curve": [50],
        "users": 100,
        "overload": 120,
        "list_users": 32,
        "workers": 4,
        "seconds": 20,
        "floors": True,
    }
    return scenario_plan(**(args | changes))


def test_the_floors_run_at_the_light_load_and_the_target_between_direct_calls_and_reveals():
    names = [(s.name, s.server, s.direct_first) for s in plan()]
    assert names == [
        ("warmup", "app", False),
        ("floor_bare_warmup", "floors", False),
        ("floor_django_warmup", "floors", False),
        ("floor_bare_10", "floors", True),
        ("floor_django_10", "floors", False),
        ("reveal_light", "app", False),
        ("reveal_at_50", "app", True),
        ("floor_bare_100", "floors", True),
        ("floor_django_100", "floors", False),
        ("reveal", "app", False),
        ("reveal_overload", "app", True),
        ("list", "app", False),
    ]


def test_without_floors_every_reveal_load_follows_its_own_direct_calls():
    steps = plan(floors=False, overload=0, list_users=0)
    assert [(s.name, s.direct_first) for s in steps] == [
        ("warmup", False),
        ("reveal_light", True),
        ("reveal_at_50", True),
        ("reveal", True),
    ]
    assert {s.server for s in steps} == {"app"}


def test_each_scenario_counts_only_its_own_answers_in_the_access_log():
    assert answers("RevealUser", "/cards/1f0e/reveal")
    assert not answers("RevealUser", "/")
    assert answers("CardListUser", "/")
    assert answers("BareFloorUser", "/bench/bare/netxd")
    assert answers("ProviderFloorUser", "/bench/provider-floor/1f0e")
    assert not answers("ProviderFloorUser", "/bench/bare/netxd")


# --------------------------------------------------------------------------- the report


def _run(p50: float, p99: float) -> dict[str, Any]:
    summary = {"p50": p50, "p95": p99, "p99": p99, "errors": 0, "rps": 10.0, "requests": 200}
    return {"Aggregated": summary}


def _results(*, floors: bool = True, listing: bool = True) -> dict[str, Any]:
    direct = _run(50.0, 60.0)["Aggregated"]
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
        "reveal_light": _run(58.0, 80.0),
        "reveal": _run(70.0, 200.0),
        "reveal_steady": {"rps": 100.0, "min": 99.0},
        "cpu_reveal": {"app": 0.8},
        "pages": [{"path": "/", "requests": 2, "bytes": 7000, "third_party_requests": []}],
        "profile": {"reveal": {"cpu_ms_median": 9.0, "queries": [12], "cache_calls": [4]}},
        "receipts_sent": 5,
    }
    if listing:
        results["list"] = _run(50.0, 150.0)
        results["list"]["Aggregated"]["rps"] = 400.0
    if floors:
        for load, bare, django in (
            (10, (51.0, 63.0), (55.0, 70.0)),
            (100, (51.5, 70.0), (58.0, 95.0)),
        ):
            results[f"floor_bare_{load}"] = _run(*bare)
            results[f"floor_django_{load}"] = _run(*django)
            results[f"floor_django_{load}_steady"] = {"rps": float(load), "min": load - 1.0}
            results[f"cpu_floor_django_{load}"] = {"app": load * 0.006}
    return results


def test_the_ladder_splits_what_a_reveal_adds_into_each_layers_step():
    rungs = floor_ladder(_results())
    light = [r for r in rungs if r.load == 10]
    assert [r.layer for r in light] == [
        "provider calls made directly",
        *[layer for _, _, layer in FLOOR_RUNGS],
        REVEAL_LAYER,
    ]
    direct, bare, django, reveal = light
    assert direct.added50 is None
    assert direct.cpu_ms is None
    assert (bare.added50, bare.added99, bare.step50) == (1.0, 3.0, 1.0)
    assert (django.added50, django.step50, django.step99) == (5.0, 4.0, 7.0)
    assert django.cpu_ms == 6.0
    assert (reveal.added50, reveal.added99, reveal.step50, reveal.step99) == (8.0, 20.0, 3.0, 10.0)


def test_the_ladder_says_when_the_stack_alone_is_past_the_targets():
    text = "\n".join(_floor_lines(floor_ladder(_results())))
    assert f"| 100 | {DJANGO_LAYER} | 58.0 | 95.0 | +8.0 | +35.0 |" in text
    assert "At 100/s the cheapest signed-in Django request that makes the call adds 8.0 ms" in text
    assert "already past the targets' 10 / 30 ms" in text


def test_without_floor_runs_there_is_no_ladder():
    assert floor_ladder(_results(floors=False)) == []
    assert "Where the added time comes from" not in render(_results(floors=False))


def test_the_report_renders_without_a_card_list_run():
    text = render(_results(listing=False))
    assert "card list at least 300 requests/s: not run (--list-users 0)" in text
    assert "Where the added time comes from" in text
    with_list = render(_results())
    assert "card list at least 300 requests/s: met (400.0/s, 0 errors)" in with_list
