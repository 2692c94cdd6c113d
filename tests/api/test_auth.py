"""API sign-in with password and code, hashed per-device tokens, idle and absolute expiry, revocation."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django_otp.plugins.otp_totp.models import TOTPDevice

from cardreveal.accounts.otp import replace_backup_codes
from cardreveal.api.models import ApiToken
from tests.api.conftest import (
    assert_error,
    client_with,
    login,
    set_rates,
    token_for,
    wrong_code,
)
from tests.conftest import totp_code
from tests.test_no_cvv_traces import dump_database


def test_login_returns_a_device_token_stored_only_as_a_hash(api, alice, clock):
    response = login(api, alice, clock, device_name="Pixel 9")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    token = body["token"]
    assert token.startswith("crv_")
    assert len(token) == 4 + 64
    record = ApiToken.objects.get(pk=body["token_id"])
    assert record.device_name == "Pixel 9"
    assert record.user == alice.user
    assert token not in dump_database()
    assert token[15:] not in dump_database()  # not even the part after the lookup key
    assert body["expiry"].startswith(record.expiry.isoformat()[:16])


def test_login_starts_no_session(api, alice, clock):
    response = login(api, alice, clock)
    assert response.status_code == 200
    assert "sessionid" not in response.cookies
    assert not Session.objects.exists()


def test_device_name_defaults_to_the_user_agent(api, alice, clock):
    api.credentials(HTTP_USER_AGENT="CardApp/2.1 (Android 15)")
    response = login(api, alice, clock)
    assert response.status_code == 200
    assert ApiToken.objects.get().device_name == "CardApp/2.1 (Android 15)"


def test_token_authenticates_api_calls(alice_token):
    response = client_with(alice_token).get("/api/v1/cards")
    assert response.status_code == 200


def test_wrong_password_is_refused_and_the_code_is_not_spent(api, alice, clock):
    refused = login(api, alice, clock, password="not-the-password")
    assert_error(refused, 400, "invalid_credentials")
    assert "no-store" in refused["Cache-Control"]
    assert not ApiToken.objects.exists()
    # The code was never checked, so it still works with the right password.
    assert login(api, alice, clock).status_code == 200


def test_wrong_code_is_refused_with_the_same_answer_as_a_wrong_password(api, alice, clock):
    bad_code = login(api, alice, clock, otp_code=wrong_code(alice.device, clock))
    wrong_password = login(api, alice, clock, password="nope-nope-nope")
    first = assert_error(bad_code, 400, "invalid_credentials")
    second = assert_error(wrong_password, 400, "invalid_credentials")
    assert first["message"] == second["message"]
    assert not ApiToken.objects.exists()


def test_a_code_signs_in_once(api, alice, clock):
    assert login(api, alice, clock).status_code == 200
    assert_error(login(api, alice, clock), 400, "invalid_credentials")
    assert ApiToken.objects.count() == 1


def test_unknown_user_gets_the_same_answer(api, alice, clock):
    response = login(api, alice, clock, username="nobody")
    assert_error(response, 400, "invalid_credentials")


def test_inactive_user_cannot_sign_in(api, alice, clock):
    alice.user.is_active = False
    alice.user.save()
    assert_error(login(api, alice, clock), 400, "invalid_credentials")


def test_a_backup_code_signs_in_once(api, alice, clock):
    code = replace_backup_codes(user=alice.user)[0]
    assert login(api, alice, clock, otp_code=code).status_code == 200
    assert_error(login(api, alice, clock, otp_code=code), 400, "invalid_credentials")


def test_user_without_a_confirmed_authenticator_cannot_sign_in(api, alice, clock):
    TOTPDevice.objects.filter(user=alice.user).update(confirmed=False)
    assert_error(login(api, alice, clock), 400, "invalid_credentials")


def test_login_needs_every_field(api):
    response = api.post("/api/v1/auth/login", {"username": "alice"}, format="json")
    error = assert_error(response, 400, "invalid_input")
    assert set(error["fields"]) == {"password", "otp_code"}


def test_token_lapses_after_fifteen_idle_minutes(alice, clock, time_machine):
    token = token_for(alice, clock)
    client = client_with(token)
    time_machine.advance(minutes=14, seconds=59)
    assert client.get("/api/v1/cards").status_code == 200
    time_machine.advance(minutes=15, seconds=1)
    response = client.get("/api/v1/cards")
    assert_error(response, 401, "authentication_failed")
    assert response["WWW-Authenticate"] == "Bearer"
    assert not ApiToken.objects.exists()  # knox deletes the expired token


def test_use_keeps_a_token_alive_but_never_past_twelve_hours(alice, clock, time_machine):
    client = client_with(token_for(alice, clock))
    for _ in range(71):  # every 10 minutes for 11 h 50 min
        time_machine.advance(minutes=10)
        assert client.get("/api/v1/cards").status_code == 200
    time_machine.advance(minutes=9, seconds=59)  # 11:59:59 after sign-in
    assert client.get("/api/v1/cards").status_code == 200
    time_machine.advance(seconds=2)  # 12:00:01
    assert_error(client.get("/api/v1/cards"), 401, "authentication_failed")


def test_logout_revokes_only_this_devices_token(alice, clock):
    phone, tablet = token_for(alice, clock), token_for(alice, clock)
    response = client_with(phone).post("/api/v1/auth/logout")
    assert response.status_code == 204
    assert "no-store" in response["Cache-Control"]
    assert_error(client_with(phone).get("/api/v1/cards"), 401, "authentication_failed")
    assert client_with(tablet).get("/api/v1/cards").status_code == 200


def test_logout_everywhere_revokes_every_token(alice, bob, clock):
    phone, tablet = token_for(alice, clock), token_for(alice, clock)
    bobs = token_for(bob, clock)
    assert client_with(tablet).post("/api/v1/auth/logout-all").status_code == 204
    for token in (phone, tablet):
        assert_error(client_with(token).get("/api/v1/cards"), 401, "authentication_failed")
    assert client_with(bobs).get("/api/v1/cards").status_code == 200


def test_token_list_shows_devices_without_secrets(alice, bob, clock):
    phone = token_for(alice, clock, device_name="phone")
    token_for(alice, clock, device_name="tablet")
    token_for(bob, clock, device_name="bob's phone")
    response = client_with(phone).get("/api/v1/auth/tokens")
    assert response.status_code == 200
    results = response.json()["results"]
    assert sorted(r["device_name"] for r in results) == ["phone", "tablet"]
    assert [r["current"] for r in results if r["device_name"] == "phone"] == [True]
    assert [r["current"] for r in results if r["device_name"] == "tablet"] == [False]
    text = response.content.decode()
    for record in ApiToken.objects.all():
        assert record.digest not in text
        assert record.token_key not in text
    assert phone[4:] not in text


def test_a_device_can_be_signed_out_from_another(alice, clock):
    phone = token_for(alice, clock, device_name="phone")
    tablet = token_for(alice, clock, device_name="tablet")
    tablet_id = ApiToken.objects.get(device_name="tablet").pk
    response = client_with(phone).delete(f"/api/v1/auth/tokens/{tablet_id}")
    assert response.status_code == 204
    assert_error(client_with(tablet).get("/api/v1/cards"), 401, "authentication_failed")
    assert client_with(phone).get("/api/v1/cards").status_code == 200


def test_nobody_can_revoke_someone_elses_token(alice, bob, clock):
    alices = token_for(alice, clock)
    token_for(bob, clock)
    bobs_id = ApiToken.objects.get(user=bob.user).pk
    response = client_with(alices).delete(f"/api/v1/auth/tokens/{bobs_id}")
    assert_error(response, 404, "token_not_found")
    assert ApiToken.objects.filter(user=bob.user).exists()


def test_signing_in_on_an_eleventh_device_signs_out_the_oldest(alice, clock, no_throttles):
    tokens = [token_for(alice, clock, device_name=f"device {i}") for i in range(11)]
    assert ApiToken.objects.filter(user=alice.user).count() == 10
    assert not ApiToken.objects.filter(device_name="device 0").exists()
    assert_error(client_with(tokens[0]).get("/api/v1/cards"), 401, "authentication_failed")
    assert client_with(tokens[10]).get("/api/v1/cards").status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer a b",
        "Bearer crv_" + "0" * 64,
        "Bearer crv_" + "0" * 63,
        "Bearer not-a-token",
        "Bearer crv_" + "é" * 64,
    ],
)
def test_malformed_or_unknown_tokens_are_401(api, db, header):
    api.credentials(HTTP_AUTHORIZATION=header)
    response = api.get("/api/v1/cards")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_no_token_is_401_with_a_bearer_challenge(api, db):
    response = api.get("/api/v1/cards")
    error = assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Bearer"
    assert "/api/v1/auth/login" in error["message"]


def test_deactivated_users_token_stops_working(alice, clock):
    token = token_for(alice, clock)
    get_user_model().objects.filter(pk=alice.user.pk).update(is_active=False)
    assert_error(client_with(token).get("/api/v1/cards"), 401, "authentication_failed")


def test_login_is_throttled_per_address(api, alice, clock, settings):
    set_rates(settings, login_ip="3/min")
    for username in ("a", "b", "c"):
        assert login(api, alice, clock, username=username).status_code == 400
    response = login(api, alice, clock)
    error = assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    assert "seconds" in error["message"]
    assert "no-store" in response["Cache-Control"]


def test_login_is_throttled_per_username_from_any_address(alice, clock, settings):
    from rest_framework.test import APIClient

    set_rates(settings, login_username="2/min")
    for address in ("192.0.2.1", "192.0.2.2"):
        response = login(APIClient(REMOTE_ADDR=address), alice, clock, password="wrong-wrong")
        assert response.status_code == 400
    response = login(APIClient(REMOTE_ADDR="192.0.2.3"), alice, clock, username="ALICE ")
    assert_error(response, 429, "throttled")
    assert (
        login(APIClient(REMOTE_ADDR="192.0.2.3"), alice, clock, username="bob").status_code == 400
    )


def test_admin_lists_tokens_and_can_revoke_them(client, alice, clock, db):
    phone = token_for(alice, clock, device_name="alice phone")
    root = get_user_model().objects.create_superuser(
        "root", "root@example.com", "pw-root-long-enough"
    )
    device = TOTPDevice.objects.create(user=root, name="admin phone", confirmed=True)
    client.post("/accounts/login/", {"username": "root", "password": "pw-root-long-enough"})
    client.post("/accounts/verify/", {"code": totp_code(device, clock)})
    listing = client.get("/admin/api/apitoken/")
    assert listing.status_code == 200
    body = listing.content.decode()
    assert "alice phone" in body
    record = ApiToken.objects.get()
    assert record.digest not in body
    assert client.get("/admin/api/apitoken/add/").status_code == 403
    detail = client.get(f"/admin/api/apitoken/{record.pk}/change/").content.decode()
    assert "alice phone" in detail
    assert record.digest not in detail
    assert record.token_key not in detail
    response = client.post(f"/admin/api/apitoken/{record.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert_error(client_with(phone).get("/api/v1/cards"), 401, "authentication_failed")


def test_a_locked_account_gets_the_answer_an_unknown_username_gets(
    api, alice, clock, make_card, client_key
):
    from datetime import timedelta

    from django.utils import timezone

    from cardreveal.accounts.models import AccountSecurity

    token = token_for(alice, clock)
    AccountSecurity.objects.update_or_create(
        user=alice.user, defaults={"locked_until": timezone.now() + timedelta(minutes=30)}
    )
    unknown = assert_error(login(api, alice, clock, username="nobody"), 400, "invalid_credentials")
    for password in (alice.password, "wrong-wrong"):  # right or wrong: no password oracle either
        response = login(api, alice, clock, password=password)
        error = assert_error(response, 400, "invalid_credentials")
        assert error["message"] == unknown["message"]
        assert "Retry-After" not in response
    # a signed-in device is the account holder's: its reveal is told of the lock
    card = make_card(alice.user)
    reveal = client_with(token).post(
        f"/api/v1/cards/{card.pk}/reveal",
        {"otp_code": totp_code(alice.device, clock), "public_key": client_key.public_b64},
        format="json",
    )
    assert_error(reveal, 423, "account_locked")


def test_ten_wrong_codes_at_api_sign_in_lock_the_account(
    api, alice, clock, no_throttles, time_machine
):
    from cardreveal.accounts.lockout import account_locked_until

    for _ in range(10):
        time_machine.advance(minutes=5)  # past the back-off, so each code is checked
        refused = login(api, alice, clock, otp_code=wrong_code(alice.device, clock))
        # the tenth sets the lock but does not say so: that would say the password was right
        assert_error(refused, 400, "invalid_credentials")
    assert account_locked_until(user=alice.user) is not None
    assert_error(login(api, alice, clock), 400, "invalid_credentials")
