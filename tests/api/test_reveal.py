"""POST /api/v1/cards/{id}/reveal: the one reveal service behind a JSON API, sealed to the app's key."""

from __future__ import annotations

import base64
import socket
import uuid

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from django.test import Client

from cardreveal.audit.models import RevealEvent
from tests.api.conftest import (
    assert_error,
    client_with,
    open_like_a_mobile_app,
    set_rates,
    wrong_code,
)
from tests.conftest import make_client_key, shows, totp_code

SANDBOX_CVV = "347"  # what the Mastercard sandbox answers for contract 70001


@pytest.fixture
def card(alice, make_card):
    return make_card(alice.user, label="Everyday")


def reveal(client, card_id, code, public_key, **extra):
    return client.post(
        f"/api/v1/cards/{card_id}/reveal",
        {"otp_code": code, "public_key": public_key, **extra},
        format="json",
    )


def test_reveal_answers_a_sealed_cvv_a_mobile_app_can_open(
    authed, alice, card, clock, client_key, provider_calls
):
    calls = provider_calls("mastercard")
    response = reveal(authed, card.pk, totp_code(alice.device, clock), client_key.public_b64)
    assert response.status_code == 200, response.content
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert set(body) == {"scheme", "sealed", "display_seconds"}
    assert body["scheme"] == "jwe-rsa-oaep-256-a256gcm"
    assert body["display_seconds"] == 30
    # Opened with `cryptography` alone, by the documented steps, as the app does...
    assert open_like_a_mobile_app(body["sealed"], client_key.private_key) == {"cvv": SANDBOX_CVV}
    # ...and with the suite's own JWE reader.
    assert client_key.open(body["sealed"]) == SANDBOX_CVV
    assert not shows(SANDBOX_CVV, response.content.decode().replace(body["sealed"], ""))
    assert calls.count == 1


def test_reveal_accepts_a_pem_public_key(authed, alice, card, clock, client_key):
    pem = client_key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    response = reveal(authed, card.pk, totp_code(alice.device, clock), pem.decode())
    assert response.status_code == 200
    assert client_key.open(response.json()["sealed"]) == SANDBOX_CVV


def test_reveal_is_audited_with_channel_api_and_the_request_id(
    authed, alice, card, clock, client_key
):
    response = authed.post(
        f"/api/v1/cards/{card.pk}/reveal",
        {"otp_code": totp_code(alice.device, clock), "public_key": client_key.public_b64},
        format="json",
        HTTP_X_REQUEST_ID="mobile-req-000123",
        HTTP_USER_AGENT="CardApp/2.1",
    )
    assert response.status_code == 200
    event = RevealEvent.objects.get()
    assert event.channel == "api"
    assert event.outcome == "revealed"
    assert event.card == card
    assert event.request_id == "mobile-req-000123"
    assert event.user_agent == "CardApp/2.1"
    assert response["X-Request-ID"] == "mobile-req-000123"


def test_mastercard_pass_through_seals_with_mastercards_own_encryption(
    authed, alice, make_binding, make_card, clock, client_key
):
    binding = make_binding("mastercard", pass_client_key=True)
    card = make_card(alice.user, binding=binding)
    response = reveal(authed, card.pk, totp_code(alice.device, clock), client_key.public_b64)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["scheme"] == "rsa-oaep-256-hex"
    block = bytes.fromhex(body["sealed"])
    assert len(block) == 256
    plaintext = client_key.private_key.decrypt(
        block,
        padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None),
    )
    assert plaintext == SANDBOX_CVV.encode()


def test_wrong_code_is_refused_without_a_provider_call(
    authed, alice, card, clock, client_key, provider_calls
):
    calls = provider_calls("mastercard")
    response = reveal(authed, card.pk, wrong_code(alice.device, clock), client_key.public_b64)
    assert_error(response, 403, "otp_invalid")
    assert "no-store" in response["Cache-Control"]
    assert calls.count == 0
    assert RevealEvent.objects.get().reason == "otp_invalid"


def test_a_code_reveals_once(authed, alice, card, clock, client_key, provider_calls):
    calls = provider_calls("mastercard")
    code = totp_code(alice.device, clock)
    assert reveal(authed, card.pk, code, client_key.public_b64).status_code == 200
    again = reveal(authed, card.pk, code, client_key.public_b64)
    assert_error(again, 403, "otp_replayed")
    assert calls.count == 1


def test_the_sign_in_code_cannot_reveal(api, alice, card, clock, client_key, provider_calls):
    calls = provider_calls("mastercard")
    code = totp_code(alice.device, clock)
    login = api.post(
        "/api/v1/auth/login",
        {"username": "alice", "password": alice.password, "otp_code": code},
        format="json",
    )
    response = reveal(client_with(login.json()["token"]), card.pk, code, client_key.public_b64)
    assert_error(response, 403, "otp_replayed")
    assert calls.count == 0


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"otp_code", "public_key"}),
        ({"otp_code": "123456"}, {"public_key"}),
        ({"public_key": "x"}, {"otp_code"}),
        ({"otp_code": 123456, "public_key": ["k"]}, {"public_key"}),
        ({"otp_code": "", "public_key": ""}, {"otp_code", "public_key"}),
    ],
)
def test_missing_or_mistyped_fields_are_400_without_a_provider_call(
    authed, card, provider_calls, body, fields
):
    calls = provider_calls("mastercard")
    response = authed.post(f"/api/v1/cards/{card.pk}/reveal", body, format="json")
    error = assert_error(response, 400, "invalid_input")
    assert set(error["fields"]) == fields
    assert "no-store" in response["Cache-Control"]
    assert calls.count == 0


@pytest.mark.parametrize(
    "public_key",
    [
        pytest.param(make_client_key(bits=1024).public_b64, id="rsa-1024"),
        pytest.param(make_client_key().public_b64[:200], id="truncated"),
        pytest.param("bm90IGEga2V5", id="not-der"),
        pytest.param("not base64 at all!", id="not-base64"),
        pytest.param("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", id="bad-pem"),
        pytest.param("A" * 2500, id="too-long"),
    ],
)
def test_weak_or_malformed_public_keys_are_400_and_keep_the_code(
    authed, alice, card, clock, client_key, provider_calls, public_key
):
    calls = provider_calls("mastercard")
    code = totp_code(alice.device, clock)
    response = reveal(authed, card.pk, code, public_key)
    assert_error(response, 400, "client_key_invalid")
    assert calls.count == 0
    # The code was not spent on a request that could not succeed.
    assert reveal(authed, card.pk, code, client_key.public_b64).status_code == 200


def test_an_elliptic_curve_key_is_refused(authed, alice, card, clock, provider_calls):
    calls = provider_calls("mastercard")
    der = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    response = reveal(
        authed, card.pk, totp_code(alice.device, clock), base64.b64encode(der).decode()
    )
    error = assert_error(response, 400, "client_key_invalid")
    assert "RSA" in error["message"]
    assert calls.count == 0


def test_another_users_card_is_the_same_404_as_a_missing_one(
    authed, alice, bob, make_card, clock, client_key, provider_calls
):
    calls = provider_calls("mastercard")
    bobs = make_card(bob.user, label="Bob's")
    theirs = reveal(authed, bobs.pk, totp_code(alice.device, clock), client_key.public_b64)
    missing = reveal(authed, uuid.uuid4(), totp_code(alice.device, clock), client_key.public_b64)
    first = assert_error(theirs, 404, "card_not_found")
    second = assert_error(missing, 404, "card_not_found")
    assert first["message"] == second["message"]
    assert calls.count == 0


def test_non_json_bodies_are_415_without_a_provider_call(
    authed, alice, card, clock, client_key, provider_calls
):
    calls = provider_calls("mastercard")
    url = f"/api/v1/cards/{card.pk}/reveal"
    code = totp_code(alice.device, clock)
    form = authed.post(
        url, {"otp_code": code, "public_key": client_key.public_b64}, format="multipart"
    )
    text = authed.post(url, f"otp_code={code}", content_type="text/plain")
    urlencoded = authed.post(
        url, f"otp_code={code}", content_type="application/x-www-form-urlencoded"
    )
    for response in (form, text, urlencoded):
        assert_error(response, 415, "unsupported_media_type")
        assert "no-store" in response["Cache-Control"]
    assert calls.count == 0
    assert reveal(authed, card.pk, code, client_key.public_b64).status_code == 200


def test_malformed_json_is_400(authed, card):
    response = authed.post(
        f"/api/v1/cards/{card.pk}/reveal", '{"otp_code": ', content_type="application/json"
    )
    assert_error(response, 400, "malformed_json")
    assert "no-store" in response["Cache-Control"]


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete", "options"])
def test_other_methods_are_405(authed, card, method):
    response = getattr(authed, method)(f"/api/v1/cards/{card.pk}/reveal")
    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "POST"
    assert "no-store" in response["Cache-Control"]


def test_reveal_needs_a_token(api, card, alice, clock, client_key, provider_calls):
    calls = provider_calls("mastercard")
    response = reveal(api, card.pk, totp_code(alice.device, clock), client_key.public_b64)
    assert_error(response, 401, "not_authenticated")
    assert "no-store" in response["Cache-Control"]
    assert calls.count == 0


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_provider_down_is_503_with_a_safe_message(
    authed, alice, make_binding, make_card, clock, client_key
):
    binding = make_binding("mastercard")
    binding.base_url = f"http://127.0.0.1:{_closed_port()}/mastercard"
    binding.save()
    card = make_card(alice.user, binding=binding)
    response = reveal(authed, card.pk, totp_code(alice.device, clock), client_key.public_b64)
    error = assert_error(response, 503, error_code_of(response))
    assert "Retry-After" in response
    assert "127.0.0.1" not in error["message"]
    assert "Connection" not in error["message"]
    assert "no-store" in response["Cache-Control"]
    assert RevealEvent.objects.get().outcome == "failed"


def error_code_of(response) -> str:
    return str(response.json()["error"]["code"])


def test_provider_server_error_is_502_without_its_body(
    authed, alice, sandbox, make_card, clock, client_key
):
    faulty = next(c for c in sandbox.emulator("mastercard").cards if c.behaviour == "server_error")
    card = make_card(
        alice.user, reference=faulty.reference, expiry=(faulty.expiry_month, faulty.expiry_year)
    )
    response = reveal(authed, card.pk, totp_code(alice.device, clock), client_key.public_b64)
    error = assert_error(response, 502, error_code_of(response))
    assert "{" not in error["message"]
    assert "no-store" in response["Cache-Control"]


def test_provider_rate_limit_is_503_with_retry_after(
    authed, alice, sandbox, make_card, clock, client_key
):
    limited = next(c for c in sandbox.emulator("mastercard").cards if c.behaviour == "rate_limited")
    card = make_card(
        alice.user, reference=limited.reference, expiry=(limited.expiry_month, limited.expiry_year)
    )
    response = reveal(authed, card.pk, totp_code(alice.device, clock), client_key.public_b64)
    assert_error(response, 503, error_code_of(response))
    assert int(response["Retry-After"]) >= 1


def test_disabled_card_is_refused(authed, alice, card, clock, client_key, provider_calls):
    calls = provider_calls("mastercard")
    card.reveal_enabled = False
    card.save()
    response = reveal(authed, card.pk, totp_code(alice.device, clock), client_key.public_b64)
    assert_error(response, 403, "card_disabled")
    assert calls.count == 0


def test_reveals_are_throttled_per_user(authed, alice, card, clock, client_key, settings):
    set_rates(settings, reveal_user="2/min")
    for _ in range(2):
        assert reveal(authed, card.pk, "000000", "not a key").status_code == 400
    response = reveal(authed, card.pk, totp_code(alice.device, clock), client_key.public_b64)
    assert_error(response, 429, "throttled")
    assert "no-store" in response["Cache-Control"]
    assert int(response["Retry-After"]) > 0


# ------------------------------------------------------------------------- browser sessions


@pytest.fixture
def browser(alice, clock):
    """A browser that signed in on the web pages, with CSRF checks on as in real life."""
    client = Client(enforce_csrf_checks=True)
    client.get("/accounts/login/")
    sign_in_with_csrf(client, alice, clock)
    return client


def sign_in_with_csrf(client, holder, clock) -> None:
    client.post(
        "/accounts/login/",
        {
            "username": "alice",
            "password": holder.password,
            "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
        },
    )
    client.post(
        "/accounts/verify/",
        {
            "code": totp_code(holder.device, clock),
            "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
        },
    )
    clock.advance(30)


def test_a_verified_browser_session_can_use_the_api_with_its_csrf_token(
    browser, alice, card, clock, client_key
):
    assert browser.get("/api/v1/cards").status_code == 200
    body = {"otp_code": totp_code(alice.device, clock), "public_key": client_key.public_b64}
    without = browser.post(f"/api/v1/cards/{card.pk}/reveal", body, content_type="application/json")
    assert_error(without, 403, "csrf_failed")
    assert "no-store" in without["Cache-Control"]
    with_token = browser.post(
        f"/api/v1/cards/{card.pk}/reveal",
        body,
        content_type="application/json",
        HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value,
    )
    assert with_token.status_code == 200
    assert client_key.open(with_token.json()["sealed"]) == SANDBOX_CVV


def test_a_session_without_the_otp_step_is_refused(client, alice, card):
    client.post("/accounts/login/", {"username": "alice", "password": alice.password})
    response = client.get("/api/v1/cards")
    assert_error(response, 403, "otp_required")


def test_a_right_code_right_after_a_wrong_one_reveals(authed, alice, card, clock, client_key):
    assert_error(
        reveal(authed, card.pk, wrong_code(alice.device, clock), client_key.public_b64),
        403,
        "otp_invalid",
    )
    response = reveal(authed, card.pk, totp_code(alice.device, clock), client_key.public_b64)
    assert response.status_code == 200, response.content
    assert client_key.open(response.json()["sealed"]) == SANDBOX_CVV


def test_a_code_refused_by_the_back_off_says_the_wait_with_retry_after(
    wall_clock, authed, alice, card, clock, client_key
):
    for _ in range(3):
        assert_error(
            reveal(authed, card.pk, wrong_code(alice.device, clock), client_key.public_b64),
            403,
            "otp_invalid",
        )
    response = reveal(authed, card.pk, totp_code(alice.device, clock), client_key.public_b64)

    error = assert_error(response, 429, "otp_throttled")
    assert response["Retry-After"] == "4"
    assert "Wait 4 seconds" in str(error["message"])
