"""The cardholder's web pages and the reveal call as a browser makes it."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.conftest import shows, sign_in, totp_code


@pytest.fixture
def card(alice, make_card):
    return make_card(alice.user, label="Everyday")


def post_reveal(client: Client, card_id, code: str, key) -> object:
    return client.post(f"/cards/{card_id}/reveal", {"otp_code": code, "public_key": key.public_b64})


def test_card_list_shows_cards_masked(signed_in, card):
    response = signed_in.get("/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Everyday" in body
    assert "•••• 0001" in body
    assert "04/30" in body
    assert f"/cards/{card.pk}/" in body


def test_card_list_costs_the_same_queries_for_many_cards_and_never_loads_secrets(
    signed_in, alice, card, make_card
):
    def listing() -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            assert signed_in.get("/").status_code == 200
        return [q["sql"] for q in queries.captured_queries]

    one = listing()
    for kind in ("thredd", "netxd", "juspay"):
        make_card(alice.user, kind=kind, label=f"Card via {kind}")
    four = listing()
    assert len(four) == len(one)  # one query for all cards and their bindings: no query per card
    assert all('"secrets"' not in sql and '"reference"' not in sql for sql in four)
    assert signed_in.get("/").content.decode().count("Issued by Test Bank") == 4


def test_reveal_page_has_the_form_and_the_scam_notice(signed_in, card):
    body = signed_in.get(f"/cards/{card.pk}/").content.decode()
    assert 'id="reveal-form"' in body
    assert "never ask you to read your security code" in body
    assert "<noscript>" in body
    assert 'data-display-seconds="30"' in body


@pytest.mark.parametrize(
    ("options", "key_hash"),
    [
        ({}, "SHA-256"),
        ({"pass_client_key": True}, "SHA-256"),
        ({"pass_client_key": True, "client_key_padding": "oaep-sha1"}, "SHA-1"),
        ({"pass_client_key": False, "client_key_padding": "oaep-sha1"}, "SHA-256"),
    ],
)
def test_reveal_page_makes_its_key_with_the_hash_the_cards_binding_answers_with(
    signed_in, alice, make_binding, make_card, options, key_hash
):
    card = make_card(alice.user, binding=make_binding("mastercard", **options))
    body = signed_in.get(f"/cards/{card.pk}/").content.decode()
    assert f'data-key-hash="{key_hash}"' in body


def test_reveal_answers_sealed_json_with_no_store(signed_in, alice, card, clock, client_key):
    response = post_reveal(signed_in, card.pk, totp_code(alice.device, clock), client_key)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    data = response.json()
    assert data["scheme"] == "jwe-rsa-oaep-256-a256gcm"
    assert data["display_seconds"] == 30
    assert client_key.open(data["sealed"]) == "347"
    assert not shows("347", response.content)


def test_reveal_errors_are_json_with_no_store_and_a_message(signed_in, card, client_key):
    response = post_reveal(signed_in, card.pk, "000000", client_key)
    assert response.status_code == 403
    assert "no-store" in response["Cache-Control"]
    assert response.json()["error"]["code"] in {"otp_invalid", "otp_replayed"}
    assert response.json()["error"]["message"]


def test_login_verification_alone_is_not_enough(signed_in, card, client_key, provider_calls):
    calls = provider_calls("mastercard")
    response = signed_in.post(f"/cards/{card.pk}/reveal", {"public_key": client_key.public_b64})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "otp_missing"
    assert calls.count == 0


def test_the_sign_in_code_cannot_be_reused_for_a_reveal(client, alice, card, clock, client_key):
    client.post("/accounts/login/", {"username": "alice", "password": alice.password})
    code = totp_code(alice.device, clock)
    client.post("/accounts/verify/", {"code": code})
    response = post_reveal(client, card.pk, code, client_key)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "otp_replayed"


def test_reveal_is_post_only(signed_in, card):
    assert signed_in.get(f"/cards/{card.pk}/reveal").status_code == 405
    assert signed_in.put(f"/cards/{card.pk}/reveal").status_code == 405


def test_reveal_needs_csrf(alice, card, clock, client_key):
    browser = Client(enforce_csrf_checks=True)
    sign_in_csrf(browser, alice, clock)
    response = post_reveal(browser, card.pk, totp_code(alice.device, clock), client_key)
    assert response.status_code == 403
    assert b"CSRF" in response.content


def sign_in_csrf(browser: Client, holder, clock) -> None:
    browser.get("/accounts/login/")
    token = browser.cookies["csrftoken"].value
    browser.post(
        "/accounts/login/",
        {"username": "alice", "password": holder.password, "csrfmiddlewaretoken": token},
    )
    browser.post(
        "/accounts/verify/",
        {
            "code": totp_code(holder.device, clock),
            "csrfmiddlewaretoken": browser.cookies["csrftoken"].value,
        },
    )
    clock.advance(30)


def test_other_users_card_and_missing_card_give_the_same_404(
    signed_in, bob, make_card, clock, alice, client_key, provider_calls
):
    calls = provider_calls("mastercard")
    bobs = make_card(bob.user)
    theirs = post_reveal(signed_in, bobs.pk, totp_code(alice.device, clock), client_key)
    missing = post_reveal(signed_in, uuid.uuid4(), totp_code(alice.device, clock), client_key)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()
    assert signed_in.get(f"/cards/{bobs.pk}/").status_code == 404
    assert calls.count == 0


def test_unverified_session_cannot_reveal_or_list(
    client, alice, card, clock, client_key, provider_calls
):
    calls = provider_calls("mastercard")
    client.post("/accounts/login/", {"username": "alice", "password": alice.password})
    assert client.get("/").status_code == 302
    response = post_reveal(client, card.pk, totp_code(alice.device, clock), client_key)
    assert response.status_code == 302
    assert "/accounts/verify/" in response["Location"]
    assert calls.count == 0


def test_anonymous_is_sent_to_sign_in(client, card):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_provider_rate_limit_passes_retry_after(
    signed_in, alice, make_card, sandbox, clock, client_key
):
    limited = next(c for c in sandbox.emulator("mastercard").cards if c.behaviour == "rate_limited")
    card = make_card(
        alice.user, reference=limited.reference, expiry=(limited.expiry_month, limited.expiry_year)
    )
    response = post_reveal(signed_in, card.pk, totp_code(alice.device, clock), client_key)
    assert response.status_code == 503
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "try again" in response.json()["error"]["message"].lower()


def test_activity_lists_own_attempts_only(
    signed_in, alice, bob, card, make_card, clock, client_key
):
    post_reveal(signed_in, card.pk, totp_code(alice.device, clock), client_key)
    bob_client = Client()
    bobs = make_card(bob.user, label="Bobs secret card")
    sign_in(bob_client, bob, clock)
    post_reveal(bob_client, bobs.pk, totp_code(bob.device, clock), client_key)
    body = signed_in.get("/activity/").content.decode()
    assert "Everyday" in body
    assert "Security code shown" in body
    assert "Bobs secret card" not in body


def test_pages_carry_security_headers(signed_in, card):
    response = signed_in.get(f"/cards/{card.pk}/")
    csp = response["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "camera=()" in response["Permissions-Policy"]
    assert "Server" not in response
