"""The admin's sign-in in one step (password and a TOTP or backup code on one form), counted
towards the per-user lockout and audited like the cardholder's code step."""

from __future__ import annotations

import pytest
from django.test import Client

from cardreveal.accounts.lockout import account_locked_until
from cardreveal.accounts.models import AccountSecurity
from cardreveal.accounts.otp import replace_backup_codes
from cardreveal.audit.models import AuthEvent
from tests.conftest import totp_code

PASSWORD = "pw-root-long-enough"


@pytest.fixture(autouse=True)
def _sign_in_limits_out_of_the_way(settings):
    """These tests are about the code and the per-user lock: the per-address and per-username
    sign-in limits (tests/accounts/test_sign_in_limits.py) are set too high to step in."""
    settings.CARDREVEAL_SIGN_IN_FAILURES_PER_ADDRESS = 1000
    settings.CARDREVEAL_SIGN_IN_FAILURES_PER_USERNAME = 1000


def admin_sign_in(browser: Client, code: str, *, password: str = PASSWORD, username: str = "root"):
    return browser.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password, "code": code, "next": "/admin/"},
    )


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def opens_the_admin(browser: Client) -> bool:
    return browser.get("/admin/").status_code == 200


def test_the_admin_sign_in_page_asks_for_password_and_code_together(client, db):
    body = client.get("/admin/login/").content.decode()
    assert 'name="password"' in body
    assert 'name="code"' in body
    assert "or one of your backup codes" in body
    assert "otp_device" not in body  # no "choose a device" round trip
    assert "otp_challenge" not in body


def test_staff_signs_in_with_password_and_a_totp_code_in_one_step(client, staff, clock):
    _user, device = staff
    response = admin_sign_in(client, totp_code(device, clock))
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert opens_the_admin(client)


def test_staff_signs_in_with_a_backup_code_and_it_is_spent(client, staff, wall_clock):
    user, _device = staff
    codes = replace_backup_codes(user=user)
    assert admin_sign_in(client, codes[0].upper()).status_code == 302
    assert opens_the_admin(client)
    client.post("/admin/logout/")
    again = Client()
    wall_clock.advance(minutes=5)
    response = admin_sign_in(again, codes[0])
    assert response.status_code == 200
    assert "That code is not correct" in response.content.decode()
    assert not opens_the_admin(again)
    wall_clock.advance(minutes=1)  # past django-otp's back-off after that wrong code
    assert admin_sign_in(again, codes[1]).status_code == 302


def test_a_wrong_code_is_refused_counted_and_audited_like_a_cardholders(
    client, staff, clock, wall_clock
):
    user, device = staff
    response = admin_sign_in(client, wrong(totp_code(device, clock)))
    assert response.status_code == 200
    assert "That code is not correct" in response.content.decode()
    assert not opens_the_admin(client)
    assert AccountSecurity.objects.get(user=user).failed_attempts == 1
    event = AuthEvent.objects.get(event=AuthEvent.Event.OTP_FAILED)
    assert (event.user, event.reason, event.channel, event.resource) == (
        user,
        "otp_invalid",
        "admin",
        "step:sign_in",
    )


def test_ten_wrong_codes_lock_the_staff_account_and_say_until_when(
    client, staff, clock, wall_clock
):
    user, device = staff
    for _ in range(9):
        response = admin_sign_in(client, wrong(totp_code(device, clock)))
        assert "That code is not correct" in response.content.decode()
        wall_clock.advance(minutes=5)  # past django-otp's per-device back-off
    assert account_locked_until(user=user) is None
    response = admin_sign_in(client, wrong(totp_code(device, clock)))
    assert "this account is locked until 11:15 UTC" in response.content.decode()
    assert account_locked_until(user=user) is not None
    locked = AuthEvent.objects.get(event=AuthEvent.Event.ACCOUNT_LOCKED)
    assert (locked.user, locked.reason, locked.channel) == (user, "too_many_otp_failures", "admin")


def test_a_locked_staff_account_is_refused_even_with_the_right_password_and_code(
    client, staff, clock, wall_clock
):
    _user, device = staff
    for _ in range(10):
        admin_sign_in(client, wrong(totp_code(device, clock)))
        wall_clock.advance(minutes=5)
    response = admin_sign_in(Client(), totp_code(device, clock))
    assert response.status_code == 200
    body = response.content.decode()
    # as for a wrong password: the page tells nobody of the lock (the admin is emailed)
    assert "Please enter the correct username and password" in body
    assert "locked" not in body
    device.refresh_from_db()
    assert device.last_t == -1  # the right code was not even checked, so not spent
    wall_clock.advance(minutes=30)
    browser = Client()
    assert admin_sign_in(browser, totp_code(device, clock)).status_code == 302
    assert opens_the_admin(browser)


def test_a_wrong_password_is_refused_before_the_code_is_looked_at(client, staff, clock):
    user, device = staff
    response = admin_sign_in(client, totp_code(device, clock), password="not-the-password")
    assert "Please enter the correct username and password" in response.content.decode()
    device.refresh_from_db()
    assert device.last_t == -1  # the code is still unused
    assert AccountSecurity.objects.get(user=user).failed_attempts == 1  # the password counted
    assert not AuthEvent.objects.filter(event=AuthEvent.Event.OTP_FAILED).exists()


def test_a_cardholder_cannot_sign_in_to_the_admin_with_a_right_code(client, alice, clock):
    response = admin_sign_in(
        client, totp_code(alice.device, clock), username="alice", password=alice.password
    )
    assert response.status_code == 200
    assert "for a staff account" in response.content.decode()
    alice.device.refresh_from_db()
    assert alice.device.last_t == -1
    assert not opens_the_admin(client)


def test_a_code_used_a_moment_ago_is_refused_as_used(client, staff, clock):
    _user, device = staff
    code = totp_code(device, clock)
    assert admin_sign_in(client, code).status_code == 302
    response = admin_sign_in(Client(), code)
    assert "That code was already used" in response.content.decode()


def test_a_code_typed_during_the_back_off_says_how_long_to_wait(client, staff, clock, wall_clock):
    user, device = staff
    for _ in range(3):  # two wrong codes cost no wait; the third, 4 seconds
        admin_sign_in(client, wrong(totp_code(device, clock)))
        wall_clock.advance(seconds=3)
    wall_clock.advance(seconds=-3)
    response = admin_sign_in(client, totp_code(device, clock))
    assert "Wait 4 seconds, then try again." in response.content.decode()
    assert AccountSecurity.objects.get(user=user).failed_attempts == 3  # not counted
    wall_clock.advance(seconds=4)
    assert admin_sign_in(client, totp_code(device, clock)).status_code == 302


def test_staff_without_an_authenticator_is_told_where_to_set_one_up(client, db, wall_clock):
    from django.contrib.auth.models import User

    User.objects.create_superuser("newadmin", "new@example.com", PASSWORD)
    response = admin_sign_in(client, "123456", username="newadmin")
    assert "no authenticator yet. Sign in once at /accounts/login/" in response.content.decode()
    assert not AccountSecurity.objects.filter(failed_attempts__gt=0).exists()  # no guess counted
    # the way in that the message names: the cardholder sign-in enrols an authenticator
    assert (
        client.post("/accounts/login/", {"username": "newadmin", "password": PASSWORD}).status_code
        == 302
    )
    assert client.get("/accounts/verify/")["Location"].startswith("/accounts/enrol/")


@pytest.mark.parametrize("code", ["", "   "])
def test_a_missing_code_asks_for_it_and_counts_nothing(client, staff, code):
    user, _device = staff
    response = admin_sign_in(client, code)
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not AccountSecurity.objects.filter(user=user, failed_attempts__gt=0).exists()
