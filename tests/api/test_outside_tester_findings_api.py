"""What an outside tester did at the API sign-in (issue 25), redone through POST /api/v1/auth/login
(and the reveal): stored backup codes useless, two authenticators that do not fight, a replay after
drift told as a replay, a locked account answered (and timed) as an unknown one, and the failure
limits per address and per username shared with the web and admin doors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from cardreveal.accounts.models import AccountSecurity
from cardreveal.accounts.otp import replace_backup_codes
from cardreveal.audit.models import AuthEvent
from tests.accounts.test_outside_tester_findings import CountingHasher
from tests.api.conftest import assert_error, client_with, login, set_rates, token_for
from tests.conftest import totp_code

ATTACKER = "198.51.100.7"


@pytest.fixture
def api_login_throttles_lifted(settings):
    """DRF's request rates on the login endpoint set out of the way, so what answers is the
    sign-in failure limits the three doors share."""
    set_rates(settings, login_ip="100000/min", login_username="100000/min", ip="100000/min")


# ------------------------------------------------------ the stored backup-code value is no code


def test_the_stored_backup_code_value_does_not_sign_in_through_the_api(api, alice, clock):
    codes = replace_backup_codes(user=alice.user)
    stored = StaticToken.objects.filter(device__user=alice.user).values_list("token", flat=True)[0]
    assert_error(login(api, alice, clock, otp_code=stored), 400, "invalid_credentials")
    assert StaticToken.objects.filter(device__user=alice.user).count() == 10
    assert AccountSecurity.objects.get(user=alice.user).failed_attempts == 1  # a guess
    assert login(api, alice, clock, otp_code=codes[0]).status_code == 200


# ------------------------------------------------------ two authenticators do not fight


def reveal(client, card_id, code, public_key):
    return client.post(
        f"/api/v1/cards/{card_id}/reveal",
        {"otp_code": code, "public_key": public_key},
        format="json",
    )


def test_reveals_with_a_second_authenticator_never_throttle_the_first(
    alice, clock, make_card, client_key, no_throttles
):
    tablet = TOTPDevice.objects.create(user=alice.user, name="tablet", confirmed=True)
    authed = client_with(token_for(alice, clock))
    card = make_card(alice.user)
    for _ in range(5):  # each right code from the tablet is also checked against the phone
        response = reveal(authed, card.pk, totp_code(tablet, clock), client_key.public_b64)
        assert response.status_code == 200, response.content
        clock.advance(30)
    response = reveal(authed, card.pk, totp_code(alice.device, clock), client_key.public_b64)
    assert response.status_code == 200, response.content  # not 429 otp_throttled
    assert AccountSecurity.objects.get(user=alice.user).failed_attempts == 0
    assert not AuthEvent.objects.filter(event=AuthEvent.Event.OTP_FAILED).exists()


def test_a_second_authenticators_code_signs_in_through_the_api(alice, clock, api):
    tablet = TOTPDevice.objects.create(user=alice.user, name="tablet", confirmed=True)
    assert login(api, alice, clock, otp_code=totp_code(tablet, clock)).status_code == 200
    clock.advance(30)
    assert login(APIClient(), alice, clock).status_code == 200


# ------------------------------------------------------ a replay after drift is a replay


def test_a_double_submit_after_drift_is_a_replay_not_a_guess(alice, clock, api):
    clock.advance(-30)
    late = totp_code(alice.device, clock)  # the phone runs one step behind
    clock.advance(30)
    assert login(api, alice, clock, otp_code=late).status_code == 200
    assert_error(login(APIClient(), alice, clock, otp_code=late), 400, "invalid_credentials")
    replay = AuthEvent.objects.get(event=AuthEvent.Event.OTP_REPLAY_REJECTED)
    assert (replay.user, replay.reason, replay.channel) == (alice.user, "otp_replayed", "api")
    assert not AuthEvent.objects.filter(event=AuthEvent.Event.OTP_FAILED).exists()
    assert AccountSecurity.objects.get(user=alice.user).failed_attempts == 0


# ------------------------------------------------------ a locked account looks like no account


def test_a_locked_account_gets_the_answer_and_the_work_of_an_unknown_one(alice, clock, settings):
    AccountSecurity.objects.update_or_create(
        user=alice.user, defaults={"locked_until": timezone.now() + timedelta(minutes=30)}
    )
    settings.PASSWORD_HASHERS = [f"{CountingHasher.__module__}.CountingHasher"]
    seen = {}
    for label, fields in [
        ("unknown", {"username": "nobody"}),
        ("locked, wrong password", {"password": "not-her-password"}),
        ("locked, right password and code", {}),
    ]:
        CountingHasher.hashed.clear()
        response = login(APIClient(), alice, clock, **fields)
        error = assert_error(response, 400, "invalid_credentials")
        seen[label] = (error["message"], response.get("Retry-After"), len(CountingHasher.hashed))
    assert len(set(seen.values())) == 1, seen
    assert seen["unknown"][1:] == (None, 1)
    alice.device.refresh_from_db()
    assert alice.device.last_t == -1  # the right code was not looked at


# ------------------------------------------------------ one failure limit for the three doors


def test_forty_wrong_passwords_over_forty_usernames_from_one_address_get_429(
    alice, clock, api_login_throttles_lifted
):
    attacker = APIClient(REMOTE_ADDR=ATTACKER)
    statuses = [
        login(attacker, alice, clock, username=f"user{n}", password="guess-guess").status_code
        for n in range(40)
    ]
    assert statuses == [400] * 20 + [429] * 20
    response = login(attacker, alice, clock)  # even the right password and code
    error = assert_error(response, 429, "throttled")
    assert "Too many failed sign-ins from this network or for this username" in error["message"]
    assert 0 < int(response["Retry-After"]) <= 15 * 60
    alice.device.refresh_from_db()
    assert alice.device.last_t == -1  # the code was not spent
    assert login(APIClient(REMOTE_ADDR="203.0.113.20"), alice, clock).status_code == 200


def test_failures_on_the_web_and_admin_doors_count_at_the_api_door(
    alice, clock, api_login_throttles_lifted
):
    for n in range(10):
        Client(REMOTE_ADDR=ATTACKER).post(
            "/accounts/login/", {"username": f"user{n}", "password": "guess-guess"}
        )
        Client(REMOTE_ADDR=ATTACKER).post(
            "/admin/login/",
            {"username": f"admin{n}", "password": "guess-guess", "code": "123456"},
        )
    response = login(APIClient(REMOTE_ADDR=ATTACKER), alice, clock)
    assert_error(response, 429, "throttled")


def test_failures_at_the_api_door_pause_the_web_door_for_that_username(
    alice, clock, api_login_throttles_lifted
):
    for n in range(10):
        address = f"192.0.2.{n + 1}"
        response = login(APIClient(REMOTE_ADDR=address), alice, clock, password="guess-guess")
        assert_error(response, 400, "invalid_credentials")
    page = Client().post("/accounts/login/", {"username": "alice", "password": alice.password})
    assert page.status_code == 429
    assert "Retry-After" in page
