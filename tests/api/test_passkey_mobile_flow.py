"""The mobile passkey flow over the API, with an independent software authenticator (`fido2`'s
WebAuthn structures) standing in for Android's Credential Manager: sign in, ask for the reveal's
challenge with the app's key, let the passkey answer it, reveal with the answer; and each way that
answer is refused."""

from __future__ import annotations

import base64
import hashlib

import pytest
from django.test import Client

from cardreveal.audit.models import RevealEvent
from tests.api.conftest import assert_error, open_like_a_mobile_app
from tests.conftest import make_client_key, totp_code
from tests.passkey_authenticator import (
    SoftAuthenticator,
    enrol_directly,
    passkey_settings,
)

SANDBOX_CVV = "347"
# The app's signing certificate (a made-up one): Credential Manager names the app by its digest.
APP_CERT_SHA256 = hashlib.sha256(b"cardreveal test app signing certificate").digest()
APP_FINGERPRINT = ":".join(f"{b:02X}" for b in APP_CERT_SHA256)
APP_ORIGIN = "android:apk-key-hash:" + base64.urlsafe_b64encode(APP_CERT_SHA256).decode().rstrip(
    "="
)


@pytest.fixture
def phone(settings, alice):
    """Alice's Android phone: the app is listed (assetlinks), its passkey enrolled."""
    passkey_settings(settings)
    settings.CARDREVEAL_ANDROID_APPS = [f"bank.example.cards:{APP_FINGERPRINT}"]
    authenticator = SoftAuthenticator(origin=APP_ORIGIN)
    enrol_directly(alice.user, authenticator, name="Pixel")
    return authenticator


@pytest.fixture
def card(alice, make_card):
    return make_card(alice.user, label="Everyday")


def challenge(client, card, key):
    return client.post(
        f"/api/v1/cards/{card.pk}/reveal/challenge", {"public_key": key.public_b64}, format="json"
    )


def reveal(client, card, key, assertion):
    return client.post(
        f"/api/v1/cards/{card.pk}/reveal",
        {"passkey_assertion": assertion, "public_key": key.public_b64},
        format="json",
    )


def options_for(client, card, key):
    response = challenge(client, card, key)
    assert response.status_code == 200, response.content
    return response.json()["request_options"]


def test_the_app_adds_a_passkey_then_reveals_with_it(
    authed, alice, card, clock, settings, django_capture_on_commit_callbacks, mailoutbox
):
    passkey_settings(settings)
    settings.CARDREVEAL_ANDROID_APPS = [f"bank.example.cards:{APP_FINGERPRINT}"]
    settings.CARDREVEAL_REVEAL_COOLOFF_SECONDS = 0
    pixel = SoftAuthenticator(origin=APP_ORIGIN)

    started = authed.post(
        "/api/v1/otp-devices/passkeys/options",
        {"password": alice.password, "otp_code": totp_code(alice.device, clock)},
        format="json",
    )
    assert started.status_code == 200, started.content
    creation = started.json()["creation_options"]
    assert creation["rp"]["id"] == "cards.example.com"
    assert creation["authenticatorSelection"]["userVerification"] == "required"
    with django_capture_on_commit_callbacks(execute=True):
        added = authed.post(
            "/api/v1/otp-devices/passkeys",
            {"name": "Pixel 9", "credential": pixel.create(creation)},
            format="json",
        )
    assert added.status_code == 201, added.content
    assert added.json()["type"] == "passkey"
    assert added.json()["name"] == "Pixel 9"
    assert mailoutbox[-1].subject == "A new passkey was added to your cardreveal account"
    listed = authed.get("/api/v1/otp-devices").json()["results"]
    assert [d["name"] for d in listed if d["type"] == "passkey"] == ["Pixel 9"]

    app_key = make_client_key()
    assertion = pixel.get(options_for(authed, card, app_key))
    revealed = reveal(authed, card, app_key, assertion)

    assert revealed.status_code == 200, revealed.content
    assert open_like_a_mobile_app(revealed.json()["sealed"], app_key.private_key) == {
        "cvv": SANDBOX_CVV
    }


def test_adding_a_passkey_needs_the_password_and_a_code(authed, alice, settings):
    passkey_settings(settings)
    response = authed.post(
        "/api/v1/otp-devices/passkeys/options",
        {"password": "wrong password", "otp_code": "123456"},
        format="json",
    )
    assert_error(response, 403, "reauthentication_failed")


def test_a_passkey_answer_for_another_site_is_not_added(authed, alice, clock, settings):
    passkey_settings(settings)
    creation = authed.post(
        "/api/v1/otp-devices/passkeys/options",
        {"password": alice.password, "otp_code": totp_code(alice.device, clock)},
        format="json",
    ).json()["creation_options"]
    phishing = SoftAuthenticator(origin="https://cards-example.co")
    response = authed.post(
        "/api/v1/otp-devices/passkeys",
        {"name": "Pixel", "credential": phishing.create(creation)},
        format="json",
    )
    error = assert_error(response, 400, "passkey_not_added")
    assert "different website" in error["message"]


def test_the_whole_mobile_flow_reveals_with_a_passkey_and_no_code(authed, phone, card):
    app_key = make_client_key()  # the app's fresh RSA key for this reveal

    response = challenge(authed, card, app_key)

    assert response.status_code == 200, response.content
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert body["expires_in"] == 120
    options = body["request_options"]
    assert options["rpId"] == "cards.example.com"
    assert options["userVerification"] == "required"
    assert len(options["allowCredentials"]) == 1
    assertion = phone.get(options)  # Credential Manager: fingerprint, then the signature

    revealed = reveal(authed, card, app_key, assertion)

    assert revealed.status_code == 200, revealed.content
    sealed = revealed.json()["sealed"]
    assert open_like_a_mobile_app(sealed, app_key.private_key) == {"cvv": SANDBOX_CVV}
    event = RevealEvent.objects.get()
    assert (event.outcome, event.reason, event.channel) == ("revealed", "ok", "api")


def test_the_same_assertion_sent_twice_reveals_once(authed, phone, card, client_key):
    assertion = phone.get(options_for(authed, card, client_key))
    assert reveal(authed, card, client_key, assertion).status_code == 200

    error = assert_error(reveal(authed, card, client_key, assertion), 403, "passkey_replayed")

    assert "already been used" in error["message"]


def test_an_assertion_for_one_card_cannot_reveal_another(
    authed, phone, card, alice, make_card, client_key
):
    other = make_card(alice.user, label="Savings")
    assertion = phone.get(options_for(authed, other, client_key))

    error = assert_error(reveal(authed, card, client_key, assertion), 403, "passkey_wrong_binding")

    assert "another card" in error["message"]


def test_an_assertion_for_the_apps_key_cannot_reveal_to_another_key(
    authed, phone, card, client_key
):
    assertion = phone.get(options_for(authed, card, client_key))
    stolen = make_client_key()
    assert_error(reveal(authed, card, stolen, assertion), 403, "passkey_wrong_binding")


def test_an_app_that_is_not_ours_is_refused_by_origin(authed, phone, card, client_key):
    other_app = "android:apk-key-hash:" + "A" * 43
    assertion = phone.get(options_for(authed, card, client_key), origin=other_app)
    assert_error(reveal(authed, card, client_key, assertion), 403, "passkey_wrong_origin")


def test_refusals_count_towards_the_lockout(authed, phone, card, client_key, settings):
    settings.CARDREVEAL_LOCKOUT_THRESHOLD = 2
    first = phone.get(options_for(authed, card, client_key))
    reveal(authed, card, client_key, first)
    assert_error(reveal(authed, card, client_key, first), 403, "passkey_replayed")

    response = reveal(authed, card, client_key, first)

    assert_error(response, 423, "account_locked")
    assert int(response["Retry-After"]) > 0
    # ...and a locked account is told so before a passkey is asked for.
    assert_error(challenge(authed, card, client_key), 423, "account_locked")


def test_the_reveal_needs_a_code_or_an_assertion_not_both(authed, alice, phone, card, client_key):
    response = authed.post(
        f"/api/v1/cards/{card.pk}/reveal", {"public_key": client_key.public_b64}, format="json"
    )
    assert (
        "passkey_assertion" in assert_error(response, 400, "invalid_input")["fields"]["otp_code"][0]
    )
    response = authed.post(
        f"/api/v1/cards/{card.pk}/reveal",
        {"public_key": client_key.public_b64, "otp_code": "123456", "passkey_assertion": {}},
        format="json",
    )
    assert set(assert_error(response, 400, "invalid_input")["fields"]) == {"passkey_assertion"}


def test_a_blocked_card_is_told_before_a_passkey_is_asked_for(authed, phone, card, client_key):
    card.reveal_enabled = False
    card.save()
    assert_error(challenge(authed, card, client_key), 403, "card_disabled")


def test_an_unusable_app_key_is_told_before_a_passkey_is_asked_for(authed, phone, card):
    response = authed.post(
        f"/api/v1/cards/{card.pk}/reveal/challenge", {"public_key": "bm90IGEga2V5"}, format="json"
    )
    assert_error(response, 400, "client_key_invalid")


def test_no_passkey_means_no_challenge(authed, card, client_key, settings):
    passkey_settings(settings)
    error = assert_error(challenge(authed, card, client_key), 403, "passkey_no_device")
    assert "authenticator app" in error["message"]


def test_when_passkeys_are_required_the_app_cannot_use_a_code(
    authed, alice, phone, card, client_key, clock, settings
):
    settings.CARDREVEAL_STEP_UP_POLICY = "passkey_required"
    response = authed.post(
        f"/api/v1/cards/{card.pk}/reveal",
        {"otp_code": totp_code(alice.device, clock), "public_key": client_key.public_b64},
        format="json",
    )
    assert_error(response, 403, "passkey_required")
    # The passkey still works.
    assertion = phone.get(options_for(authed, card, client_key))
    assert reveal(authed, card, client_key, assertion).status_code == 200


def test_the_well_known_files_name_the_apps(settings, db):
    settings.CARDREVEAL_ANDROID_APPS = [f"bank.example.cards:{APP_FINGERPRINT}"]
    settings.CARDREVEAL_IOS_APPS = ["ABCDE12345.bank.example.cards"]
    browser = Client()

    links = browser.get("/.well-known/assetlinks.json")
    association = browser.get("/.well-known/apple-app-site-association")

    assert links.status_code == 200
    assert links["Content-Type"] == "application/json"
    target = links.json()[0]["target"]
    assert target == {
        "namespace": "android_app",
        "package_name": "bank.example.cards",
        "sha256_cert_fingerprints": [APP_FINGERPRINT],
    }
    assert "delegate_permission/common.get_login_creds" in links.json()[0]["relation"]
    assert association.status_code == 200
    assert association["Content-Type"] == "application/json"
    assert association.json() == {"webcredentials": {"apps": ["ABCDE12345.bank.example.cards"]}}


def test_the_challenge_is_in_the_schema(schema):
    operation = schema["paths"]["/api/v1/cards/{card_id}/reveal/challenge"]["post"]
    assert {"200", "400", "403", "404", "423", "429"} <= set(operation["responses"])
    assert "bound to this card" in operation["description"]
