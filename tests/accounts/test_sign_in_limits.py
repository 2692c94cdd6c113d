"""Failed sign-ins per address and per username (issue 25): past either limit the web and admin
sign-in pages answer 429 with when to try again, whoever the username belongs to, until the
window ends. (The API door and the doors sharing one count: tests/api/test_sign_in_limits_api.py.)"""

from __future__ import annotations

import pytest
from django.test import Client

from cardreveal.accounts.lockout import account_locked_until
from cardreveal.accounts.models import AccountSecurity
from tests.conftest import totp_code

ATTACKER = "198.51.100.7"
PAUSED = "Too many failed sign-ins from this network or for this username"


def web_password(browser: Client, username: str, password: str):
    return browser.post("/accounts/login/", {"username": username, "password": password})


def admin_sign_in(browser: Client, username: str, password: str, code: str = "123456"):
    return browser.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password, "code": code, "next": "/admin/"},
    )


def assert_paused(response, *, until: str, seconds: int) -> None:
    assert response.status_code == 429
    assert int(response["Retry-After"]) == seconds
    body = response.content.decode()
    assert PAUSED in body
    assert f"Try again after {until}" in body


def test_forty_wrong_passwords_over_forty_usernames_from_one_address_are_paused(
    alice, wall_clock, caplog
):
    attacker = Client(REMOTE_ADDR=ATTACKER)
    answers = [web_password(attacker, f"user{n}", "guess-guess").status_code for n in range(40)]
    assert answers == [200] * 20 + [429] * 20  # the default: 20 failures an address
    response = web_password(attacker, "alice", alice.password)  # even a right password
    assert_paused(response, until="10:15 UTC", seconds=15 * 60)
    assert "_auth_user_id" not in attacker.session
    assert "sign-in refused: too many failed sign-ins for this address" in caplog.text
    assert ATTACKER not in caplog.text  # which limit, never the address or a username
    # alice, from her own address, is not held back by the attacker's
    assert web_password(
        Client(REMOTE_ADDR="203.0.113.20"), "alice", alice.password
    ).status_code == (302)
    wall_clock.advance(minutes=15)  # the window ends
    assert web_password(attacker, "alice", alice.password).status_code == 302


def test_the_pause_says_when_it_ends_in_the_window_it_was_reached(alice, wall_clock, settings):
    settings.CARDREVEAL_SIGN_IN_FAILURES_PER_ADDRESS = 3
    attacker = Client(REMOTE_ADDR=ATTACKER)
    wall_clock.advance(minutes=4, seconds=30)
    for n in range(3):
        web_password(attacker, f"user{n}", "guess-guess")
    assert_paused(web_password(attacker, "anyone", "x"), until="10:15 UTC", seconds=630)


def test_the_admin_sign_in_is_paused_for_an_address_too(staff, clock, wall_clock):
    _user, device = staff
    attacker = Client(REMOTE_ADDR=ATTACKER)
    for n in range(20):
        assert admin_sign_in(attacker, f"admin{n}", "guess-guess").status_code == 200
    response = admin_sign_in(attacker, "root", "pw-root-long-enough", totp_code(device, clock))
    assert_paused(response, until="10:15 UTC", seconds=15 * 60)
    device.refresh_from_db()
    assert device.last_t == -1  # the code was not looked at, so not spent
    assert attacker.get("/admin/").status_code == 302  # to the sign-in page


def test_one_username_is_paused_from_any_address_and_an_unknown_one_alike(alice, wall_clock):
    answers = {}
    for username in ("alice", "nobody"):
        for n in range(10):  # the default: 10 failures a username, here from ten addresses
            browser = Client(REMOTE_ADDR=f"192.0.2.{n + 1}")
            assert web_password(browser, username, "guess-guess").status_code == 200
        response = web_password(Client(REMOTE_ADDR="192.0.2.99"), username, "guess-guess")
        answers[username] = (response.status_code, response["Retry-After"])
        assert PAUSED in response.content.decode()
    assert answers["alice"] == answers["nobody"] == (429, str(15 * 60))
    # alice's own right password is paused too, from anywhere, until the window ends; the ten
    # failures also locked her account (30 minutes), which the page does not tell
    assert web_password(Client(), "alice", alice.password).status_code == 429
    wall_clock.advance(minutes=15)
    assert web_password(Client(), "alice", alice.password).status_code == 200
    assert web_password(Client(), "nobody", "guess-guess").status_code == 200
    wall_clock.advance(minutes=15)
    assert web_password(Client(), "alice", alice.password).status_code == 302


def test_wrong_sign_in_codes_count_and_the_code_step_is_paused_too(
    client, alice, clock, wall_clock, settings
):
    settings.CARDREVEAL_SIGN_IN_FAILURES_PER_USERNAME = 4
    assert web_password(client, "alice", alice.password).status_code == 302
    for _ in range(4):
        wrong = f"{(int(totp_code(alice.device, clock)) + 1) % 1_000_000:06d}"
        assert client.post("/accounts/verify/", {"code": wrong}).status_code == 200
        wall_clock.advance(seconds=30)
    right = totp_code(alice.device, clock)
    response = client.post("/accounts/verify/", {"code": right})
    assert response.status_code == 429
    assert PAUSED in response.content.decode()
    alice.device.refresh_from_db()
    assert alice.device.last_t == -1  # not checked, so not spent
    assert web_password(Client(), "alice", alice.password).status_code == 429


def test_an_admin_lifting_the_lock_lets_the_owner_in_at_once(alice, staff, clock, wall_clock):
    for _ in range(10):
        web_password(Client(REMOTE_ADDR=ATTACKER), "alice", "guess-guess")
    assert account_locked_until(user=alice.user) is not None
    assert web_password(Client(), "alice", alice.password).status_code == 429
    admin = Client()
    _user, device = staff
    assert admin_sign_in(
        admin, "root", "pw-root-long-enough", totp_code(device, clock)
    ).status_code == (302)
    admin.post(
        "/admin/accounts/accountsecurity/",
        {"action": "lift_lock", "_selected_action": [str(alice.user.pk)]},
    )
    assert web_password(Client(), "alice", alice.password).status_code == 302
    # the attacker's address keeps its count
    assert web_password(Client(REMOTE_ADDR=ATTACKER), "alice", "guess-guess").status_code == 200


def test_a_successful_sign_in_clears_the_usernames_count_but_not_the_addresss(
    alice, clock, wall_clock, settings
):
    settings.CARDREVEAL_SIGN_IN_FAILURES_PER_USERNAME = 3
    settings.CARDREVEAL_SIGN_IN_FAILURES_PER_ADDRESS = 5
    browser = Client(REMOTE_ADDR=ATTACKER)
    for _ in range(2):
        web_password(browser, "alice", "typo-typo")
    assert web_password(browser, "alice", alice.password).status_code == 302
    assert (
        browser.post("/accounts/verify/", {"code": totp_code(alice.device, clock)}).status_code
        == 302
    )
    browser.post("/accounts/logout/")
    for _ in range(2):  # would have been the third and fourth for alice
        assert web_password(browser, "alice", "typo-typo").status_code == 200
    assert web_password(browser, "bob", "typo-typo").status_code == 200  # the address's 5th
    assert web_password(browser, "carol", "typo-typo").status_code == 429
    assert AccountSecurity.objects.get(user=alice.user).failed_attempts == 2


@pytest.mark.parametrize("username", ["", "   "])
def test_a_missing_username_is_a_field_error_not_a_counted_failure(client, db, username):
    for _ in range(30):
        response = web_password(client, username, "x")
        assert response.status_code == 200
    assert response.context["form"].errors["username"]


def test_a_successful_admin_sign_in_clears_the_usernames_count(staff, clock, wall_clock, settings):
    settings.CARDREVEAL_SIGN_IN_FAILURES_PER_USERNAME = 3
    _user, device = staff
    for _ in range(2):
        admin_sign_in(Client(), "root", "typo-typo")
    browser = Client()
    code = totp_code(device, clock)
    assert admin_sign_in(browser, "root", "pw-root-long-enough", code).status_code == 302
    for _ in range(3):  # uncleared, the second of these would have been refused
        assert admin_sign_in(Client(), "root", "typo-typo").status_code == 200
    assert admin_sign_in(Client(), "root", "typo-typo").status_code == 429
