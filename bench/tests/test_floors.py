"""The floors (bench/floors.py, bench/floor_urls.py) make the reveal's provider call and never answer the CVV."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from bench import floors
from bench.direct_provider import BENCH_OWNER
from tests.conftest import make_cardholder, shows, sign_in


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
    assert calls.count == 2  # every bare request makes the provider call


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
