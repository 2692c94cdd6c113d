"""The cardholder's OTP devices over the API: list them, enrol another authenticator, confirm it."""

from __future__ import annotations

from base64 import b32decode

import pytest
from django.core import mail
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from cardreveal.accounts.otp import replace_backup_codes
from tests.api.conftest import assert_error, client_with, token_for, wrong_code
from tests.conftest import totp_code


def code_for_secret(secret: str, clock) -> str:
    totp = TOTP(b32decode(secret), 30, 0, 6, 0)
    totp.time = clock.now
    return f"{totp.token():06d}"


def enrol(client, holder, clock, **fields):
    body = {
        "password": holder.password,
        "otp_code": totp_code(holder.device, clock),
        "name": "New phone",
    }
    return client.post("/api/v1/otp-devices/totp", {**body, **fields}, format="json")


def test_device_list_shows_authenticators_and_backup_codes_without_secrets(authed, alice):
    codes = replace_backup_codes(user=alice.user)
    response = authed.get("/api/v1/otp-devices")
    assert response.status_code == 200
    results = response.json()["results"]
    assert [(d["type"], d["name"], d["confirmed"]) for d in results] == [
        ("totp", "phone", True),
        ("backup_codes", "Backup codes", True),
    ]
    assert results[1]["remaining_codes"] == 10
    assert results[0]["remaining_codes"] is None
    text = response.content.decode()
    assert alice.device.key not in text
    assert all(code not in text for code in codes)


def test_device_list_is_the_users_own(authed, bob):
    names = [d["name"] for d in authed.get("/api/v1/otp-devices").json()["results"]]
    assert names == ["phone"]  # bob's "phone" device is not listed twice
    assert TOTPDevice.objects.filter(user=bob.user).exists()


def test_enrolment_shows_the_key_once_and_confirming_makes_it_count(
    authed, alice, clock, django_capture_on_commit_callbacks
):
    response = enrol(authed, alice, clock)
    assert response.status_code == 201, response.content
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert body["confirmed"] is False
    assert body["otpauth_uri"].startswith("otpauth://totp/")
    assert f"secret={body['secret']}" in body["otpauth_uri"]
    listed = authed.get("/api/v1/otp-devices").json()["results"]
    assert [(d["name"], d["confirmed"]) for d in listed] == [("phone", True), ("New phone", False)]
    assert body["secret"] not in authed.get("/api/v1/otp-devices").content.decode()

    clock.advance(30)
    with django_capture_on_commit_callbacks(execute=True):
        confirmed = authed.post(
            f"/api/v1/otp-devices/totp/{body['id']}/confirm",
            {"otp_code": code_for_secret(body["secret"], clock)},
            format="json",
        )
    assert confirmed.status_code == 200, confirmed.content
    assert confirmed.json()["confirmed"] is True
    assert confirmed.json()["name"] == "New phone"
    assert TOTPDevice.objects.get(pk=body["id"]).confirmed
    # The cardholder is told by email, as for a web enrolment.
    assert [m.to for m in mail.outbox if "authenticator" in m.subject.lower()] == [
        ["alice@example.com"]
    ]


def test_a_new_authenticator_pauses_reveals_as_on_the_web(
    authed, alice, make_card, clock, client_key
):
    card = make_card(alice.user)
    body = enrol(authed, alice, clock).json()
    clock.advance(30)
    authed.post(
        f"/api/v1/otp-devices/totp/{body['id']}/confirm",
        {"otp_code": code_for_secret(body["secret"], clock)},
        format="json",
    )
    clock.advance(30)
    response = authed.post(
        f"/api/v1/cards/{card.pk}/reveal",
        {"otp_code": totp_code(alice.device, clock), "public_key": client_key.public_b64},
        format="json",
    )
    assert_error(response, 403, "reveal_cooloff")
    assert int(response["Retry-After"]) > 0


def test_the_new_authenticator_can_sign_in(api, authed, alice, clock):
    body = enrol(authed, alice, clock).json()
    clock.advance(30)
    code = code_for_secret(body["secret"], clock)
    authed.post(f"/api/v1/otp-devices/totp/{body['id']}/confirm", {"otp_code": code}, format="json")
    clock.advance(30)
    response = api.post(
        "/api/v1/auth/login",
        {
            "username": "alice",
            "password": alice.password,
            "otp_code": code_for_secret(body["secret"], clock),
        },
        format="json",
    )
    assert response.status_code == 200


def test_enrolment_needs_the_password(authed, alice, clock):
    response = enrol(authed, alice, clock, password="not-my-password")
    assert_error(response, 403, "reauthentication_failed")
    assert TOTPDevice.objects.filter(user=alice.user).count() == 1


def test_enrolment_needs_a_fresh_code(authed, alice, clock):
    response = enrol(authed, alice, clock, otp_code=wrong_code(alice.device, clock))
    assert_error(response, 403, "reauthentication_failed")
    assert TOTPDevice.objects.filter(user=alice.user).count() == 1


def test_enrolment_code_cannot_be_reused(authed, alice, clock):
    code = totp_code(alice.device, clock)
    assert enrol(authed, alice, clock, otp_code=code).status_code == 201
    assert_error(enrol(authed, alice, clock, otp_code=code), 403, "reauthentication_failed")


def test_enrolling_again_discards_the_unconfirmed_authenticator(authed, alice, clock):
    first = enrol(authed, alice, clock).json()
    clock.advance(30)
    second = enrol(authed, alice, clock, name="Other phone").json()
    assert first["secret"] != second["secret"]
    assert not TOTPDevice.objects.filter(pk=first["id"]).exists()
    clock.advance(30)
    response = authed.post(
        f"/api/v1/otp-devices/totp/{first['id']}/confirm",
        {"otp_code": code_for_secret(first["secret"], clock)},
        format="json",
    )
    assert_error(response, 404, "device_not_found")


def test_a_wrong_confirmation_code_is_refused(authed, alice, clock):
    body = enrol(authed, alice, clock).json()
    device = TOTPDevice.objects.get(pk=body["id"])
    response = authed.post(
        f"/api/v1/otp-devices/totp/{body['id']}/confirm",
        {"otp_code": wrong_code(device, clock)},
        format="json",
    )
    assert_error(response, 400, "otp_invalid")
    device.refresh_from_db()
    assert not device.confirmed


def test_nobody_can_confirm_someone_elses_authenticator(authed, alice, bob, clock):
    bobs = client_with(token_for(bob, clock))
    body = enrol(bobs, bob, clock).json()
    clock.advance(30)
    response = authed.post(
        f"/api/v1/otp-devices/totp/{body['id']}/confirm",
        {"otp_code": code_for_secret(body["secret"], clock)},
        format="json",
    )
    assert_error(response, 404, "device_not_found")
    assert not TOTPDevice.objects.get(pk=body["id"]).confirmed


def test_a_confirmed_authenticator_cannot_be_confirmed_again(authed, alice, clock):
    response = authed.post(
        f"/api/v1/otp-devices/totp/{alice.device.pk}/confirm",
        {"otp_code": totp_code(alice.device, clock)},
        format="json",
    )
    assert_error(response, 404, "device_not_found")


def test_at_most_five_authenticators(authed, alice, clock):
    for i in range(4):
        TOTPDevice.objects.create(user=alice.user, name=f"extra {i}", confirmed=True)
    response = enrol(authed, alice, clock)
    assert_error(response, 409, "too_many_authenticators")


def test_enrolment_is_throttled(authed, alice, clock, settings):
    from tests.api.conftest import set_rates

    set_rates(settings, otp_user="1/min")
    enrol(authed, alice, clock, password="wrong-wrong-wrong")
    assert_error(enrol(authed, alice, clock), 429, "throttled")


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"password", "otp_code", "name"}),
        ({"password": "x", "otp_code": "123456", "name": "n" * 65}, {"name"}),
    ],
)
def test_enrolment_input_is_checked(authed, body, fields):
    response = authed.post("/api/v1/otp-devices/totp", body, format="json")
    assert set(assert_error(response, 400, "invalid_input")["fields"]) == fields
